"""The smallest flow with a fan-out: square each item in parallel, then sum.

    python hello_flow.py run
    python -c 'from metaflow_core import Flow; print(Flow("HelloFlow").latest_run.data.total)'
"""
from metaflow_core import FlowSpec, step


class HelloFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3, 4]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input ** 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(task.value for task in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    HelloFlow()
