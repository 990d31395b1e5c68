"""A step that fails on its first attempt, with no decorator of its own."""

from metaflow_core import FlowSpec, current, step


class FlakyFlow(FlowSpec):
    @step
    def start(self):
        print("attempt %d" % current.retry_count)
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails")
        self.succeeded_on = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FlakyFlow()
