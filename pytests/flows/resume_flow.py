"""A foreach whose split 1 fails while $RESUME_FAIL is 1; for resume."""

import os
import time

from metaflow_core import FlowSpec, current, step


class ResumeFlow(FlowSpec):
    @step
    def start(self):
        self.items = [0, 1, 2]
        self.start_stamp = time.time_ns()
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 1 and os.environ.get("RESUME_FAIL") == "1":
            raise ValueError("split 1 fails")
        self.out = self.input * 10
        self.stamp = time.time_ns()
        self.origin_in_work = current.origin_run_id
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = [inp.out for inp in inputs]
        self.join_stamp = time.time_ns()
        self.next(self.end)

    @step
    def end(self):
        self.origin_in_end = current.origin_run_id
        self.run_in_end = current.run_id


if __name__ == "__main__":
    ResumeFlow()
