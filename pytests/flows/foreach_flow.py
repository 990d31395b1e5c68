"""A foreach over ``num`` items, squared and summed."""

from metaflow_core import FlowSpec, Parameter, step


class ForeachFlow(FlowSpec):
    num = Parameter("num", default=3, help="Number of items")

    @step
    def start(self):
        self.items = list(range(self.num))
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input ** 2
        self.position = self.index
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [inp.value for inp in inputs]
        self.positions = [inp.position for inp in inputs]
        self.total = sum(self.values)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachFlow()
