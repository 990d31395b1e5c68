"""Resume end to end: a foreach with one failed split, resumed after the fix.

ResumeFlow's split 1 raises while ``RESUME_FAIL=1``; resuming without it must
re-run that split only (and what follows it), cloning the rest unchanged.
"""

import os
import re

import pytest

from runner import (
    assert_failed_cleanly,
    assert_succeeded,
    datastore_problems,
    describe,
    flow_path,
    run_flow,
    run_id_of,
)


def cloned_lines(result):
    """{new task pathspec: origin task pathspec} from the ``Cloning ...`` lines."""
    return dict(re.findall(r"\[(\S+)\] Cloning previously run task (\S+)", result.stderr))


def started_steps(result):
    return sorted(re.findall(r"\[\d+/(\w+)/\d+ \(pid \d+\)\] Task is starting", result.stderr))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The failed origin run, its resume, and a resume of that from ``join``."""
    root = tmp_path_factory.mktemp("resume")
    origin = run_flow("resume_flow.py", "run", cwd=root, env={"RESUME_FAIL": "1"})
    resumed = run_flow("resume_flow.py", "resume", cwd=root)
    rejoined = run_flow("resume_flow.py", "resume", "join", "--origin-run-id",
                        run_id_of(resumed), cwd=root)
    return {"root": root, "origin": origin, "resumed": resumed, "rejoined": rejoined}


@pytest.fixture
def client(runs, open_client):
    return open_client(runs["root"])


def test_origin_run_failed_in_split_one(runs, client):
    origin = runs["origin"]
    failed = re.search(r"Step work \(task-id (\d+)\) failed: ValueError: split 1 fails", origin.stderr)
    assert failed, describe(origin)
    assert_failed_cleanly(origin, runs["root"], "ValueError: split 1 fails")

    run = client.Run("ResumeFlow/%s" % run_id_of(origin))
    assert run.status == "failed"
    by_index = {task.index: task for task in run["work"]}
    assert by_index[1].id == failed.group(1)
    assert not by_index[1].successful
    assert by_index[1].exception.message == "split 1 fails"


def test_resume_reruns_only_the_failed_split(runs, client):
    origin_id = run_id_of(runs["origin"])
    resumed = runs["resumed"]
    assert_succeeded(resumed, runs["root"])
    assert "Gathering required information to resume run" in resumed.stderr

    clones = cloned_lines(resumed)
    assert sorted(path.split("/")[1] for path in clones.values()) == ["start", "work", "work"]
    assert all(path.startswith(origin_id + "/") for path in clones.values())
    assert started_steps(resumed) == ["end", "join", "work"]

    run = client.Run("ResumeFlow/%s" % run_id_of(resumed))
    assert run.successful
    assert run.data.outs == [0, 10, 20]
    assert run.origin_pathspec == "ResumeFlow/%s" % origin_id


def test_cloned_tasks_keep_their_artifacts(runs, client):
    origin = client.Run("ResumeFlow/%s" % run_id_of(runs["origin"]))
    resumed = client.Run("ResumeFlow/%s" % run_id_of(runs["resumed"]))
    clones = cloned_lines(runs["resumed"])
    origin_work = {task.index: task for task in origin["work"]}
    resumed_work = {task.index: task for task in resumed["work"]}

    for index in (0, 2):
        new, old = resumed_work[index], origin_work[index]
        assert clones[new.pathspec.split("/", 1)[1]] == old.pathspec.split("/", 1)[1]
        assert new.origin_pathspec == old.pathspec
        assert new.data.stamp == old.data.stamp
        assert new.data.out == old.data.out == index * 10
        assert {a.id: a.sha for a in new} == {a.id: a.sha for a in old}
        assert new.data.origin_in_work is None
    rerun = resumed_work[1]
    assert rerun.origin_pathspec is None
    assert rerun.data.out == 10
    assert rerun.data.origin_in_work == origin.id
    assert resumed["start"].task.data.start_stamp == origin["start"].task.data.start_stamp
    assert rerun.data.start_stamp == origin["start"].task.data.start_stamp


def test_origin_run_id_in_current(runs, client):
    origin_id = run_id_of(runs["origin"])
    resumed = client.Run("ResumeFlow/%s" % run_id_of(runs["resumed"]))
    assert resumed.data.origin_in_end == origin_id
    assert resumed.data.run_in_end == resumed.id


def test_resume_keeps_latest_run(runs):
    latest = runs["root"] / ".metaflow" / ".metaflow_core" / "ResumeFlow" / "latest_run"
    assert latest.read_text().strip() == run_id_of(runs["origin"])


def test_resume_from_a_step_reruns_it_and_what_follows(runs, client):
    resumed_id = run_id_of(runs["resumed"])
    rejoined = runs["rejoined"]
    assert_succeeded(rejoined, runs["root"])

    clones = cloned_lines(rejoined)
    assert sorted(path.split("/")[1] for path in clones.values()) == [
        "start", "work", "work", "work"]
    assert all(path.startswith(resumed_id + "/") for path in clones.values())
    assert started_steps(rejoined) == ["end", "join"]

    before = client.Run("ResumeFlow/%s" % resumed_id)
    after = client.Run("ResumeFlow/%s" % run_id_of(rejoined))
    assert after.successful
    assert after.data.outs == [0, 10, 20]
    assert after["join"].task.data.join_stamp != before["join"].task.data.join_stamp
    assert after["join"].task.origin_pathspec is None
    assert after.data.origin_in_end == resumed_id
    assert sorted(t.data.stamp for t in after["work"]) == sorted(
        t.data.stamp for t in before["work"])


def test_resume_unknown_step(runs):
    result = run_flow("resume_flow.py", "resume", "nope", cwd=runs["root"])

    assert_failed_cleanly(result, runs["root"], "invalid step name nope specified",
                          "Valid step names include: start, work, join, end")
    assert "Workflow starting" not in result.stderr


def test_resume_unknown_origin(runs):
    result = run_flow("resume_flow.py", "resume", "--origin-run-id", "123", cwd=runs["root"])

    assert_failed_cleanly(result, runs["root"], "Resume could not find run id 123")
    assert "Workflow starting" not in result.stderr
    assert datastore_problems(runs["root"]) == []


def test_cloned_tasks_keep_their_logs(runs, client):
    origin = client.Run("ResumeFlow/%s" % run_id_of(runs["origin"]))
    resumed = client.Run("ResumeFlow/%s" % run_id_of(runs["resumed"]))
    origin_work = {task.index: task for task in origin["work"]}
    for task in resumed["work"]:
        if task.index != 1:
            assert task.stdout == origin_work[task.index].stdout
            assert task.stderr == origin_work[task.index].stderr
            assert "working on %d" % task.index in task.stdout
    shown = run_flow("resume_flow.py", "logs", resumed["start"].task.pathspec.split("/", 1)[1],
                     cwd=runs["root"])
    assert "starting the splits" in shown.stdout, describe(shown)


@pytest.fixture(scope="module")
def params_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume-params")
    origin = run_flow("params_flow.py", "run", "--alpha", "0.75", "--quick", cwd=root)
    resumed = run_flow("params_flow.py", "resume", "start", cwd=root)
    return {"root": root, "origin": origin, "resumed": resumed}


def test_resume_reuses_the_parameters(params_runs, open_client):
    assert_succeeded(params_runs["resumed"], params_runs["root"])
    client = open_client(params_runs["root"])
    run = client.Run("ParamsFlow/%s" % run_id_of(params_runs["resumed"]))
    received = run["start"].task.data.received
    assert received["alpha"] == 0.75 and received["quick"] is True
    assert run["start"].task.origin_pathspec is None


@pytest.mark.parametrize("option", [["--alpha", "3"], ["--quick"], ["--no-quick"]])
def test_resume_refuses_new_parameter_values(params_runs, option):
    result = run_flow("params_flow.py", "resume", *option, cwd=params_runs["root"])

    assert_failed_cleanly(result, params_runs["root"],
                          "Resume keeps the parameter values of the run it resumes: "
                          "%s can't be given to resume" % option[0])
    assert "No such option" not in result.stderr
    assert "Workflow starting" not in result.stderr


def test_resume_runs_changed_code_downstream(tmp_path, open_client):
    """A fix in a step after the failure runs; the steps before it are cloned."""
    source = flow_path("resume_flow.py").read_text()
    flow = tmp_path / "resume_flow.py"
    flow.write_text(source)
    origin = run_flow(flow, "run", cwd=tmp_path, env={"RESUME_FAIL": "1"})
    assert origin.returncode != 0, describe(origin)
    flow.write_text(source.replace("self.outs = [inp.out for inp in inputs]",
                                   "self.outs = [inp.out + 1 for inp in inputs]"))
    resumed = run_flow(flow, "resume", cwd=tmp_path)

    assert_succeeded(resumed, tmp_path)
    assert sorted(p.split("/")[1] for p in cloned_lines(resumed).values()) == [
        "start", "work", "work"]
    run = open_client(tmp_path).Run("ResumeFlow/%s" % run_id_of(resumed))
    assert run.data.outs == [1, 11, 21]
    origin_work = {t.index: t.data.stamp for t in run.parent[run_id_of(origin)]["work"]
                   if t.successful}
    assert {t.index: t.data.stamp for t in run["work"] if t.index != 1} == origin_work


def test_resume_with_one_worker_reruns_the_failed_split_and_those_after_it(tmp_path, open_client):
    executions = tmp_path / "executions.txt"
    (tmp_path / "broken").touch()
    origin = run_flow("resume_splits_flow.py", "run", "--max-workers", "1", cwd=tmp_path)
    assert_failed_cleanly(origin, tmp_path, "ValueError: split 3 fails")
    assert executions.read_text().split("\n")[:-1] == ["start"] + ["work %d" % i for i in range(4)]

    (tmp_path / "broken").unlink()
    executions.write_text("")
    resumed = run_flow("resume_splits_flow.py", "resume", "--max-workers", "1", cwd=tmp_path)
    assert_succeeded(resumed, tmp_path)
    assert executions.read_text().split("\n")[:-1] == [
        "work 3", "work 4", "work 5", "join", "end"]
    run = open_client(tmp_path).Run("ResumeSplitsFlow/%s" % run_id_of(resumed))
    assert run.data.outs == [0, 10, 20, 30, 40, 50]
    assert sorted(t.index for t in run["work"] if t.origin_pathspec) == [0, 1, 2]


def test_resume_of_a_run_on_s3(moto_server, tmp_path, open_client):
    origin = run_flow("resume_flow.py", "--datastore", "s3", "run", cwd=tmp_path,
                      env={"RESUME_FAIL": "1"})
    assert origin.returncode != 0, describe(origin)
    resumed = run_flow("resume_flow.py", "--datastore", "s3", "resume", cwd=tmp_path)
    assert_succeeded(resumed, tmp_path)
    assert started_steps(resumed) == ["end", "join", "work"]
    assert len(cloned_lines(resumed)) == 3  # start and the two splits that succeeded
    client = open_client(tmp_path)
    client.namespace(None)
    run = client.Flow("ResumeFlow")[run_id_of(resumed)]
    assert run.successful and run.data.outs == [0, 10, 20]
    assert not any(os.path.isdir(os.path.join(tmp_path, ".metaflow", "ResumeFlow", r))
                   for r in (run_id_of(origin), run_id_of(resumed)))
