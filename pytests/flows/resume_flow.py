"""A foreach whose split 1 fails while $RESUME_FAIL is 1; for resume."""

import os
import time

from metaflow_core import FlowSpec, current, step


class ResumeFlow(FlowSpec):
    @step
    def start(self):
        print("starting the splits")
        self.items = [0, 1, 2]
        self.start_stamp = time.time_ns()
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 1 and os.environ.get("RESUME_FAIL") == "1":
            # Fail only once the other splits are done, so that they are the
            # ones resume clones, however the machine schedules the tasks.
            deadline = time.time() + 30
            while time.time() < deadline and not all(
                    os.path.exists("split-%d.done" % i) for i in (0, 2)):
                time.sleep(0.05)
            time.sleep(0.5)
            raise ValueError("split 1 fails")
        print("working on %d" % self.input)
        self.out = self.input * 10
        self.stamp = time.time_ns()
        self.origin_in_work = current.origin_run_id
        open("split-%d.done" % self.input, "w").close()
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
