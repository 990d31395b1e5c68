"""Six splits; split 3 fails while the file ``broken`` exists. Every execution
of a step appends its name (and split) to ``executions.txt``."""

import os

from metaflow_core import FlowSpec, step


def note(what):
    with open("executions.txt", "a") as f:
        f.write(what + "\n")


class ResumeSplitsFlow(FlowSpec):
    @step
    def start(self):
        note("start")
        self.items = list(range(6))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        note("work %d" % self.input)
        if self.input == 3 and os.path.exists("broken"):
            raise ValueError("split 3 fails")
        self.out = self.input * 10
        self.next(self.join)

    @step
    def join(self, inputs):
        note("join")
        self.outs = [inp.out for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        note("end")


if __name__ == "__main__":
    ResumeSplitsFlow()
