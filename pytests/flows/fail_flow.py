"""A flow whose middle step raises."""

from metaflow_core import FlowSpec, step


class FailFlow(FlowSpec):
    @step
    def start(self):
        self.before = "ok"
        self.next(self.boom)

    @step
    def boom(self):
        self.partial = "set before the error"
        raise ValueError("boom in the boom step")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailFlow()
