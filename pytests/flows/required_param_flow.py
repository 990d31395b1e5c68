"""A required parameter without a default."""

from metaflow_core import FlowSpec, Parameter, step


class RequiredParamFlow(FlowSpec):
    who = Parameter("who", required=True, help="Whom to greet")

    @step
    def start(self):
        self.greeting = "hello " + self.who
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RequiredParamFlow()
