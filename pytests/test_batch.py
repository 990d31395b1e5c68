"""@batch against moto's AWS Batch, S3 and CloudWatch Logs servers on loopback.

moto's server runs no containers here (there is no Docker engine): with
``{"batch": {"use_docker": false}}`` it marks a job SUCCEEDED as it is
submitted. So this test plays the compute environment: it finds the job through
the Batch API, checks what was submitted (definition, queue, command,
environment, resources), runs the job's command in a clean environment (env -i
with only PATH, HOME and the AWS settings, plus the job's own environment, in a
fresh directory, no access to the flow's) against the same S3, and ships its
output to the job's CloudWatch log stream, as Batch's awslogs driver would.
The launcher waits for the task's record after Batch says SUCCEEDED, so the run
goes on once the command has completed the task.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from runner import flow_env, flow_path

QUEUE = "metaflow-queue"
IMAGE = "example/metaflow:1"
ROLE_NAME = "metaflow-batch-role"


def _boto(server, service):
    import boto3

    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def batch_queue(moto_server):
    """moto's simple Batch (no Docker), an IAM role, a compute environment and a queue."""
    request = urllib.request.Request(
        moto_server.endpoint + "/moto-api/config", method="POST",
        data=json.dumps({"batch": {"use_docker": False}}).encode())
    urllib.request.urlopen(request, timeout=10).read()
    iam = _boto(moto_server, "iam")
    role = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = _boto(moto_server, "batch")
    environment = batch.create_compute_environment(
        computeEnvironmentName="metaflow-ce", type="UNMANAGED", state="ENABLED",
        serviceRole=role)["computeEnvironmentArn"]
    batch.create_job_queue(jobQueueName=QUEUE, state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1,
                                                     "computeEnvironment": environment}])
    return {"role": role, "batch": batch, "logs": _boto(moto_server, "logs")}


def clean_env(moto_server, job_env, home):
    """What a container gets: a PATH with our Python, a HOME, AWS settings, the job's env."""
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "HOME": str(home)}
    env.update({k: v for k, v in moto_server.env().items() if k.startswith("AWS_")})
    env.update(job_env)
    return env


