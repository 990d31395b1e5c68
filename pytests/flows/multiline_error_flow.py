"""A step that fails with an error of several lines."""

from metaflow_core import FlowSpec, step


class MultiLineErrorFlow(FlowSpec):
    @step
    def start(self):
        raise ValueError("the first line\nthe second line names clash\nthe third line")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MultiLineErrorFlow()
