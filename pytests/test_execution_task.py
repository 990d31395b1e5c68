"""Step Functions executions that run, end to end, against moto's server.

The server here (moto_compute.py) executes state machines and runs each Batch
job's container command as a local process in a clean environment, so an
execution is what AWS would do: the state machine ``step-functions create``
deployed submits a job per task, a Map per foreach over the indices the foreach
task's job left in S3, a Parallel per static split; each job runs its task from
the code package against S3 (execution_task.py). The runs are then read back
with the client, as any run.
"""

import json
import re
import shutil
import subprocess
import sys
import time

import pytest

from runner import describe, flow_env, run_flow
from test_step_functions import BATCH, ROLE

MOTO_COMPUTE = True
QUEUE = BATCH["METAFLOW_BATCH_JOB_QUEUE"]
EXECUTION_SECONDS = 240


@pytest.fixture
def aws(moto_server, monkeypatch):
    """A Batch queue moto's compute server runs jobs from, and Step Functions' role."""
    for name, value in BATCH.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("METAFLOW_SFN_IAM_ROLE", ROLE)
    moto_server.make_batch_queue(QUEUE)
    return moto_server


def read_run(open_client, root, pathspec):
    """The run, through the client in the flow's directory, in every namespace."""
    client = open_client(root)
    client.namespace(None)
    return client.Run(pathspec)


def sfn(flow_file, *args, cwd, ok=True):
    result = run_flow(flow_file, "--datastore", "s3", "step-functions", *args, cwd=cwd)
    assert (result.returncode == 0) == ok, describe(result)
    return result


def execute(aws, flow_file, cwd, *parameters):
    """Create, trigger and wait for the execution: (run id, its description, what
    happened in it)."""
    sfn(flow_file, "create", cwd=cwd)
    started = sfn(flow_file, "trigger", *parameters, cwd=cwd)
    found = re.search(r"Execution (\S+) started: run \w+/(sfn-\S+)\.", started.stderr)
    assert found, describe(started)
    arn, run_id = found.groups()
    return run_id, wait_for(aws, arn), what_happened(aws, arn)


def wait_for(aws, arn):
    """The execution's description once it has ended."""
    client = aws.client("stepfunctions")
    deadline = time.monotonic() + EXECUTION_SECONDS
    while True:
        execution = client.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        assert time.monotonic() < deadline, "the execution is still running"
        time.sleep(0.5)


