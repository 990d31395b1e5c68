"""merge_artifacts in a join, the call chosen by ``mode``."""

from metaflow_core import FlowSpec, Parameter, step


class MergeFlow(FlowSpec):
    mode = Parameter("mode", default="plain")

    @step
    def start(self):
        self.common = "same"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.only_a = "from a"
        self.clash = "a"
        self.next(self.join)

    @step
    def b(self):
        self.only_b = "from b"
        self.clash = "b"
        self.next(self.join)

    @step
    def join(self, inputs):
        if self.mode == "plain":
            self.clash = "resolved"
            self.merge_artifacts(inputs)
        elif self.mode == "include":
            self.merge_artifacts(inputs, include=["only_a", "common"])
        elif self.mode == "exclude":
            self.merge_artifacts(inputs, exclude=["clash"])
        elif self.mode == "missing":
            self.merge_artifacts(inputs, include=["nowhere"])
        else:
            self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MergeFlow()
