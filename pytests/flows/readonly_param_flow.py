"""A step that tries to assign to a parameter."""

from metaflow_core import FlowSpec, Parameter, step


class ReadOnlyParamFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5)

    @step
    def start(self):
        self.alpha = 2.0
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ReadOnlyParamFlow()
