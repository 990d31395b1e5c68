"""The Step Functions deployer: create (or update), trigger, list runs.

boto3 is imported here only through aws_config, when a command talks to AWS.
"""

import json
import os
import uuid

from .state_machine import RUN_ID_PREFIX, StepFunctionsError, build_definition

ROLE_VARIABLE = "METAFLOW_SFN_IAM_ROLE"


def _client():
    from .. import aws_config

    return aws_config.client("stepfunctions")


def _api_error(err, what):
    return StepFunctionsError("Could not %s: %s" % (what, err))


def iam_role():
    role = os.environ.get(ROLE_VARIABLE)
    if not role:
        raise StepFunctionsError(
            "Step Functions needs an IAM role the state machine runs as: set %s to its ARN "
            "(it must be allowed to submit and watch AWS Batch jobs)." % ROLE_VARIABLE)
    return role


def job_definitions(graph, decorators_of, register=True):
    """Each step's Batch job queue and job definition, registered by content as the
    Batch launcher registers them (a step without @batch gets its defaults): its ARN,
    or without ``register`` its name, which needs no AWS."""
    from ..batch.batch_decorator import BatchDecorator
    from ..batch.batch_launcher import BatchLauncher, job_definition, job_definition_name

    batch = None
    if register:
        from .. import aws_config

        batch = aws_config.client("batch")
    queue, found = None, {}
    for node in graph:
        decos = decorators_of(node.name)
        deco = next((d for d in decos if isinstance(d, BatchDecorator)), None)
        if deco is None:
            deco = BatchDecorator()
            decos = list(decos) + [deco]
        launcher = BatchLauncher(deco, decos)
        settings = launcher.settings()
        if not settings["queue"] or not settings["image"]:
            raise StepFunctionsError(
                "Step *%s* has no AWS Batch job queue or container image: give @batch(queue=..., "
                "image=...) or set METAFLOW_BATCH_JOB_QUEUE and METAFLOW_BATCH_CONTAINER_IMAGE."
                % node.name, step=node.name)
        queue = queue or settings["queue"]
        if register:
            found[node.name] = launcher.register_definition(batch, settings, node.name)
        else:
            found[node.name] = job_definition_name(job_definition(settings))
    return queue, found


def definition_of(graph, flow_name, package, decorators_of, user, max_num_splits,
                  register=True):
    queue, definitions = job_definitions(graph, decorators_of, register)
    return build_definition(graph, flow_name, package, queue, definitions, user, max_num_splits)


def _find(client, name):
    pages = client.get_paginator("list_state_machines").paginate()
    for page in pages:
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


def create(name, definition):
    """Deploy the state machine ``name``, or update it when it exists; returns its ARN
    and whether it was new."""
    role = iam_role()
    client = _client()
    text = json.dumps(definition)
    try:
        arn = _find(client, name)
        if arn is None:
            return client.create_state_machine(name=name, definition=text,
                                               roleArn=role)["stateMachineArn"], True
        client.update_state_machine(stateMachineArn=arn, definition=text, roleArn=role)
        return arn, False
    except Exception as err:
        if isinstance(err, StepFunctionsError):
            raise
        raise _api_error(err, "deploy the state machine %s" % name) from None


def _existing(client, name):
    arn = _find(client, name)
    if arn is None:
        raise StepFunctionsError(
            "The flow has no state machine *%s* on Step Functions yet: run `step-functions "
            "create` first." % name)
    return arn


def trigger(name, parameters):
    """Start an execution with ``parameters``; returns (execution ARN, run id)."""
    client = _client()
    try:
        arn = _existing(client, name)
        # Named here, not by AWS: the name is the run id, known before anything runs.
        started = client.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex,
                                         input=json.dumps({"Parameters": parameters}))
    except StepFunctionsError:
        raise
    except Exception as err:
        raise _api_error(err, "start an execution of %s" % name) from None
    execution = started["executionArn"]
    return execution, RUN_ID_PREFIX + execution.rsplit(":", 1)[-1]


def list_runs(name, status=None):
    """The executions of ``name``, newest first, as dicts."""
    client = _client()
    try:
        arn = _existing(client, name)
        kwargs = {"stateMachineArn": arn}
        if status:
            kwargs["statusFilter"] = status
        executions = []
        for page in client.get_paginator("list_executions").paginate(**kwargs):
            executions.extend(page["executions"])
    except StepFunctionsError:
        raise
    except Exception as err:
        raise _api_error(err, "list the executions of %s" % name) from None
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    return [{"run_id": RUN_ID_PREFIX + e["name"], "status": e["status"],
             "started": e["startDate"].strftime("%Y-%m-%d %H:%M:%S"),
             "stopped": e["stopDate"].strftime("%Y-%m-%d %H:%M:%S") if e.get("stopDate") else ""}
            for e in executions]
