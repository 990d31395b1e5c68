"""Sets an artifact named like one of its steps, which would hide the step."""

from metaflow_core import FlowSpec, step


class ShadowFlow(FlowSpec):
    @step
    def start(self):
        self.work = [1, 2]
        self.next(self.work)

    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ShadowFlow()
