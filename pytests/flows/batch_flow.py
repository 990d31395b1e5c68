"""A flow whose middle step runs on AWS Batch (pytests/test_batch.py)."""

import os

from metaflow_core import FlowSpec, Parameter, batch, environment, resources, step


class BatchFlow(FlowSpec):
    alpha = Parameter("alpha", default=3)

    @step
    def start(self):
        self.numbers = [1, 2]
        self.next(self.train)

    @batch(cpu=2, memory=3000, image="example/metaflow:1")
    @resources(memory=5000)
    @environment(vars={"GREETING": "hello from the job"})
    @step
    def train(self):
        self.total = sum(self.numbers) * self.alpha
        self.where = os.path.abspath(__file__)
        self.cwd = os.getcwd()
        print("%s: total %d" % (os.environ["GREETING"], self.total))
        self.next(self.end)

    @step
    def end(self):
        print("end", self.total)


if __name__ == "__main__":
    BatchFlow()
