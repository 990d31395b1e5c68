"""Cards of a run: components, a foreach, a failing last step, a card with an id."""

from metaflow_core import FlowSpec, Parameter, card, current, step
from metaflow_core.cards import Artifact, Image, Markdown, Table

# A 1x1 PNG.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e3ba7a3c0000000049454e44ae426082")


class CardFlow(FlowSpec):
    greeting = Parameter("greeting", default="hello <world>")

    @card
    @step
    def start(self):
        self.values = [1.23456, 2.5, 3]
        current.card.append(Markdown("# Report\nSome **bold** text.\n\n- one\n- two"))
        current.card.append(Table([[1, 2.34567], [3, None]], headers=["a", "b"], digits=2))
        current.card.append(Table([[i, i * i] for i in range(40)], headers=["i", "square"]))
        current.card.append(Image(PIXEL, label="a pixel"))
        current.card.append(Artifact("values"))
        current.card.append(Artifact("missing"))
        current.card.append("not a component")
        self.next(self.fan, foreach="values")

    @step
    def fan(self):
        self.doubled = self.input * 2
        self.next(self.join)

    @card(id="summary", type="blank")
    @step
    def join(self, inputs):
        self.total = sum(i.doubled for i in inputs)
        current.card["summary"].append(Markdown("Total: %s" % self.total))
        current.card["other"].append(Markdown("dropped"))
        self.next(self.end)

    @card
    @step
    def end(self):
        self.before_error = 1
        raise ValueError("the end is broken")


if __name__ == "__main__":
    CardFlow()
