"""A card that can't render within its timeout: an artifact preview that takes too long."""

import time

from metaflow_core import FlowSpec, card, step


class Slow(object):
    def __repr__(self):
        time.sleep(5)
        return "slow"


class CardTimeoutFlow(FlowSpec):
    @card(timeout=1)
    @step
    def start(self):
        self.slow = Slow()
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardTimeoutFlow()
