"""A foreach whose splits 2 and 3 hang (with a child process) while $HANG is 1.

Every execution of a split appends a line to ``ran-<index>`` in $PID_DIR; a
hanging split writes its pid and its child's to ``<index>.pids``. For resume
after the runtime itself was killed.
"""

import os
import subprocess
import time

from metaflow_core import FlowSpec, step


class KilledRuntimeFlow(FlowSpec):
    @step
    def start(self):
        self.items = [0, 1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        pid_dir = os.environ["PID_DIR"]
        with open(os.path.join(pid_dir, "ran-%d" % self.input), "a") as f:
            f.write("%d\n" % os.getpid())
        if self.input >= 2 and os.environ.get("HANG") == "1":
            child = subprocess.Popen(["sleep", "300"])
            path = os.path.join(pid_dir, "%d.pids" % self.input)
            with open(path + ".tmp", "w") as f:
                f.write("%d %d" % (os.getpid(), child.pid))
            os.replace(path + ".tmp", path)
            time.sleep(300)
        self.out = self.input * 10
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = sorted(inp.out for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KilledRuntimeFlow()
