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
import shutil
import signal
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


@pytest.fixture
def batch_queue(moto_server):
    """moto's simple Batch (no Docker), an IAM role, a compute environment and a queue."""
    request = urllib.request.Request(
        moto_server.endpoint + "/moto-api/config", method="POST",
        data=json.dumps({"batch": {"use_docker": False}}).encode())
    urllib.request.urlopen(request, timeout=10).read()
    role = moto_server.make_batch_queue(QUEUE)
    return {"role": role, "batch": moto_server.client("batch"), "logs": moto_server.client("logs")}


def clean_env(moto_server, job_env, home):
    """What a container gets: a PATH with our Python, a HOME, AWS settings, the job's env."""
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "HOME": str(home)}
    env.update({k: v for k, v in moto_server.env().items() if k.startswith("AWS_")})
    env.update(job_env)
    return env


class ComputeEnvironment(object):
    """Runs each job moto has accepted, once, as a container would, and logs its output."""

    def __init__(self, moto_server, aws, tmp_path, run_jobs=True):
        self.moto_server, self.aws, self.tmp_path = moto_server, aws, tmp_path
        # False: the jobs are only collected, never run (a job that hangs).
        self.run_jobs = run_jobs
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
        if not self.run_jobs:
            return
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
    # The run's record lives with its data, on S3.
    record = get_metadata_provider("local", storage=store.storage).run("BatchFlow", run_id)
    assert record["code_package"]["sha"] == sha
    assert record["code_package"]["key"] == "BatchFlow/data/%s/%s" % (sha[:2], sha)


def batch_env(project, aws, **extra):
    env = {"METAFLOW_BATCH_JOB_QUEUE": QUEUE, "METAFLOW_BATCH_CONTAINER_IMAGE": IMAGE,
           "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": aws["role"],
           "METAFLOW_BATCH_RECORD_WAIT_SECONDS": "90"}
    env.update(extra)
    return flow_env(project, env)


def test_with_batch_every_step_is_a_job_and_a_retry_is_a_new_job(moto_server, batch_queue,
                                                                  tmp_path):
    compute = ComputeEnvironment(moto_server, batch_queue, tmp_path)
    try:
        result = subprocess.run(
            [sys.executable, str(flow_path("retry_flow.py")), "--datastore", "s3", "run",
             "--with", "batch:cpu=1,memory=1024"],
            cwd=str(tmp_path), env=batch_env(tmp_path, batch_queue), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=180)
    finally:
        compute.stop()

    assert result.returncode == 0, result.stderr + "\n".join(t for _, t in compute.results)
    names = ["-".join(job["jobName"].rsplit("-", 3)[1:]) for job in compute.jobs]
    assert names == ["start-1-0", "flaky-2-0", "flaky-2-1", "end-3-0"]
    # One definition for all: the same image, role and resources.
    assert len({job["jobDefinition"] for job in compute.jobs}) == 1
    assert "first attempt fails" in result.stderr and "(retry)" in result.stderr
    assert "attempt 1" in result.stderr


