"""A foreach whose split 0 fails fast while split 1 sleeps; the rest wait for a worker."""

import os
import time

from metaflow_core import FlowSpec, Parameter, step


class SiblingFailsFlow(FlowSpec):
    seconds = Parameter("seconds", default=30.0)

    @step
    def start(self):
        self.items = list(range(4))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.index == 0:
            # Long enough for the sibling to have started when this one fails.
            time.sleep(2)
            raise ValueError("split 0 failed")
        print("sleeping in split %d (pid %d)" % (self.index, os.getpid()), flush=True)
        time.sleep(self.seconds)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SiblingFailsFlow()
