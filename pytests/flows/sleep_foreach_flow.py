"""A foreach whose tasks write their pid to $PID_DIR, say so, and then sleep."""

import os
import time

from metaflow_core import FlowSpec, Parameter, step


class SleepForeachFlow(FlowSpec):
    num = Parameter("num", default=3)
    seconds = Parameter("seconds", default=60.0)

    @step
    def start(self):
        self.items = list(range(self.num))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        path = os.path.join(os.environ["PID_DIR"], "%d.pid" % self.index)
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(path + ".tmp", path)
        print("working on %d" % self.index, flush=True)
        time.sleep(self.seconds)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SleepForeachFlow()
