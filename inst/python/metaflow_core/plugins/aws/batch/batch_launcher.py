"""The AWS Batch launcher: one Batch job per task attempt.

For each attempt it registers (or reuses, by content) a job definition, submits
a job whose command is ``python -m metaflow_core.remote_task '<json>'`` (the
code package, the datastore and the task's arguments: the local task, nothing
of this machine), then polls the job, streams its CloudWatch log into the
task's logs and the console as a local task's output is, and maps the job's end
to an exit status. Stopping the attempt (an interrupt, a failed sibling)
terminates the job. Retries are the runtime's: each attempt is a new job, so
Batch's own retry strategy is one attempt.

boto3 is imported only when a job is submitted (aws_config).
"""

import hashlib
import json
import os
import re
import signal
import threading
import time

from ....launcher import LaunchedTask, Launcher
from ....decorators import TimeoutDecorator
from .batch_decorator import BatchError

POLL_SECONDS = 1.0
# Seconds a job that Batch says SUCCEEDED may take until its task's record is
# seen in the datastore (METAFLOW_BATCH_RECORD_WAIT_SECONDS).
RECORD_WAIT_SECONDS = 30
# Batch's longest job name, and the least attemptDurationSeconds it takes.
MAX_JOB_NAME = 128
MIN_TIMEOUT_SECONDS = 60
# Metaflow's DEFAULT_RUNTIME_LIMIT: 5 days.
DEFAULT_TIMEOUT_SECONDS = 5 * 24 * 3600
# What a task's own @timeout gets before Batch stops the job: the task's error
# (an R condition, retried as @timeout says) is the one recorded.
TIMEOUT_MARGIN_SECONDS = 60
LOG_GROUP = "/aws/batch/job"
# SubmitJob's container overrides hold at most 8 KiB of command and environment
# together; a longer task argument goes in the datastore (remote_task).
MAX_COMMAND_CHARS = 6000
# Settings a task needs to reach the same S3 the run uses (the container's role
# gives it credentials; an S3-compatible store needs its endpoint).
FORWARDED_VARIABLES = ("METAFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                       "METAFLOW_DATASTORE_COMPRESSION", "METAFLOW_S3_RETRY_COUNT",
                       "METAFLOW_S3_WORKERS", "METAFLOW_DEFAULT_METADATA")
FINAL_STATES = ("SUCCEEDED", "FAILED")


class BatchLauncher(Launcher):
    name = "batch"
    needs_code_package = True

    def __init__(self, decorator, decorators):
        self.decorator = decorator
        self.decorators = list(decorators)
        self._definitions = {}

    def settings(self):
        return self.decorator.settings(self.decorators)

    def check(self, state, step):
        if state.ds_type != "s3":
            raise BatchError(
                "Step *%s* runs on AWS Batch (@batch), which needs the S3 datastore: run it "
                "with --datastore s3 (in R, run(flow, datastore = \"s3\"))." % step, step=step)
        settings = self.settings()
        if not settings["queue"]:
            raise BatchError(
                "Step *%s* runs on AWS Batch but names no job queue: give @batch(queue=...) "
                "or set METAFLOW_BATCH_JOB_QUEUE." % step, step=step)
        if not settings["image"]:
            raise BatchError(
                "Step *%s* runs on AWS Batch but names no container image: give "
                "@batch(image=...) or set METAFLOW_BATCH_CONTAINER_IMAGE to an image with R, "
                "Python and the metaflow package (docker/Dockerfile builds one)." % step,
                step=step)

    def launch(self, runtime, task, args, env):
        from ....remote_task import command_argument
        from .. import aws_config

        settings = self.settings()
        client = aws_config.client("batch")
        if runtime.code_package is None:
            raise BatchError("Step *%s* runs on AWS Batch, but the run has no code package."
                             % task.step, step=task.step)
        argument = command_argument(runtime.flow.name, runtime.code_package, args,
                                    runtime.flow_datastore, MAX_COMMAND_CHARS)
        command = ["python", "-m", "metaflow_core.remote_task", argument]
        definition = self.register_definition(client, settings, task.step)
        job = {
            "jobName": job_name(runtime.user, runtime.flow.name, runtime.run_id, task),
            "jobQueue": settings["queue"],
            "jobDefinition": definition,
            "containerOverrides": {
                "command": command,
                "environment": [{"name": k, "value": v}
                                for k, v in sorted(job_environment(runtime, env).items())],
                "resourceRequirements": resource_requirements(settings),
            },
            "retryStrategy": {"attempts": 1},
            "timeout": {"attemptDurationSeconds": attempt_seconds(self.decorators)},
            "parameters": {"metaflow.flow_name": runtime.flow.name,
                           "metaflow.run_id": runtime.run_id, "metaflow.step_name": task.step,
                           "metaflow.task_id": task.task_id,
                           "metaflow.retry_count": str(task.retry_count)},
        }
        try:
            job_id = client.submit_job(**job)["jobId"]
        except Exception as err:
            raise _api_error(err, "submit the job of step *%s*" % task.step, task.step)
        return BatchTask(runtime, task, client, job_id, settings["queue"], definition)

    def register_definition(self, client, settings, step):
        """The ARN of the job definition for ``settings``: registered once, by content."""
        content = job_definition(settings)
        name = job_definition_name(content)
        if name in self._definitions:
            return self._definitions[name]
        try:
            found = client.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
            active = sorted(found.get("jobDefinitions", []), key=lambda d: d["revision"])
            if active:
                arn = active[-1]["jobDefinitionArn"]
            else:
                arn = client.register_job_definition(jobDefinitionName=name,
                                                     **content)["jobDefinitionArn"]
        except Exception as err:
            raise _api_error(err, "register the job definition %s" % name, step)
        self._definitions[name] = arn
        return arn


