"""--event-file: a run's progress as JSON lines, written as the runtime goes."""

import json

from runner import assert_succeeded, describe, run_flow


def _events(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _kinds(events):
    """(event, step) of every event but task output, in order."""
    return [(e["event"], e.get("step")) for e in events if e["event"] != "task_output"]


def test_a_foreach_run_writes_its_events_in_order(tmp_path):
    path = tmp_path / "events.jsonl"
    result = run_flow("foreach_flow.py", "run", "--event-file", path, cwd=tmp_path)
    assert_succeeded(result, tmp_path)
    events = _events(path)

    first, last = events[0], events[-1]
    assert first["event"] == "run_started"
    assert first["flow"] == "ForeachFlow"
    assert first["steps"] == 4
    assert first["pathspec"].startswith("ForeachFlow/")
    assert last["event"] == "run_finished"
    assert (last["status"], last["tasks"]) == ("succeeded", 6)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)

    run_id = first["pathspec"].split("/")[1]
    for event in events:
        if "pathspec" in event and event["event"] != "run_started":
            assert event["pathspec"].startswith("ForeachFlow/%s/%s/" % (run_id, event["step"]))
    steps = [(e["step"], e["tasks"]) for e in events if e["event"] == "step_finished"]
    assert steps == [("start", 1), ("square", 3), ("join", 1), ("end", 1)]
    started = [e["step"] for e in events if e["event"] == "task_started"]
    assert started == ["start", "square", "square", "square", "join", "end"]
    # A step is finished only after the last of its tasks.
    square = [kind for kind in _kinds(events) if kind[1] == "square"]
    assert square[-2:] == [("task_finished", "square"), ("step_finished", "square")]
    assert all(e["cloned"] is False for e in events if e["event"] == "task_finished")


def test_a_retried_task_has_its_retry_and_its_output_as_events(tmp_path):
    path = tmp_path / "events.jsonl"
    result = run_flow("retry_flow.py", "run", "--event-file", path, cwd=tmp_path)
    assert_succeeded(result, tmp_path)
    events = _events(path)

    flaky = [(e["event"], e["attempt"]) for e in events
             if e.get("step") == "flaky" and e["event"] not in ("task_output", "step_finished")]
    assert flaky == [("task_started", 0), ("task_retrying", 0), ("task_started", 1),
                     ("task_finished", 1)]
    # Both attempts are one task.
    attempts = {e["pathspec"] for e in events if e.get("step") == "flaky" and "pathspec" in e}
    assert len(attempts) == 1
    output = [(e["attempt"], e["stream"], e["line"]) for e in events
              if e["event"] == "task_output" and e["step"] == "flaky" and e["stream"] == "stdout"]
    assert output == [(0, "stdout", "attempt 0"), (1, "stdout", "attempt 1")]
    retrying = next(e for e in events if e["event"] == "task_retrying")
    assert retrying["return_code"] != 0
    assert events[-1]["tasks"] == 4


def test_a_failed_task_is_an_event_and_the_run_ends_failed(tmp_path):
    path = tmp_path / "events.jsonl"
    result = run_flow("fail_flow.py", "run", "--event-file", path, cwd=tmp_path)
    assert result.returncode == 1, describe(result)
    events = _events(path)

    assert _kinds(events) == [
        ("run_started", None),
        ("task_started", "start"), ("task_finished", "start"), ("step_finished", "start"),
        ("task_started", "boom"), ("task_failed", "boom"),
        ("run_finished", None),
    ]
    last = events[-1]
    assert (last["event"], last["status"], last["tasks"]) == ("run_finished", "failed", 2)
    assert "boom in the boom step" in last["reason"]
    assert any(e["event"] == "task_output" and e["stream"] == "stderr"
               and "boom in the boom step" in e["line"] for e in events)


def test_a_quiet_run_still_writes_its_output_as_events(tmp_path):
    path = tmp_path / "events.jsonl"
    result = run_flow("retry_flow.py", "--quiet", "run", "--event-file", path, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert "attempt 0" not in result.stderr
    lines = [e["line"] for e in _events(path) if e["event"] == "task_output"]
    assert "attempt 0" in lines and "attempt 1" in lines


def test_a_resume_counts_its_clones(tmp_path):
    origin = run_flow("resume_flow.py", "run", cwd=tmp_path, env={"RESUME_FAIL": "1"})
    assert origin.returncode == 1, describe(origin)
    path = tmp_path / "events.jsonl"
    result = run_flow("resume_flow.py", "resume", "--event-file", path, cwd=tmp_path)
    assert_succeeded(result, tmp_path)
    events = _events(path)

    assert events[0]["origin_run_id"] is not None
    finished = [(e["step"], e["cloned"]) for e in events if e["event"] == "task_finished"]
    assert sorted(finished) == sorted([("start", True), ("work", True), ("work", True),
                                       ("work", False), ("join", False), ("end", False)])
    # Only the tasks that ran again count as the run's tasks.
    assert events[-1]["tasks"] == 3
    assert [e["step"] for e in events if e["event"] == "step_finished"] == [
        "start", "work", "join", "end"]


def test_an_event_file_that_cannot_be_written_stops_the_run_before_it_starts(tmp_path):
    path = tmp_path / "missing" / "events.jsonl"
    result = run_flow("linear_flow.py", "run", "--event-file", path, cwd=tmp_path)
    assert result.returncode != 0, describe(result)
    assert "Could not write --event-file" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".metaflow" / "LinearFlow").exists()
