"""moto's server, with AWS Batch jobs that really run: the compute environment.

    python moto_compute.py -H 127.0.0.1 -p PORT

moto runs Batch jobs in Docker containers; with no Docker engine (as here) its
simple Batch only marks each job SUCCEEDED as it is submitted. A Step Functions
execution driven by moto would then never wait for a task, nor see one fail.
This server plays the compute environment instead: each container job's command
runs as a local process, as a container would run it, in a fresh directory with
only PATH, HOME, the AWS settings and the job's own environment (nothing of the
submitting process); the job is RUNNING while the process lives, then SUCCEEDED
or FAILED by its exit status; TerminateJob stops it with SIGTERM. Its output goes
to the job's CloudWatch log stream, as Batch's awslogs driver ships it.

Step Functions executions run (moto's ``execute_state_machine``), and their
service integrations call this server (MOTO_PORT). One gap of moto's port of
LocalStack's interpreter is filled as AWS behaves: the Batch integration's
parameters, written as AWS documents them (``JobName``, ``ContainerOverrides``
with ``Environment`` of ``Name``/``Value``), reach the Batch API in its own
member names, and its answers come back in Step Functions' (``JobId``); an
SDK integration's answer is Step Functions' too (s3:getObject's ``Body`` a string).
"""

import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import botocore.session
from botocore import xform_name
from moto.batch.utils import JobStatus
from moto.batch_simple.models import BatchSimpleBackend
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_batch,
)

LOG_GROUP = "/aws/batch/job"
# What a container has of the host: our Python (the image's), the AWS settings.
HOST_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                  "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "METAFLOW_PYTHON", "R_LIBS",
                  "R_LIBS_USER")
STOP_GRACE_SECONDS = 10


def _run(job, work_root):
    """The job's life: its process from start to exit, logged line by line."""
    command = job._get_container_property("command", [])
    job_env = {e["name"]: e["value"] for e in job._get_container_property("environment", [])}
    cwd = tempfile.mkdtemp(prefix="job-", dir=work_root)
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "HOME": cwd}
    env.update({k: os.environ[k] for k in HOST_VARIABLES if k in os.environ})
    env.update(job_env)
    logs = job._log_backend
    logs.ensure_log_group(LOG_GROUP)
    logs.ensure_log_stream(LOG_GROUP, job.log_stream_name)
    try:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as err:
        logs.put_log_events(LOG_GROUP, job.log_stream_name, [_event("could not start: %s" % err)])
        job._mark_stopped(success=False)
        return
    job.status = JobStatus.RUNNING
    watcher = threading.Thread(target=_stop_when_terminated, args=(job, proc), daemon=True)
    watcher.start()
    for line in iter(proc.stdout.readline, b""):
        logs.put_log_events(LOG_GROUP, job.log_stream_name,
                            [_event(line.decode(errors="replace").rstrip("\n"))])
    proc.stdout.close()
    returncode = proc.wait()
    shutil.rmtree(cwd, ignore_errors=True)
    job._mark_stopped(success=returncode == 0 and not job.stop)


def _stop_when_terminated(job, proc):
    while proc.poll() is None:
        if job.stop:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            return
        time.sleep(0.2)


def _event(message):
    return {"timestamp": int(time.time() * 1000), "message": message}


def _operation(self, boto_service_name, service_action_name):
    model = botocore.session.get_session().get_service_model(
        boto_service_name or self._get_boto_service_name())
    action = service_action_name or self._get_boto_service_action()
    return model.operation_model(
        next(name for name in model.operation_names if xform_name(name) == action))


def _parameters_to_api_names(self, parameters, boto_service_name=None,
                             service_action_name=None):
    self._to_boto_request(parameters,
                          _operation(self, boto_service_name, service_action_name).input_shape)


def _response_to_sfn_names(self, response, boto_service_name=None, service_action_name=None):
    self._from_boto_response(response,
                             _operation(self, boto_service_name, service_action_name).output_shape)


def install(work_root):
    def start_job(self, include_start_attempt, job):
        self.backend._jobs[job.job_id] = job
        job.job_started_at = datetime.datetime.now()
        job.log_stream_name = job._stream_name
        if include_start_attempt:
            job._start_attempt()
        job.status = JobStatus.RUNNABLE
        threading.Thread(target=_run, args=(job, work_root), daemon=True).start()

    BatchSimpleBackend._mark_job_as_finished = start_job
    for service in (state_task_service_batch.StateTaskServiceBatch,
                    state_task_service_aws_sdk.StateTaskServiceAwsSdk):
        service._normalise_parameters = _parameters_to_api_names
        service._normalise_response = _response_to_sfn_names
    default_user_config["batch"]["use_docker"] = False
    default_user_config["stepfunctions"]["execute_state_machine"] = True


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    port = argv[argv.index("-p") + 1]
    # Step Functions' service integrations call moto at MOTO_PORT.
    os.environ["MOTO_PORT"] = port
    work_root = tempfile.mkdtemp(prefix="moto-compute-")
    install(work_root)
    from moto.server import main as moto_main

    try:
        moto_main(argv)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)


if __name__ == "__main__":
    main()
