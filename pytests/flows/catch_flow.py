"""@catch(var="err"): the exception is stored and the run goes on."""

from metaflow_core import FlowSpec, catch, step


class CatchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.risky)

    @catch(var="err")
    @step
    def risky(self):
        raise ValueError("caught me")
        self.next(self.end)

    @step
    def end(self):
        self.err_text = str(self.err)


if __name__ == "__main__":
    CatchFlow()
