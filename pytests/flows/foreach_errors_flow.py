"""A foreach whose artifact is empty, missing or not iterable, chosen by ``kind``."""

from metaflow_core import FlowSpec, Parameter, step


class ForeachErrorFlow(FlowSpec):
    kind = Parameter("kind", default="empty")

    @step
    def start(self):
        if self.kind == "empty":
            self.items = []
        elif self.kind == "notiterable":
            self.items = 5
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachErrorFlow()
