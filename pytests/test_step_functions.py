"""The Step Functions deployer against moto's server: ``step-functions create``
(definition read back through describe_state_machine), ``trigger`` (the execution
listed), ``list-runs``, ``--only-json``, and the errors of bad input."""

import json

import pytest

from runner import describe, run_flow

ROLE = "arn:aws:iam::123456789012:role/metaflow-sfn"
BATCH = {"METAFLOW_BATCH_JOB_QUEUE": "metaflow-queue",
         "METAFLOW_BATCH_CONTAINER_IMAGE": "example/metaflow:1"}


@pytest.fixture
def aws(moto_server, monkeypatch):
    for name, value in BATCH.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("METAFLOW_SFN_IAM_ROLE", ROLE)
    return moto_server


def sfn(flow_file, *args, cwd, ok=True):
    result = run_flow(flow_file, "--datastore", "s3", "step-functions", *args, cwd=cwd)
    assert (result.returncode == 0) == ok, describe(result)
    return result


def only_json(flow_file, cwd):
    return json.loads(sfn(flow_file, "create", "--only-json", cwd=cwd).stdout)


def shape(states):
    """Each state's type and where it goes, nested states included."""
    found = {}
    for name, state in states.items():
        entry = [state["Type"], state.get("Next", "END" if state.get("End") else None)]
        if state["Type"] == "Parallel":
            entry.append([shape(b["States"]) for b in state["Branches"]])
        if state["Type"] == "Map":
            entry.append(shape(state["Iterator"]["States"]))
        found[name] = entry
    return found


def test_only_json_of_a_linear_flow(aws, tmp_path):
    definition = only_json("linear_flow.py", tmp_path)
    assert definition["StartAt"] == "start"
    assert shape(definition["States"]) == {
        "start": ["Task", "middle"], "middle": ["Task", "end"], "end": ["Task", "END"]}
    task = definition["States"]["middle"]
    assert task["Resource"] == "arn:aws:states:::batch:submitJob.sync"
    params = task["Parameters"]
    assert params["JobQueue"] == "metaflow-queue"
    command = params["ContainerOverrides"]["Command"]
    assert command[:3] == ["python", "-m", "metaflow_core.remote_task"]
    assert json.loads(command[3])["step_functions"] == {"step": "middle", "max_num_splits": 100}
    assert {"Name": "METAFLOW_RUN_ID",
            "Value.$": "States.Format('sfn-{}', $$.Execution.Name)"} in \
        params["ContainerOverrides"]["Environment"]


def test_only_json_of_a_branch_and_a_nested_foreach(aws, tmp_path):
    assert shape(only_json("branch_flow.py", tmp_path)["States"]) == {
        "start": ["Task", "start_branches"],
        "start_branches": ["Parallel", "join", [{"a": ["Task", "END"]}, {"b": ["Task", "END"]}]],
        "join": ["Task", "end"], "end": ["Task", "END"]}
    nested = only_json("nested_foreach_flow.py", tmp_path)["States"]
    assert shape(nested) == {
        "start": ["Task", "start_splits"],
        "start_splits": ["Task", "start_foreach"],
        "start_foreach": ["Map", "outer_join", {
            "outer": ["Task", "outer_splits"],
            "outer_splits": ["Task", "outer_foreach"],
            "outer_foreach": ["Map", "inner_join", {"inner": ["Task", "END"]}],
            "inner_join": ["Task", "END"]}],
        "outer_join": ["Task", "end"], "end": ["Task", "END"]}
    outer = nested["start_foreach"]["Iterator"]["States"]
    assert sorted(outer["outer_foreach"]["Parameters"]) == [
        "Parameters.$", "split_index_0.$", "split_index_1.$"]
    assert outer["outer_foreach"]["ItemsPath"] == "$.splits_outer.indices"
    # The indices the outer task's job leaves in S3, by the task's id (0-<outer index>).
    assert outer["outer_splits"]["Resource"] == "arn:aws:states:::aws-sdk:s3:getObject"
    assert outer["outer_splits"]["Parameters"] == {
        "Bucket": "metaflow-test",
        "Key.$": "States.Format('metaflow/NestedForeachFlow/sfn-{}/outer/_splits-0-{}.json', "
                 "$$.Execution.Name, $.split_index_0)"}
    assert outer["outer_splits"]["ResultPath"] == "$.splits_outer"