def what_happened(aws, arn):
    """The execution's failure events and every job's output, for assertion messages."""
    events = aws.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    text = [json.dumps({k: v for k, v in e.items() if k.endswith("Details")}, default=str)
            for e in events if "Failed" in e["type"] or "Aborted" in e["type"]]
    logs = aws.client("logs")
    try:
        streams = logs.describe_log_streams(logGroupName="/aws/batch/job")["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        streams = []
    for stream in streams:
        events = logs.get_log_events(logGroupName="/aws/batch/job",
                                     logStreamName=stream["logStreamName"])["events"]
        text.append("--- %s\n%s" % (stream["logStreamName"],
                                    "\n".join(e["message"] for e in events)))
    return "\n".join(text)


def test_a_nested_foreach_runs_as_nested_maps_of_batch_jobs(aws, tmp_path, open_client):
    run_id, execution, logs = execute(aws, "nested_foreach_flow.py", tmp_path)
    assert execution["status"] == "SUCCEEDED", logs
    run = read_run(open_client, tmp_path, "NestedForeachFlow/" + run_id)
    assert run.successful and run.finished
    assert run.data.all_labels == [["a1", "a2", "a3"], ["b1", "b2", "b3"]]
    assert run.data.all_inner_indices == [[0, 1, 2], [0, 1, 2]]
    assert run.data.after_outer_join == []
    assert sorted(t.id for t in run["inner"]) == ["0-%d-%d" % (i, j)
                                                   for i in range(2) for j in range(3)]
    assert "runtime:step-functions" in run.system_tags
    jobs = aws.client("batch").list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")
    # start, 2 outer, 6 inner, 2 inner_join, outer_join, end: one job per task.
    assert len(jobs["jobSummaryList"]) == 13


def test_a_branch_runs_as_a_parallel_state(aws, tmp_path, open_client):
    run_id, execution, logs = execute(aws, "branch_flow.py", tmp_path)
    assert execution["status"] == "SUCCEEDED", logs
    run = read_run(open_client, tmp_path, "BranchFlow/" + run_id)
    assert run.successful
    assert sorted(s.id for s in run) == ["a", "b", "end", "join", "start"]
    join = run["join"].task.data
    assert (join.from_a, join.from_b, join.by_iteration, join.num_inputs) == (1, 2, [1, 2], 2)


def test_trigger_parameters_reach_the_run_converted_and_the_rest_take_defaults(
        aws, tmp_path, open_client):
    run_id, execution, logs = execute(aws, "params_flow.py", tmp_path, "--text", "hi there",
                                      "--count", "7")
    assert execution["status"] == "SUCCEEDED", logs
    received = read_run(open_client, tmp_path, "ParamsFlow/" + run_id).data.received
    assert received["text"] == "hi there" and received["count"] == 7
    assert received["alpha"] == 0.5 and received["sizes"] == [1, 2]
    assert received["computed"] == "ParamsFlow/computed"
    listed = sfn("params_flow.py", "list-runs", cwd=tmp_path).stdout.splitlines()
    assert listed[1].split()[:2] == [run_id, "SUCCEEDED"]


def test_a_failing_task_fails_the_execution_and_the_run(aws, tmp_path, open_client):
    run_id, execution, logs = execute(aws, "fail_flow.py", tmp_path)
    assert execution["status"] == "FAILED", logs
    assert "ValueError: boom in the boom step" in logs
    run = read_run(open_client, tmp_path, "FailFlow/" + run_id)
    # Recorded by the failed task's job: not left "running" for the client to guess.
    assert run.status == "failed" and not run.successful
    assert "Step *boom* (task-id 0) failed" in run.status_reason
    task = run["boom"].task
    assert task.exception.type == "ValueError" and task.data.partial == "set before the error"
    assert [s.id for s in run] == ["boom", "start"]


R_FLOW = """
library(metaflow)
flow <- metaflow("RStepFunctionsFlow") %>%
  parameter("scale", default = 10L, type = "int") %>%
  step(step = "start", r_function = function(self) self$genres <- c("Drama", "Sci-Fi", "War"),
       next_step = "stats", foreach = "genres") %>%
  step(step = "stats", r_function = function(self) self$n <- nchar(self$input) * self$scale,
       next_step = "join") %>%
  step(step = "join", join = TRUE, next_step = "end",
       r_function = function(self, inputs) self$total <- sum(sapply(inputs, function(i) i$n))) %>%
  step(step = "end")
run(flow)
"""


def test_an_r_foreach_flow_runs_as_an_execution(aws, tmp_path, open_client):
    rscript = shutil.which("Rscript")
    assert rscript, "the R Step Functions test needs R: Rscript is not on the PATH"
    flow_file = tmp_path / "flow.R"
    flow_file.write_text(R_FLOW)
    env = flow_env(tmp_path, dict(BATCH, METAFLOW_SFN_IAM_ROLE=ROLE, METAFLOW_PYTHON=sys.executable))

    def rscript_flow(*args):
        result = subprocess.run([rscript, str(flow_file), "--datastore", "s3",
                                 "step-functions"] + list(args), cwd=str(tmp_path), env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=180)
        assert result.returncode == 0, describe(result)
        return result

    rscript_flow("create")
    started = rscript_flow("trigger", "--scale", "3")
    arn, run_id = re.search(r"Execution (\S+) started: run \w+/(sfn-\S+)\.",
                            started.stdout + started.stderr).groups()
    execution = wait_for(aws, arn)
    assert execution["status"] == "SUCCEEDED", what_happened(aws, arn)
    run = read_run(open_client, tmp_path, "RStepFunctionsFlow/" + run_id)
    assert run.successful
    # R values: read back in R, as a user reads them.
    total = subprocess.run(
        [rscript, "-e", "library(metaflow); set_namespace(NULL); "
         "cat(new_run('RStepFunctionsFlow', commandArgs(TRUE)[1])$artifact('total'))", run_id],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    assert total.stdout == str((5 + 6 + 3) * 3), describe(total)


def test_the_task_command_outside_an_execution_is_a_clear_error(aws, tmp_path):
    result = sfn("linear_flow.py", "task", "start", "--code-package", "{}", cwd=tmp_path, ok=False)
    assert result.returncode == 1
    assert "runs inside a Step Functions execution's Batch job, which sets " \
           "METAFLOW_SFN_EXECUTION" in result.stderr
    assert "Traceback" not in result.stderr
