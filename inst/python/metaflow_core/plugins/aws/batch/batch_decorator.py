"""``@batch``: run a step's tasks as AWS Batch jobs.

The decorator only chooses the launcher (batch_launcher.py) and its options;
the task it runs is the local task, from the run's code package, against the
S3 datastore. Importing this module imports no boto3: that happens when a job
is submitted.
"""

import os

from ....exceptions import DecoratorError, MetaflowException
from ....decorators import ResourcesDecorator, StepDecorator, _int_attr

# Netflix's Metaflow reads the same settings.
QUEUE_VARIABLE = "METAFLOW_BATCH_JOB_QUEUE"
IMAGE_VARIABLE = "METAFLOW_BATCH_CONTAINER_IMAGE"
IAM_ROLE_VARIABLE = "METAFLOW_ECS_S3_ACCESS_IAM_ROLE"
EXECUTION_ROLE_VARIABLE = "METAFLOW_ECS_FARGATE_EXECUTION_ROLE"


class BatchError(MetaflowException):
    headline = "AWS Batch error"


class BatchDecorator(StepDecorator):
    """Run the step on AWS Batch: ``@batch(cpu=2, memory=8000, queue="q")``. Attributes
    left None take METAFLOW_BATCH_JOB_QUEUE, METAFLOW_BATCH_CONTAINER_IMAGE,
    METAFLOW_ECS_S3_ACCESS_IAM_ROLE and METAFLOW_ECS_FARGATE_EXECUTION_ROLE when the run
    starts; cpu, gpu and memory are the larger of these and @resources'."""

    name = "batch"
    defaults = {"cpu": 1, "gpu": 0, "memory": 4096, "image": None, "queue": None,
                "iam_role": None, "execution_role": None, "shared_memory": None,
                "max_swap": None, "swappiness": None}

    def step_init(self, graph, step_name):
        for key in ("cpu", "memory"):
            if _number(self, key, step_name) <= 0:
                raise DecoratorError("@batch: attribute %s of step *%s* must be above 0."
                                     % (key, step_name), step=step_name)
        for key in ("gpu", "shared_memory", "max_swap", "swappiness"):
            if self.attributes[key] is not None and _int_attr(self, key) < 0:
                raise DecoratorError("@batch: attribute %s of step *%s* must be 0 or more."
                                     % (key, step_name), step=step_name)
        if self.attributes["swappiness"] is not None and _int_attr(self, "swappiness") > 100:
            raise DecoratorError("@batch: attribute swappiness of step *%s* must be 0 to 100."
                                 % step_name, step=step_name)
        self.step_name = step_name

    def launcher(self, decorators):
        from .batch_launcher import BatchLauncher

        return BatchLauncher(self, decorators)

    def settings(self, decorators):
        """What the job asks for: the attributes with the defaults of the environment
        filled in, and cpu, gpu and memory raised to what @resources asks."""
        values = dict(self.attributes)
        for key, variable in (("queue", QUEUE_VARIABLE), ("image", IMAGE_VARIABLE),
                              ("iam_role", IAM_ROLE_VARIABLE),
                              ("execution_role", EXECUTION_ROLE_VARIABLE)):
            if not values[key]:
                values[key] = os.environ.get(variable) or None
        for deco in decorators:
            if isinstance(deco, ResourcesDecorator):
                asked = deco.requested()
                for key in ("cpu", "gpu", "memory"):
                    if asked.get(key) is not None:
                        values[key] = max(float(values[key] or 0), float(asked[key]))
        for key in ("cpu", "gpu", "memory"):
            number = float(values[key] or 0)
            values[key] = int(number) if number == int(number) else number
        return values


def _number(deco, key, step_name):
    try:
        return float(deco.attributes[key])
    except (TypeError, ValueError):
        raise DecoratorError("@batch: attribute %s of step *%s* must be a number, not %r."
                             % (key, step_name, deco.attributes[key]), step=step_name)
