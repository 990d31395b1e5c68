"""FlowSpec end to end: graph shapes, foreach, joins, merge_artifacts and ``current``.

Every test runs a real flow from ``pytests/flows/`` with ``python flow.py run``
and reads the results back with the client.
"""

import pytest

from flowfiles import write_flow
from runner import assert_failed_cleanly, assert_succeeded, describe, run_flow, run_id_of


def run_ok(open_client, tmp_path, flow_file, *args, timeout=120):
    """Run a flow that must succeed; return (client Run, CompletedProcess)."""
    result = run_flow(flow_file, "run", *args, cwd=tmp_path, timeout=timeout)
    assert_succeeded(result, tmp_path)
    client = open_client(tmp_path)
    flow_name = client.Metaflow().flows[0].id
    run = client.Run("%s/%s" % (flow_name, run_id_of(result)))
    assert run.successful
    return run, result


def run_failing(open_client, tmp_path, flow_file, *args, messages=()):
    """Run a flow that must fail cleanly; return (client Run, CompletedProcess)."""
    result = run_flow(flow_file, "run", *args, cwd=tmp_path)
    assert_failed_cleanly(result, tmp_path, *messages)
    client = open_client(tmp_path)
    flow_name = client.Metaflow().flows[0].id
    run = client.Run("%s/%s" % (flow_name, run_id_of(result)))
    assert run.status == "failed"
    assert not run.successful
    return run, result


# linear and static branches

@pytest.fixture(scope="module")
def linear_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("linear")
    result = run_flow("linear_flow.py", "run", cwd=root)
    assert_succeeded(result, root)
    return root, run_id_of(result)


@pytest.fixture
def linear_run(linear_root, open_client):
    root, run_id = linear_root
    return open_client(root).Run("LinearFlow/%s" % run_id)


def test_linear_flow_passes_artifacts_down(linear_run):
    assert linear_run.successful
    assert linear_run["start"].task.data.a == 1
    assert linear_run["middle"].task.data.a == 2
    assert linear_run.data.a == 2
    assert linear_run.data.b == 20
    assert [step.id for step in linear_run] == ["end", "middle", "start"]


def test_static_branch_join_sees_each_input(open_client, tmp_path):
    run, _ = run_ok(open_client, tmp_path, "branch_flow.py")

    join = run["join"].task.data
    assert join.from_a == 1
    assert join.from_b == 2
    assert join.by_iteration == [1, 2]
    assert join.num_inputs == 2
    assert run["a"].task.data.x == 1
    assert run["b"].task.data.x == 2


# foreach

def test_foreach_over_one_item(open_client, tmp_path):
    run, _ = run_ok(open_client, tmp_path, "foreach_flow.py", "--num", "1")

    assert run.data.values == [0]
    assert run.data.positions == [0]
    assert len(list(run["square"])) == 1


def test_foreach_over_fifty_items(open_client, tmp_path):
    run, result = run_ok(open_client, tmp_path, "foreach_flow.py", "--num", "50", timeout=300)

    assert "Foreach yields 50 child steps." in result.stderr
    assert run.data.values == [i * i for i in range(50)]
    assert run.data.positions == list(range(50))
    assert run.data.total == sum(i * i for i in range(50))
    tasks = list(run["square"])
    assert len(tasks) == 50
    assert sorted(t.index for t in tasks) == list(range(50))
    for task in tasks:
        assert task.data.value == task.index ** 2
        assert task.foreach_stack[-1]["num_splits"] == 50


@pytest.mark.parametrize("kind, message", [
    ("empty", "Foreach iterator over items in step start produced zero splits. Check your "
              "variable."),
    ("missing", "Foreach variable self.items in step start does not exist. Check your "
                "variable."),
    ("notiterable", "Foreach variable self.items in step start is not iterable. Please check "
                    "details: 'int' object is not iterable"),
])
def test_bad_foreach_artifact_fails_the_run(open_client, tmp_path, kind, message):
    run, result = run_failing(
        open_client, tmp_path, "foreach_errors_flow.py", "--kind", kind,
        messages=["Invalid foreach", message,
                  "Step start (task-id 1) failed:"],
    )

    start = run["start"].task
    assert not start.successful
    assert start.exception.message.replace("*", "") == message
    assert "body" not in run


def test_nested_foreach_sees_both_levels(open_client, tmp_path):
    run, _ = run_ok(open_client, tmp_path, "nested_foreach_flow.py")

    data = run.data
    assert data.all_labels == [["a1", "a2", "a3"], ["b1", "b2", "b3"]]
    assert data.all_inner_indices == [[0, 1, 2], [0, 1, 2]]
    assert data.all_inner_inputs == [[1, 2, 3], [1, 2, 3]]
    assert data.all_stacks == [
        [[(outer, 2, letter), (inner, 3, str(inner + 1))] for inner in range(3)]
        for outer, letter in enumerate("ab")
    ]
    assert data.after_inner_joins == [[(0, 2, "a")], [(1, 2, "b")]]
    assert data.after_outer_join == []

    inner_tasks = list(run["inner"])
    assert len(inner_tasks) == 6
    assert sorted(t.data.label for t in inner_tasks) == ["a1", "a2", "a3", "b1", "b2", "b3"]
    for task in inner_tasks:
        outer_frame, inner_frame = task.foreach_stack
        assert task.data.letter == "ab"[outer_frame["index"]]
        assert task.data.inner_input == inner_frame["index"] + 1
    assert len(list(run["inner_join"])) == 2


def test_max_num_splits_exceeded(open_client, tmp_path):
    run_failing(
        open_client, tmp_path, "foreach_flow.py", "--num", "5", "--max-num-splits", "3",
        messages=["Foreach in step start yielded 5 child steps which is more than the current "
                  "maximum of 3 children. You can raise the maximum with the --max-num-splits "
                  "option."],
    )