def test_create_deploys_a_definition_moto_accepts_and_updates_it(aws, tmp_path):
    result = sfn("nested_foreach_flow.py", "create", cwd=tmp_path)
    assert "State machine NestedForeachFlow created" in result.stderr, describe(result)
    client = aws.client("stepfunctions")
    arn = client.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    machine = client.describe_state_machine(stateMachineArn=arn)
    assert machine["name"] == "NestedForeachFlow" and machine["roleArn"] == ROLE
    definition = json.loads(machine["definition"])
    assert definition["States"]["start_foreach"]["Type"] == "Map"
    job_definition = definition["States"]["inner_join"] if "inner_join" in definition["States"] \
        else definition["States"]["end"]
    registered = aws.client("batch").describe_job_definitions(
        jobDefinitions=[job_definition["Parameters"]["JobDefinition"]])["jobDefinitions"]
    assert registered[0]["containerProperties"]["image"] == "example/metaflow:1"

    again = sfn("nested_foreach_flow.py", "create", cwd=tmp_path)
    assert "State machine NestedForeachFlow updated" in again.stderr
    assert len(client.list_state_machines()["stateMachines"]) == 1


def test_create_of_a_branch_has_a_parallel_state(aws, tmp_path):
    sfn("branch_flow.py", "create", cwd=tmp_path)
    client = aws.client("stepfunctions")
    arn = client.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    states = json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"])["States"]
    assert states["start_branches"]["Type"] == "Parallel"
    assert [b["StartAt"] for b in states["start_branches"]["Branches"]] == ["a", "b"]


def test_trigger_starts_an_execution_with_the_parameters_and_list_runs_shows_it(aws, tmp_path):
    sfn("params_flow.py", "create", cwd=tmp_path)
    result = sfn("params_flow.py", "trigger", "--text", "hi there", "--count", "7", cwd=tmp_path)
    assert "started: run ParamsFlow/sfn-" in result.stderr, describe(result)
    client = aws.client("stepfunctions")
    arn = client.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    executions = client.list_executions(stateMachineArn=arn)["executions"]
    assert len(executions) == 1
    started = client.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(started["input"]) == {"Parameters": {"text": "hi there", "count": "7"}}
    assert "run ParamsFlow/sfn-%s." % executions[0]["name"] in result.stderr

    listed = sfn("params_flow.py", "list-runs", cwd=tmp_path).stdout.splitlines()
    assert listed[0].split() == ["RUN_ID", "STATUS", "STARTED", "STOPPED"]
    assert listed[1].split()[0] == "sfn-" + executions[0]["name"]


def test_bad_input_is_a_clear_error(aws, tmp_path, monkeypatch):
    result = sfn("linear_flow.py", "trigger", cwd=tmp_path, ok=False)
    assert "has no state machine *LinearFlow*" in result.stderr or \
        "has no state machine LinearFlow" in result.stderr, describe(result)
    assert "Traceback" not in result.stderr
    monkeypatch.delenv("METAFLOW_SFN_IAM_ROLE")
    result = sfn("linear_flow.py", "create", cwd=tmp_path, ok=False)
    assert "METAFLOW_SFN_IAM_ROLE" in result.stderr and "Traceback" not in result.stderr
    local = run_flow("linear_flow.py", "step-functions", "create", cwd=tmp_path)
    assert local.returncode != 0 and "--datastore s3" in local.stderr, describe(local)