class ComputeEnvironment(object):
    """Runs each job moto has accepted, once, as a container would, and logs its output."""

    def __init__(self, moto_server, aws, tmp_path):
        self.moto_server, self.aws, self.tmp_path = moto_server, aws, tmp_path
        self.jobs = []
        self.results = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        seen = set()
        while not self.done.is_set():
            listed = self.aws["batch"].list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")
            for summary in listed["jobSummaryList"]:
                if summary["jobId"] not in seen:
                    seen.add(summary["jobId"])
                    self._run(self.aws["batch"].describe_jobs(
                        jobs=[summary["jobId"]])["jobs"][0])
            time.sleep(0.2)

    def _run(self, job):
        self.jobs.append(job)
        container = job["container"]
        job_env = {e["name"]: e["value"] for e in container["environment"]}
        cwd = self.tmp_path / ("container-%d" % len(self.jobs))
        cwd.mkdir()
        env = clean_env(self.moto_server, job_env, cwd)
        logs = self.aws["logs"]
        stream = container["logStreamName"]
        try:
            logs.create_log_group(logGroupName="/aws/batch/job")
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        logs.create_log_stream(logGroupName="/aws/batch/job", logStreamName=stream)
        proc = subprocess.Popen(container["command"], cwd=str(cwd), env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        output = []
        # Line by line as the task prints, as the awslogs driver ships them.
        for line in iter(proc.stdout.readline, b""):
            output.append(line)
            logs.put_log_events(logGroupName="/aws/batch/job", logStreamName=stream,
                                logEvents=[{"timestamp": int(time.time() * 1000),
                                            "message": line.decode().rstrip("\n")}])
        proc.stdout.close()
        proc.wait(120)
        self.results.append((proc.returncode, b"".join(output).decode()))

    def stop(self):
        self.done.set()
        self.thread.join(10)


def test_a_batch_step_runs_from_the_code_package_against_s3(moto_server, batch_queue, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.py").write_text(flow_path("batch_flow.py").read_text())
    (project / "helper.py").write_text("HELPER = 1\n")
    compute = ComputeEnvironment(moto_server, batch_queue, tmp_path)
    env = flow_env(project, {"METAFLOW_BATCH_JOB_QUEUE": QUEUE,
                             "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": batch_queue["role"],
                             "METAFLOW_BATCH_RECORD_WAIT_SECONDS": "90"})
    try:
        result = subprocess.run(
            [sys.executable, str(project / "flow.py"), "--datastore", "s3", "run",
             "--run-id-file", str(tmp_path / "run_id")],
            cwd=str(project), env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=180)
    finally:
        compute.stop()

    assert result.returncode == 0, result.stderr + "\n".join(
        text for _, text in compute.results)
    assert [code for code, _ in compute.results] == [0]
    run_id = (tmp_path / "run_id").read_text()
    [job] = compute.jobs
    # What was submitted, read back through the Batch API.
    assert job["jobQueue"].endswith("/" + QUEUE)
    assert job["jobName"].endswith("-BatchFlow-%s-train-2-0" % run_id)
    definition = batch_queue["batch"].describe_job_definitions(
        jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
    assert definition["jobDefinitionName"].startswith("metaflow_")
    assert definition["containerProperties"]["image"] == IMAGE
    assert definition["containerProperties"]["jobRoleArn"] == batch_queue["role"]
    container = job["container"]
    # memory: the larger of @batch's and @resources'. moto reports the job's from its
    # definition (it drops the same values sent again as overrides).
    resources = {r["type"]: r["value"]
                 for r in definition["containerProperties"]["resourceRequirements"]}
    assert resources == {"VCPU": "2", "MEMORY": "5000"}
    assert (container["vcpus"], container["memory"]) == (2, 5000)
    command = container["command"]
    assert command[:3] == ["python", "-m", "metaflow_core.remote_task"] and len(command) == 4
    argument = json.loads(command[3])
    assert argument["task"]["step"] == "train" and argument["task"]["run_id"] == run_id
    assert argument["package"]["ds_type"] == "s3"
    assert str(tmp_path) not in command[3]  # nothing of the submitting machine
    job_env = {e["name"]: e["value"] for e in container["environment"]}
    assert job_env["GREETING"] == "hello from the job"
    assert job_env["METAFLOW_RUN_ID"] == run_id
    assert job_env["METAFLOW_DATASTORE_SYSROOT_S3"] == "s3://metaflow-test/metaflow"
    assert job_env["METAFLOW_DEFAULT_DATASTORE"] == "s3"
    assert not any(k.startswith("AWS_SECRET") for k in job_env)
    assert str(tmp_path) not in json.dumps(job_env)
    # The job ran the task: its log streamed to the console as a local task's does.
    assert "(batch job %s)] hello from the job: total 9" % job["jobId"] in result.stderr
    assert "end 9" in result.stderr

    from metaflow_core.datastore import FlowDataStore

    store = FlowDataStore("BatchFlow", ds_type="s3")
    train = store.task(run_id, "train", "2")
    assert train.load_object("total") == 9
    # The task ran from the unpacked package in the container's directory.
    cwd = train.load_object("cwd")
    assert os.path.basename(cwd).startswith("mf-task-") and not os.path.exists(cwd)
    assert train.load_object("where") == os.path.join(cwd, "flow.py")
    # The package: stored once in the flow's CAS on S3, holding the flow's files.
    from metaflow_core.metadata import get_metadata_provider
    from metaflow_core.package import CodePackage

    sha = argument["package"]["sha"]
    assert CodePackage.load(store, sha).info["files"] == ["flow.py", "helper.py"]
    record = get_metadata_provider("local", str(project / ".metaflow" / ".metaflow_core")).run("BatchFlow", run_id)
    assert record["code_package"]["sha"] == sha
    assert record["code_package"]["key"] == "BatchFlow/data/%s/%s" % (sha[:2], sha)


def test_a_batch_step_needs_the_s3_datastore(tmp_path):
    result = subprocess.run(
        [sys.executable, str(flow_path("batch_flow.py")), "run"], cwd=str(tmp_path),
        env=flow_env(tmp_path, {"METAFLOW_BATCH_JOB_QUEUE": QUEUE}), capture_output=True,
        text=True, timeout=60)

    assert result.returncode == 1
    assert "Step train runs on AWS Batch (@batch), which needs the S3 datastore" in result.stderr
    assert "Traceback" not in result.stderr
