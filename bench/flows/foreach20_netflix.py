"""A 20-way foreach of trivial steps: start -> 20 x square -> join -> end (23 tasks).

The same flow as foreach20_core.py but for the import; bench/foreach_bench.py times both.
"""

from metaflow import FlowSpec, step


class Foreach20Flow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(20))
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total=%d" % self.total)


if __name__ == "__main__":
    Foreach20Flow()
