"""A static split into two branches and their join."""

from metaflow_core import FlowSpec, step


class BranchFlow(FlowSpec):
    @step
    def start(self):
        self.x = 0
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.from_a = inputs.a.x
        self.from_b = inputs["b"].x
        self.by_iteration = sorted(inp.x for inp in inputs)
        self.num_inputs = len(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BranchFlow()
