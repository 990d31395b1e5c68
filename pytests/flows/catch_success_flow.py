"""@catch(var="err") on a step that succeeds: err is None, as in Metaflow."""

from metaflow_core import FlowSpec, catch, step


class CatchSuccessFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.safe)

    @catch(var="err")
    @step
    def safe(self):
        self.value = 1
        self.next(self.end)

    @step
    def end(self):
        self.err_was_none = self.err is None


if __name__ == "__main__":
    CatchSuccessFlow()
