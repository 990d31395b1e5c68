"""A foreach of $SPLITS (default 6) splits for the signal and output fault tests.

Split i writes ``started-i`` in $MARK_DIR, starts a ``sleep`` child (so a
stopped task has a process tree), prints $CHATTY lines of output (split $ESCAPE also starts a child in a session
of its own, which keeps the task's output open, and hangs), and, unless
$FAST is 1, waits 0.4 * i seconds, so the splits finish one after another and
a test can strike at any point. ``out`` is i * i; the join gathers them.
"""

import os
import subprocess
import time

from metaflow_core import FlowSpec, step


class FaultsSignalsFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(int(os.environ.get("SPLITS", "6"))))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        mark = os.environ["MARK_DIR"]
        with open(os.path.join(mark, "started-%d" % self.input), "w") as f:
            f.write(str(os.getpid()))
        child = subprocess.Popen(["sleep", "307.5"])
        if os.environ.get("ESCAPE") == str(self.input):
            # A child that leaves the task's session, holding its output open.
            escaped = subprocess.Popen(["sleep", "309.5"], start_new_session=True)
            with open(os.path.join(mark, "escaped"), "w") as f:
                f.write("%d %d" % (os.getpid(), escaped.pid))
            time.sleep(300)
        line = "split %d says hello %s" % (self.input, "x" * 200)
        for _ in range(int(os.environ.get("CHATTY", "0"))):
            print(line)
        if os.environ.get("FAST") != "1":
            time.sleep(0.4 * self.input)
        child.kill()
        child.wait()
        self.out = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = sorted(inp.out for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FaultsSignalsFlow()
