"""Step decorators: ``@retry``, ``@catch``, ``@timeout``, ``@resources``, ``@environment``,
``@batch`` (plugins/aws/batch) and ``@card`` (plugins/cards).

Each is a small class with hooks the runtime and the task call; they are used
above ``@step`` or added to every step with ``--with name:key=value,...``.
"""

import json
import re
import signal

from .exceptions import DecoratorError, MetaflowException, exception_record
from .front_end import front_end_of
from .process_tree import kill_own_session

MAX_ATTEMPTS = 6


class TimeoutException(MetaflowException):
    headline = "@timeout"

    def __init__(self, msg, step=None, seconds=0, retry=True):
        super().__init__(msg, step=step)
        self.seconds = seconds
        # @timeout(retry=False): a step that ran out of time would do so again.
        self.retry_helps = retry


class StepDecorator(object):
    name = None
    defaults = {}

    def __init__(self, attributes=None, statically_defined=True):
        attributes = dict(attributes or {})
        unknown = sorted(set(attributes) - set(self.defaults))
        if unknown:
            raise DecoratorError(
                "Decorator '%s' does not support the attribute '%s'. These attributes are "
                "supported: %s." % (self.name, unknown[0], ", ".join(sorted(self.defaults)))
            )
        self.attributes = dict(self.defaults)
        self.attributes.update(attributes)
        self.statically_defined = statically_defined

    def step_init(self, graph, step_name):
        """Validate against the graph before anything runs."""

    def retry_counts(self):
        """(user code retries, error retries) this decorator asks for."""
        return 0, 0

    def retry_delay(self):
        """Seconds the runtime waits before it starts a failed task's next attempt."""
        return 0

    def environment(self):
        return {}

    def launcher(self, decorators):
        """The launcher (launcher.py) that runs this step's tasks, or None: the step
        runs where the other decorators say, locally by default. ``decorators`` are
        all of the step's, this one among them."""
        return None

    def task_exception(self, flow, exc, retry_count, max_user_code_retries):
        """True when the decorator handled the exception and the task succeeds."""
        return False

    def task_pre_step(self, flow):
        """Called in the task process just before the step's body runs."""

    def task_post_step(self, flow):
        """Called after the step's body ran and succeeded, before its artifacts are saved."""

    def task_finished(self, flow, output, error):
        """Called as the attempt is recorded, whatever its outcome (``error`` None when it
        succeeded): its artifacts are in ``output``, its record not yet written."""

    def spec(self):
        args = ",".join("%s=%s" % (k, json.dumps(v)) for k, v in self.attributes.items())
        return "%s:%s" % (self.name, args) if args else self.name


def _int_attr(deco, key):
    try:
        return int(deco.attributes[key])
    except (TypeError, ValueError):
        raise DecoratorError(
            "@%s: attribute %s must be a whole number, not %r."
            % (deco.name, key, deco.attributes[key])
        )


class RetryDecorator(StepDecorator):
    name = "retry"
    defaults = {"times": 3, "minutes_between_retries": 2}

    def step_init(self, graph, step_name):
        times = _int_attr(self, "times")
        if times < 0 or times + 2 > MAX_ATTEMPTS:
            raise DecoratorError(
                "Step *%s*: the maximum number of retries is @retry(times=%d)."
                % (step_name, MAX_ATTEMPTS - 2), step=step_name
            )
        _minutes_between_retries(self)

    def retry_counts(self):
        return _int_attr(self, "times"), 0

    def retry_delay(self):
        return 60 * _minutes_between_retries(self)


def _minutes_between_retries(deco):
    value = deco.attributes["minutes_between_retries"]
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        minutes = -1
    if minutes < 0:
        raise DecoratorError(
            "@retry: attribute minutes_between_retries must be a number of minutes, 0 or "
            "more, not %r." % (value,))
    return minutes


