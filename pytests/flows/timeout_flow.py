"""@timeout: a step that sleeps past its limit."""

import time

from metaflow_core import FlowSpec, step, timeout


class TimeoutFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.sleepy)

    @timeout(seconds=1)
    @step
    def sleepy(self):
        time.sleep(30)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TimeoutFlow()