def test_an_interrupted_run_terminates_its_job(moto_server, batch_queue, tmp_path):
    compute = ComputeEnvironment(moto_server, batch_queue, tmp_path, run_jobs=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.py").write_text(flow_path("batch_flow.py").read_text())
    try:
        proc = subprocess.Popen(
            [sys.executable, str(project / "flow.py"), "--datastore", "s3", "run",
             "--with", "timeout:seconds=120"],
            cwd=str(project), env=batch_env(project, batch_queue), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while not compute.jobs and time.time() < deadline:
            time.sleep(0.2)
        assert compute.jobs, "no job was submitted"
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        compute.stop()

    assert proc.returncode == 128 + signal.SIGINT, stderr
    [job] = batch_queue["batch"].describe_jobs(jobs=[compute.jobs[0]["jobId"]])["jobs"]
    assert job["statusReason"] == "Stopped by the Metaflow runtime"
    assert "[KILLED BY ORCHESTRATOR]" in stderr
    # The step's own timeout fires before Batch's limit: 120 s + 60 s.
    assert job["timeout"] == {"attemptDurationSeconds": 180}


def test_a_batch_step_needs_the_s3_datastore(tmp_path):
    result = subprocess.run(
        [sys.executable, str(flow_path("batch_flow.py")), "run"], cwd=str(tmp_path),
        env=flow_env(tmp_path, {"METAFLOW_BATCH_JOB_QUEUE": QUEUE}), capture_output=True,
        text=True, timeout=60)

    assert result.returncode == 1
    assert "Step train runs on AWS Batch (@batch), which needs the S3 datastore" in result.stderr
    assert "Traceback" not in result.stderr
    no_queue = subprocess.run(
        [sys.executable, str(flow_path("batch_flow.py")), "--datastore", "s3", "run"],
        cwd=str(tmp_path), env=flow_env(tmp_path, {
            "METAFLOW_BATCH_JOB_QUEUE": "", "METAFLOW_DATASTORE_SYSROOT_S3": "s3://unused/mf",
            # Refused at once: nothing may reach S3 before the check.
            "METAFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9", "METAFLOW_S3_RETRY_COUNT": "1"}),
        capture_output=True, text=True, timeout=60)
    assert no_queue.returncode == 1
    assert ("Step train runs on AWS Batch but names no job queue: give @batch(queue=...) or "
            "set METAFLOW_BATCH_JOB_QUEUE.") in no_queue.stderr
    assert not (tmp_path / ".metaflow" / "BatchFlow").exists()  # no run was made


R_FLOW = """
library(metaflow)
flow <- metaflow("RBatchFlow") %>%
  step(step = "start", batch(cpu = 1, memory = 2048), r_function = function(self) {
    self$x <- 40L + nchar(readLines("notes.R")[1])
    cat("R on batch:", self$x, "from", basename(getwd()), "\\n")
  }, next_step = "end") %>%
  step(step = "end", r_function = function(self) cat("end reads", self$x, "\n"))
run(flow)
"""


def test_an_r_step_on_batch_runs_from_the_code_package(moto_server, batch_queue, tmp_path):
    rscript = shutil.which("Rscript")
    assert rscript, "the R batch test needs R: Rscript is not on the PATH"
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.R").write_text(R_FLOW)
    # A file of the flow's directory the step reads: in the package by its suffix.
    (project / "notes.R").write_text("#!\n")
    compute = ComputeEnvironment(moto_server, batch_queue, tmp_path)
    env = batch_env(project, batch_queue, METAFLOW_PYTHON=sys.executable)
    try:
        result = subprocess.run(
            [rscript, str(project / "flow.R"), "--datastore", "s3", "run",
             "--run-id-file", str(tmp_path / "run_id")],
            cwd=str(project), env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=180)
    finally:
        compute.stop()

    assert result.returncode == 0, result.stdout + result.stderr + "\n".join(
        t for _, t in compute.results)
    [job] = compute.jobs
    assert "R on batch: 42 from mf-task-" in result.stdout + result.stderr
    # The local R step after it reads the job's artifact from S3.
    assert "end reads 42" in result.stdout + result.stderr
    run_id = (tmp_path / "run_id").read_text()
    argument = json.loads(job["container"]["command"][3])
    assert str(project) not in json.dumps(argument)

    from metaflow_core.datastore import FlowDataStore
    from metaflow_core.package import CodePackage

    store = FlowDataStore("RBatchFlow", ds_type="s3")
    package = CodePackage.load(store, argument["package"]["sha"])
    assert package.info["entry"] == "_mf_spec/flow.py"
    assert package.info["files"] == ["_mf_spec/flow.json", "_mf_spec/flow.py",
                                     "_mf_spec/functions.rds", "flow.R", "notes.R"]
    value = store.task(run_id, "start", "1").load_object("x")
    path = tmp_path / "x.rds"
    path.write_bytes(value.rds_bytes)
    read = subprocess.run([rscript, "--vanilla", "-e", "cat(readRDS(commandArgs(TRUE)[1]))",
                           str(path)], capture_output=True, text=True)
    assert read.stdout == "42", read.stderr


def test_a_failed_batch_step_is_resumed_as_a_new_job(moto_server, batch_queue, tmp_path):
    compute = ComputeEnvironment(moto_server, batch_queue, tmp_path)
    env = batch_env(tmp_path, batch_queue)
    command = [sys.executable, str(flow_path("batch_resume_flow.py")), "--datastore", "s3"]
    try:
        first = subprocess.run(command + ["run", "--run-id-file", str(tmp_path / "first")],
                               cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=180)
        resumed = subprocess.run(command + ["resume", "--run-id-file", str(tmp_path / "second")],
                                 cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=180)
    finally:
        compute.stop()

    assert first.returncode == 1 and "fails until resumed" in first.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert "Cloning previously run task" in resumed.stderr and "y is 2" in resumed.stderr
    first_id, second_id = (tmp_path / "first").read_text(), (tmp_path / "second").read_text()
    tasks = [json.loads(job["container"]["command"][3])["task"] for job in compute.jobs]
    assert [(t["step"], t["run_id"], t["origin_run_id"]) for t in tasks] == [
        ("train", first_id, None), ("train", second_id, first_id)]