def test_one_worker_gives_the_same_result_as_many(open_client, tmp_path):
    serial_root, parallel_root = tmp_path / "serial", tmp_path / "parallel"
    serial_root.mkdir()
    parallel_root.mkdir()
    serial, _ = run_ok(open_client, serial_root, "foreach_flow.py", "--num", "4",
                       "--max-workers", "1")
    parallel, _ = run_ok(open_client, parallel_root, "foreach_flow.py", "--num", "4")

    assert serial.data.values == parallel.data.values == [0, 1, 4, 9]
    assert serial.data.total == parallel.data.total == 14
    # With one worker, no two tasks of the run were ever alive at the same time.
    open_client(serial_root)
    spans = sorted(
        (int(t.metadata_dict["started_at"]), int(t.metadata_dict["finished_at"]))
        for step in serial for t in step
    )
    assert len(spans) == 7
    for (_, finished), (started, _) in zip(spans, spans[1:]):
        assert finished <= started


# merge_artifacts

@pytest.mark.parametrize("mode, expected, absent", [
    ("plain", {"common": "same", "only_a": "from a", "only_b": "from b", "clash": "resolved"},
     []),
    ("include", {"common": "same", "only_a": "from a"}, ["only_b", "clash"]),
    ("exclude", {"common": "same", "only_a": "from a", "only_b": "from b"}, ["clash"]),
])
def test_merge_artifacts(open_client, tmp_path, mode, expected, absent):
    run, _ = run_ok(open_client, tmp_path, "merge_flow.py", "--mode", mode)

    join = run["join"].task.data
    for name, value in expected.items():
        assert getattr(join, name) == value
    for name in absent:
        assert name not in join
    assert run.data.common == "same"


def test_merge_artifacts_conflict(open_client, tmp_path):
    run, result = run_failing(
        open_client, tmp_path, "merge_flow.py", "--mode", "conflict",
        messages=["Unhandled artifacts in merge",
                  "Step join cannot merge the following artifacts due to them having "
                  "conflicting values:", "[clash]."],
    )

    join = run["join"].task
    assert not join.successful
    assert "cannot merge the following artifacts due to them having conflicting values" \
        in join.exception.message
    assert "end" not in run


def test_merge_artifacts_include_missing(open_client, tmp_path):
    run_failing(
        open_client, tmp_path, "merge_flow.py", "--mode", "missing",
        messages=["Missing artifacts in merge",
                  "Step join specifies that [nowhere] should be merged but [nowhere] are not "
                  "present."],
    )


# current

def test_current_inside_steps(linear_run):
    run_id = linear_run.id
    username = linear_run["start"].task.data.start_current["username"]
    for step_name, snapshot in (("start", linear_run["start"].task.data.start_current),
                                ("end", linear_run.data.end_current)):
        task = linear_run[step_name].task
        assert snapshot == {
            "flow_name": "LinearFlow",
            "run_id": run_id,
            "step_name": step_name,
            "task_id": task.id,
            "retry_count": 0,
            "pathspec": "LinearFlow/%s/%s/%s" % (run_id, step_name, task.id),
            "namespace": "user:%s" % username,
            "username": username,
            "is_running_flow": True,
            "origin_run_id": None,
        }
    assert "user:%s" % username in linear_run.system_tags


def test_current_outside_a_flow():
    from metaflow_core import current

    assert current.is_running_flow is False
    assert current.pathspec is None
    assert current.get("run_id") is None


def test_an_artifact_named_like_a_step_is_refused(open_client, tmp_path):
    message = ("Artifact work can't be set in step start: a step of the flow has that name. "
               "Rename the artifact.")
    run, _ = run_failing(open_client, tmp_path, "shadow_flow.py",
                         messages=["Invalid artifact name", message])

    assert run["start"].task.exception.message.replace("*", "") == message


@pytest.mark.parametrize("assigned", ["self", "inputs", "Other(use_cli=False)"])
def test_a_flow_or_a_joins_inputs_cant_be_an_artifact(open_client, tmp_path, assigned):
    from flowfiles import write_flow

    flow_file = write_flow(tmp_path, '''
        from metaflow_core import FlowSpec, step


        class Other(FlowSpec):
            """Another flow, not run."""


        class ReassignFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a, self.b)

            @step
            def a(self):
                self.next(self.join)

            @step
            def b(self):
                self.next(self.join)

            @step
            def join(self, inputs):
                self.kept = %s
                self.next(self.end)

            @step
            def end(self):
                pass


        if __name__ == "__main__":
            ReassignFlow()
        ''' % assigned)

    run, _ = run_failing(open_client, tmp_path, flow_file,
                         messages=["Flows can't be serialized.", "Artifact kept in step join."])

    assert not run["join"].task.successful


def test_an_artifact_name_that_is_no_identifier_is_refused_when_set(tmp_path, open_client):
    path = write_flow(tmp_path, """
        from metaflow_core import FlowSpec, step

        class EvilFlow(FlowSpec):
            @step
            def start(self):
                setattr(self, "../../evil", 1)
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            EvilFlow()
        """)
    result = run_flow(path, "run", cwd=tmp_path)
    assert result.returncode != 0, describe(result)
    assert "Artifact name ../../evil set in step start is not valid" in result.stderr, \
        describe(result)
    run_id = run_id_of(result)
    task = open_client(tmp_path).Task("EvilFlow/%s/start/1" % run_id)
    assert task.exception.type == "InvalidArtifactName"
    assert not any(path.name.endswith("evil") for path in tmp_path.rglob("*"))
