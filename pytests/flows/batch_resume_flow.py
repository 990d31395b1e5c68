"""A batch step that fails in a new run and succeeds when the run is resumed."""

from metaflow_core import FlowSpec, batch, current, step


class BatchResumeFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.train)

    @batch(image="example/metaflow:1")
    @step
    def train(self):
        if current.origin_run_id is None:
            raise RuntimeError("fails until resumed")
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        print("y is", self.y)


if __name__ == "__main__":
    BatchResumeFlow()