class CatchDecorator(StepDecorator):
    name = "catch"
    defaults = {"var": None, "print_exception": True}

    def step_init(self, graph, step_name):
        if graph[step_name].type == "foreach":
            raise DecoratorError(
                "@catch is defined for the step *%s* but @catch is not supported in foreach "
                "split steps." % step_name, step=step_name
            )

    def task_exception(self, flow, exc, retry_count, max_user_code_retries):
        if retry_count < max_user_code_retries:
            return False
        front_end = front_end_of(type(flow))
        record = error_record(flow, exc)
        if self.attributes["print_exception"]:
            print("@catch caught an exception from %s" % flow, flush=True)
            lines = front_end.error_lines(record) or record["traceback"].rstrip("\n").split("\n")
            for line in lines:
                print(">  " + line, flush=True)
        var = self.attributes["var"]
        if var:
            caught = front_end.caught_value(exc, record)
            setattr(flow, var, CaughtException(exc) if caught is None else caught)
        return True

    def task_post_step(self, flow):
        # As in Metaflow: the step succeeded, so its variable says there was no error.
        var = self.attributes["var"]
        if var:
            setattr(flow, var, None)


def error_record(flow, exc):
    """The record of ``exc`` a task of ``flow`` stores: in its front end's terms."""
    return front_end_of(type(flow)).error_record(exc) or exception_record(exc)


class CaughtException(object):
    """What ``@catch(var=...)`` stores: the type, message and traceback of the error."""

    def __init__(self, exc):
        record = exception_record(exc)
        self.type = record["type"]
        self.message = record["message"]
        self.traceback = record["traceback"]

    def __str__(self):
        return "%s: %s" % (self.type, self.message)

    __repr__ = __str__


