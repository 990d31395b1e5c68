"""Artifacts whose blobs the fault tests damage: a total, a parameter, a list.

With $BLOB_FAULTS_GATE set, ``middle`` writes ``middle.waiting`` and waits for
that file to exist before it reads ``total``: the test damages the blob of
``start``'s total in between. ``@retry`` shows that a damaged input is not
retried: no attempt can repair it.
"""

import os
import time

from metaflow_core import FlowSpec, Parameter, retry, step


class BlobFaultsFlow(FlowSpec):
    alpha = Parameter("alpha", default=1, help="What total is multiplied by")

    @step
    def start(self):
        self.total = 2100000
        self.label = "intact"
        self.items = [1, 2]
        self.next(self.middle)

    @retry(times=2, minutes_between_retries=0)
    @step
    def middle(self):
        gate = os.environ.get("BLOB_FAULTS_GATE")
        if gate:
            open("middle.waiting", "w").close()
            deadline = time.time() + 60
            while not os.path.exists(gate) and time.time() < deadline:
                time.sleep(0.05)
        self.scaled = self.total * self.alpha + 1
        self.next(self.end)

    @step
    def end(self):
        print("TOTAL %d" % self.total)
        self.final = self.scaled + sum(self.items)


if __name__ == "__main__":
    BlobFaultsFlow()