def job_definition_name(content):
    """A job definition's name, from its content, so that the same content is reused."""
    return "metaflow_" + hashlib.sha224(
        json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def job_definition(settings):
    """The job definition's content: what the image, roles and resources make it."""
    container = {
        "image": settings["image"],
        "command": ["python", "-m", "metaflow_core.remote_task"],
        "resourceRequirements": resource_requirements(settings),
    }
    if settings["iam_role"]:
        container["jobRoleArn"] = settings["iam_role"]
    if settings["execution_role"]:
        container["executionRoleArn"] = settings["execution_role"]
    linux = {}
    for key, field in (("shared_memory", "sharedMemorySize"), ("max_swap", "maxSwap"),
                       ("swappiness", "swappiness")):
        if settings[key] is not None:
            linux[field] = int(settings[key])
    if linux:
        container["linuxParameters"] = linux
    return {"type": "container", "containerProperties": container}


def resource_requirements(settings):
    found = [{"type": "VCPU", "value": _number_text(settings["cpu"])},
             {"type": "MEMORY", "value": _number_text(settings["memory"])}]
    if settings["gpu"]:
        found.append({"type": "GPU", "value": _number_text(settings["gpu"])})
    return found


def _number_text(value):
    number = float(value)
    return str(int(number)) if number == int(number) else str(number)


def attempt_seconds(decorators):
    for deco in decorators:
        if isinstance(deco, TimeoutDecorator):
            return max(MIN_TIMEOUT_SECONDS, deco.total_seconds() + TIMEOUT_MARGIN_SECONDS)
    return DEFAULT_TIMEOUT_SECONDS


def job_name(user, flow_name, run_id, task):
    """``user-Flow-run-step-task-attempt`` in the characters Batch allows."""
    raw = "-".join((user, flow_name, run_id, task.step, task.task_id, str(task.retry_count)))
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)[:MAX_JOB_NAME]


def job_environment(runtime, env):
    """The job's environment: what the attempt adds (@environment, the run id, the
    user), where the data lives, and the S3 settings of this run; never the rest
    of this machine's environment."""
    from .. import aws_config

    found = dict(env)
    found["METAFLOW_DEFAULT_DATASTORE"] = "s3"
    found["METAFLOW_DATASTORE_SYSROOT_S3"] = runtime.flow_datastore.ds_root
    found["METAFLOW_RUNTIME_ENVIRONMENT"] = "aws-batch"
    found["AWS_DEFAULT_REGION"] = aws_config.region()
    for name in FORWARDED_VARIABLES:
        if os.environ.get(name):
            found.setdefault(name, os.environ[name])
    return found


def _api_error(err, action, step=None):
    if isinstance(err, BatchError):
        return err
    message = getattr(err, "response", {}).get("Error", {}).get("Message") or str(err)
    return BatchError("Could not %s on AWS Batch: %s" % (action, message), step=step)