class TimeoutDecorator(StepDecorator):
    name = "timeout"
    defaults = {"seconds": 0, "minutes": 0, "hours": 0, "retry": True}

    def step_init(self, graph, step_name):
        if self.total_seconds() <= 0:
            raise DecoratorError("Specify a duration for @timeout.", step=step_name)
        if not isinstance(self.attributes["retry"], bool):
            raise DecoratorError(
                "@timeout: attribute retry must be True or False, not %r."
                % (self.attributes["retry"],), step=step_name)

    def total_seconds(self):
        return (_int_attr(self, "seconds") + 60 * _int_attr(self, "minutes")
                + 3600 * _int_attr(self, "hours"))

    def arm(self, step_name):
        """Start the clock in the task process; returns a function that stops it."""
        if not hasattr(signal, "SIGALRM"):
            return lambda: None
        seconds = self.total_seconds()

        def expired(signum, frame):
            # What the step started (an R step's Rscript and its children) is
            # stopped before the error reaches @retry and @catch.
            kill_own_session()
            raise TimeoutException(
                "Step %s timed out after %d hours, %d minutes, %d seconds"
                % (step_name, seconds // 3600, (seconds % 3600) // 60, seconds % 60),
                step=step_name, seconds=seconds, retry=self.attributes["retry"],
            )

        previous = signal.signal(signal.SIGALRM, expired)
        signal.alarm(seconds)

        def disarm():
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

        return disarm


class ResourcesDecorator(StepDecorator):
    name = "resources"
    defaults = {"cpu": 1, "gpu": None, "disk": None, "memory": 4096, "shared_memory": None}

    def step_init(self, graph, step_name):
        self.requested(step_name)

    def requested(self, step_name=None):
        """What the step asks for: cpu (cores), memory (MB) and gpu, as numbers."""
        values = {}
        for key, least in (("cpu", 0), ("memory", 0), ("gpu", -1)):
            value = self.attributes[key]
            if value is None:
                values[key] = None
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = least
            if number <= least:
                raise DecoratorError(
                    "@resources: attribute %s must be a number above %d, not %r."
                    % (key, least, value), step=step_name)
            values[key] = int(number) if number == int(number) else number
        return values


class EnvironmentDecorator(StepDecorator):
    name = "environment"
    defaults = {"vars": {}}

    def environment(self):
        env = self.attributes["vars"] or {}
        if not isinstance(env, dict):
            raise DecoratorError("@environment(vars=...) takes a dictionary of strings.")
        return {str(k): str(v) for k, v in env.items()}


STEP_DECORATORS = {
    cls.name: cls
    for cls in (RetryDecorator, CatchDecorator, TimeoutDecorator, ResourcesDecorator,
                EnvironmentDecorator)
}


def register_step_decorator(cls):
    STEP_DECORATORS[cls.name] = cls
    return cls


def _make_user_decorator(cls):
    def decorator(f=None, **attributes):
        def attach(func):
            if not getattr(func, "is_step", False):
                raise DecoratorError(
                    "@%s must be placed above @step on %s." % (cls.name, getattr(func, "__name__", func))
                )
            if any(d.name == cls.name for d in func.decorators):
                raise DecoratorError(
                    "Step *%s* already has a decorator '%s'." % (func.__name__, cls.name),
                    step=func.__name__,
                )
            func.decorators.append(cls(attributes))
            return func

        if f is not None:
            return attach(f)
        return attach

    decorator.__name__ = cls.name
    decorator.__doc__ = cls.__doc__
    return decorator


def step_decorator(name, attributes):
    """The decorator called ``name``, as generated code applies it: ``@step_decorator(...)``."""
    if name not in STEP_DECORATORS:
        raise DecoratorError(
            "Unknown step decorator *%s*. Known: %s." % (name, ", ".join(sorted(STEP_DECORATORS)))
        )
    return _make_user_decorator(STEP_DECORATORS[name])(**attributes)


def _plugin_decorators():
    # Defined in their plugins, which import this module's StepDecorator; they
    # import nothing heavy until a task is launched with them.
    from .plugins.aws.batch.batch_decorator import BatchDecorator
    from .plugins.cards.card_decorator import CardDecorator

    return (BatchDecorator, CardDecorator)


for _plugin in _plugin_decorators():
    register_step_decorator(_plugin)

retry = _make_user_decorator(RetryDecorator)
catch = _make_user_decorator(CatchDecorator)
timeout = _make_user_decorator(TimeoutDecorator)
resources = _make_user_decorator(ResourcesDecorator)
environment = _make_user_decorator(EnvironmentDecorator)
batch = _make_user_decorator(STEP_DECORATORS["batch"])
card = _make_user_decorator(STEP_DECORATORS["card"])


def parse_decospec(spec):
    """``name:k1=v1,k2=v2`` -> a decorator instance (values: JSON, int, float or str)."""
    name, _, args = spec.partition(":")
    name = name.strip()
    if name not in STEP_DECORATORS:
        raise DecoratorError(
            "Unknown decorator *%s* in --with. Known: %s."
            % (name, ", ".join(sorted(STEP_DECORATORS)))
        )
    attributes = {}
    if args:
        for pair in re.split(r",(?=[\s\w]+=)", args):
            key, eq, value = pair.partition("=")
            if not eq:
                raise DecoratorError("Cannot parse --with %s: expected key=value." % spec)
            attributes[key.strip()] = _parse_value(value.strip())
    return STEP_DECORATORS[name](attributes, statically_defined=False)


def _parse_value(text):
    for parse in (json.loads, int, float):
        try:
            return parse(text)
        except ValueError:
            continue
    return text


def step_decorators(func, extra=()):
    """The decorators of a step: its own, then --with ones it does not already have."""
    own = list(getattr(func, "decorators", []))
    names = {d.name for d in own}
    return own + [d for d in extra if d.name not in names]


def step_resources(decorators):
    """What a step asks for with @resources (cpu, memory, gpu), or None without it."""
    for deco in decorators:
        if isinstance(deco, ResourcesDecorator):
            return deco.requested()
    return None


def retry_delay(decorators):
    return max([d.retry_delay() for d in decorators] + [0])


def retry_counts(decorators):
    user = max([d.retry_counts()[0] for d in decorators] + [0])
    error = max([d.retry_counts()[1] for d in decorators] + [0])
    return user, error
