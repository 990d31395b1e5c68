"""A flow both engines run: ours when metaflow_core is importable, else Netflix's metaflow."""

try:
    from metaflow_core import FlowSpec, Parameter, step
except ImportError:
    from metaflow import FlowSpec, Parameter, step


class SharedFlow(FlowSpec):
    offset = Parameter("offset", help="Added to each number.", default=0)

    @step
    def start(self):
        self.numbers = [n + self.offset for n in (1, 2, 3)]
        self.next(self.square, foreach="numbers")

    @step
    def square(self):
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    SharedFlow()