class BatchTask(LaunchedTask):
    """A task attempt running as a Batch job, followed by a thread of its own."""

    def __init__(self, runtime, task, client, job_id, queue, definition):
        super().__init__(runtime, task)
        self.client = client
        self.job_id = job_id
        self.queue = queue
        self.definition = definition
        self.label = "batch job %s" % job_id
        self._returncode = None
        self._stop = threading.Event()
        self._terminated = False
        self._log_token = None
        self._log_stream = None
        self._thread = threading.Thread(target=self._follow, daemon=True,
                                        name="batch-%s" % job_id)
        self._thread.start()

    @property
    def returncode(self):
        return self._returncode

    def attempt_fields(self):
        return {"batch_job_id": self.job_id, "batch_job_queue": self.queue,
                "batch_job_definition": self.definition}

    def _describe(self):
        jobs = self.client.describe_jobs(jobs=[self.job_id]).get("jobs", [])
        return jobs[0] if jobs else {}

    def _follow(self):
        status = None
        job = {}
        returncode = None
        try:
            while not self._stop.is_set():
                job = self._describe()
                if job.get("status") != status:
                    status = job.get("status")
                    if status not in FINAL_STATES:
                        self.runtime.system_echo(self.task, "Task is starting (status %s)..."
                                                 % status, launched=self)
                self._log_stream = (job.get("container") or {}).get("logStreamName") \
                    or self._log_stream
                self._drain_logs()
                if status in FINAL_STATES:
                    returncode = self._outcome(job)
                    break
                self._stop.wait(POLL_SECONDS)
        except Exception as err:
            self.runtime.system_echo(self.task, "Lost track of the job: %s" % err,
                                     launched=self)
            returncode = 1
        finally:
            self.output.close()
            # A forced stop has said how the attempt ended, and the runtime no
            # longer waits for it.
            if not self._stop.is_set():
                self._returncode = 1 if returncode is None else returncode
                self.finished()

    def _outcome(self, job):
        container = job.get("container") or {}
        code = container.get("exitCode")
        if job["status"] == "SUCCEEDED":
            self._await_record()
            self._drain_logs()
            return 0 if code is None else code
        reason = job.get("statusReason") or container.get("reason")
        if self._terminated:
            return -signal.SIGTERM
        if reason:
            self.runtime.system_echo(self.task, "The job failed: %s. This could be a transient "
                                     "error; use @retry to retry." % reason, launched=self)
        return code if code else 1

    def _await_record(self):
        """Wait for the attempt's record (its DONE marker) to be seen: what the runtime
        reads next. A job that succeeded with none is a failed attempt."""
        wait = float(os.environ.get("METAFLOW_BATCH_RECORD_WAIT_SECONDS") or RECORD_WAIT_SECONDS)
        deadline = time.time() + wait
        ds = self.runtime.flow_datastore.task(self.runtime.run_id, self.task.step,
                                              self.task.task_id, attempt=self.task.retry_count,
                                              mode="w")
        while time.time() < deadline and not self._stop.is_set():
            if self.task.retry_count in ds.done_attempts():
                return
            self._drain_logs()
            self._stop.wait(POLL_SECONDS)
        self.runtime.system_echo(self.task, "The job succeeded, but its task recorded nothing "
                                 "in the datastore within %g s." % wait, launched=self)

    def _drain_logs(self):
        """Every new line of the job's CloudWatch log stream, into the task's output."""
        if not self._log_stream:
            return
        from .. import aws_config

        logs = aws_config.client("logs")
        while True:
            request = {"logGroupName": LOG_GROUP, "logStreamName": self._log_stream,
                       "startFromHead": True}
            if self._log_token:
                request["nextToken"] = self._log_token
            try:
                page = logs.get_log_events(**request)
            except Exception as err:
                if "ResourceNotFound" in type(err).__name__ or \
                        "ResourceNotFound" in str(err):
                    return
                raise
            for event in page.get("events", []):
                self.output.line("stdout", event["message"].encode("utf-8"))
            token = page.get("nextForwardToken")
            if token == self._log_token or not page.get("events"):
                self._log_token = token or self._log_token
                return
            self._log_token = token

    def stop(self, force=False):
        if self._returncode is not None:
            return
        if not self._terminated:
            self._terminated = True
            try:
                self.client.terminate_job(jobId=self.job_id,
                                          reason="Stopped by the Metaflow runtime")
            except Exception as err:
                self.runtime.system_echo(self.task, "Could not terminate the job: %s" % err,
                                         launched=self)
        if force:
            # Batch has been told; the run doesn't wait for it to say the job ended.
            self._returncode = -signal.SIGKILL
            self._stop.set()

    def wait(self):
        self._thread.join()
