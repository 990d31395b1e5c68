"""One parameter of each type; ``start`` stores what it received."""

from metaflow_core import FlowSpec, JSONType, Parameter, current, step


def computed_default(context):
    return "%s/%s" % (context.flow_name, context.parameter_name)


class ParamsFlow(FlowSpec):
    text = Parameter("text", default="hello", help="Some text to carry")
    count = Parameter("count", default=3, help="How many things")
    alpha = Parameter("alpha", default=0.5, help="Learning rate")
    flag = Parameter("flag", default=False, help="A boolean switch")
    quick = Parameter("quick", is_flag=True, help="A flag without a default")
    sizes = Parameter("sizes", type=int, separator=",", default="1,2", help="Whole numbers")
    ratios = Parameter("ratios", type=float, separator=",", default="0.5,0.25", help="Numbers")
    config = Parameter("config", type=JSONType, default='{"depth": 2}', help="JSON settings")
    computed = Parameter("computed", default=computed_default, help="Computed at run time")

    @step
    def start(self):
        self.received = {
            "text": self.text,
            "count": self.count,
            "alpha": self.alpha,
            "flag": self.flag,
            "quick": self.quick,
            "sizes": self.sizes,
            "ratios": self.ratios,
            "config": self.config,
            "computed": self.computed,
        }
        self.types = {name: type(value).__name__ for name, value in self.received.items()}
        self.item_types = {name: [type(v).__name__ for v in self.received[name]]
                           for name in ("sizes", "ratios")}
        self.parameter_names = sorted(current.parameter_names)
        self.next(self.end)

    @step
    def end(self):
        self.alpha_in_end = self.alpha


if __name__ == "__main__":
    ParamsFlow()
