"""Two levels of foreach: letters outside, numbers inside."""

from metaflow_core import FlowSpec, step


class NestedForeachFlow(FlowSpec):
    @step
    def start(self):
        self.letters = ["a", "b"]
        self.next(self.outer, foreach="letters")

    @step
    def outer(self):
        self.letter = self.input
        self.outer_index = self.index
        self.numbers = [1, 2, 3]
        self.next(self.inner, foreach="numbers")

    @step
    def inner(self):
        self.stack = self.foreach_stack()
        self.inner_index = self.index
        self.inner_input = self.input
        self.label = "%s%d" % (self.letter, self.input)
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.labels = [inp.label for inp in inputs]
        self.stacks = [inp.stack for inp in inputs]
        self.inner_indices = [inp.inner_index for inp in inputs]
        self.inner_inputs = [inp.inner_input for inp in inputs]
        self.after_inner_join = self.foreach_stack()
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.all_labels = [inp.labels for inp in inputs]
        self.all_stacks = [inp.stacks for inp in inputs]
        self.all_inner_indices = [inp.inner_indices for inp in inputs]
        self.all_inner_inputs = [inp.inner_inputs for inp in inputs]
        self.after_inner_joins = [inp.after_inner_join for inp in inputs]
        self.after_outer_join = self.foreach_stack()
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NestedForeachFlow()
