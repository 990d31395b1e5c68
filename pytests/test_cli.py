"""The flow command line: show, check, dump, logs, tag and the options of run."""

import os
import pickle
import signal

import pytest

from runner import (
    assert_failed_cleanly,
    assert_succeeded,
    describe,
    engine_lines,
    run_flow,
    run_id_of,
    start_flow,
    wait_for,
)


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """One LinearFlow run, tagged, its id written to a file: (root, run id, result)."""
    root = tmp_path_factory.mktemp("cli")
    result = run_flow("linear_flow.py", "run", "--tag", "mytag", "--tag", "other",
                      "--run-id-file", "run-id.txt", cwd=root)
    assert_succeeded(result, root)
    return root, run_id_of(result), result


def cli(linear, *args):
    root = linear[0]
    return run_flow("linear_flow.py", *args, cwd=root)


def test_run_id_file(linear):
    root, run_id, _ = linear
    assert (root / "run-id.txt").read_text() == run_id


def test_run_output(linear):
    _, run_id, result = linear
    stderr = result.stderr
    assert "Workflow starting (run-id %s):" % run_id in stderr
    assert "[%s/start/1 (pid " % run_id in stderr
    assert "Task is starting." in stderr
    assert "Task finished successfully." in stderr
    # What a step prints is echoed, prefixed with its task.
    assert "[%s/start/1 (pid" % run_id in next(
        line for line in stderr.splitlines() if line.endswith("hello from stdout"))
    assert stderr.rstrip().splitlines()[-1].startswith("Done!")


def test_tags_given_to_run(linear, open_client):
    root, run_id, _ = linear
    run = open_client(root).Run("LinearFlow/%s" % run_id)
    assert {"mytag", "other"} <= set(run.user_tags)
    assert "runtime:dev" in run.system_tags
    assert any(tag.startswith("user:") for tag in run.system_tags)
    tagged = open_client(root).Flow("LinearFlow").runs("mytag")
    assert [r.pathspec for r in tagged] == [run.pathspec]


def test_show(linear):
    result = cli(linear, "show")

    assert result.returncode == 0, describe(result)
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert "A linear flow used by the runtime and CLI tests." in lines
    steps = [line for line in lines if line.startswith("Step ")]
    assert steps == ["Step start", "Step middle", "Step end"]
    start = lines.index("Step start")
    assert lines[start + 1:start + 3] == ["    Set the first artifact.", "    => middle"]
    end = lines.index("Step end")
    assert lines[end + 1] == "    Derive the last one."
    assert not any(line.startswith("    =>") for line in lines[end + 1:])


def test_check_good_flow(linear):
    result = cli(linear, "check")

    assert result.returncode == 0, describe(result)
    assert "The graph looks good!" in result.stderr


def test_no_command_checks(linear):
    result = cli(linear)

    assert result.returncode == 0, describe(result)
    assert "The graph looks good!" in result.stderr


def test_help_names_check_the_default_command(linear):
    result = cli(linear, "help")

    assert result.returncode == 0, describe(result)
    commands = result.stdout.split("Commands:")[1]
    assert "check       Check that the flow is valid (this is the default command)." in commands
    assert "run         Run the workflow locally.\n" in commands


def test_dump_task(linear):
    _, run_id, _ = linear
    result = cli(linear, "dump", "%s/start/1" % run_id)

    assert result.returncode == 0, describe(result)
    assert "Dumping output of run_id=%s step=start task_id=1" % run_id in result.stderr
    assert "a [size:" in result.stdout
    assert "type: int] = 1" in result.stdout
    assert "start_current [size:" in result.stdout
    assert "b [size" not in result.stdout


def test_dump_step_to_file(linear):
    root, run_id, _ = linear
    out = root / "dump.pkl"
    result = cli(linear, "dump", "%s/end" % run_id, "--file", str(out))

    assert result.returncode == 0, describe(result)
    with open(str(out), "rb") as f:
        dumped = pickle.load(f)
    (pathspec, values), = dumped.items()
    assert pathspec.startswith("%s/end/" % run_id)
    assert values["a"] == 2 and values["b"] == 20


def test_dump_unknown_run(linear):
    result = cli(linear, "dump", "12345/start/1")

    assert result.returncode != 0
    assert "12345" in result.stderr
    assert engine_lines(result.stderr) == []


def test_logs_show_both_streams(linear):
    _, run_id, _ = linear
    result = cli(linear, "logs", "%s/start/1" % run_id)

    assert result.returncode == 0, describe(result)
    assert "Dumping logs of run_id=%s step=start task_id=1" % run_id in result.stderr
    assert "hello from stdout" in result.stdout.splitlines()
    assert "hello from stderr" in result.stdout.splitlines()


def test_logs_one_stream(linear):
    _, run_id, _ = linear
    only_out = cli(linear, "logs", "%s/start/1" % run_id, "--stdout")
    only_err = cli(linear, "logs", "%s/start/1" % run_id, "--stderr")

    assert only_out.stdout.splitlines() == ["hello from stdout"], describe(only_out)
    assert only_err.stdout.splitlines() == ["hello from stderr"], describe(only_err)


def test_logs_are_captured_while_the_task_runs(tmp_path, open_client):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    proc = start_flow("sleep_foreach_flow.py", "run", "--num", "1", "--seconds", "60",
                      "--run-id-file", "run-id.txt", cwd=tmp_path, env={"PID_DIR": str(pid_dir)})
    try:
        wait_for(lambda: (pid_dir / "0.pid").exists(), what="the task to start")
        run_id = (tmp_path / "run-id.txt").read_text()

        def logged():
            result = run_flow("sleep_foreach_flow.py", "logs", "%s/work" % run_id,
                              cwd=tmp_path)
            return "working on 0" in result.stdout.splitlines()

        wait_for(logged, timeout=20, interval=0.2, what="the line in the running task's log")
        task = next(iter(open_client(tmp_path).Run("SleepForeachFlow/%s" % run_id)["work"]))
        assert task.stdout == "working on 0\n"
        assert not task.finished
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode != 0


def test_tag_add_remove_list(tmp_path, open_client):
    result = run_flow("linear_flow.py", "run", "--tag", "keep", cwd=tmp_path)
    assert_succeeded(result, tmp_path)
    run_id = run_id_of(result)

    added = run_flow("linear_flow.py", "tag", "add", "foo", "bar", "--run-id", run_id,
                     cwd=tmp_path)
    assert added.returncode == 0, describe(added)
    listed = run_flow("linear_flow.py", "tag", "list", run_id, cwd=tmp_path)
    assert "user tags: bar, foo, keep" in listed.stdout, describe(listed)
    assert "runtime:dev" in listed.stdout

    removed = run_flow("linear_flow.py", "tag", "remove", "foo", "--run-id", run_id,
                       cwd=tmp_path)
    assert removed.returncode == 0, describe(removed)
    run = open_client(tmp_path).Run("LinearFlow/%s" % run_id)
    assert sorted(run.user_tags) == ["bar", "keep"]

    refused = run_flow("linear_flow.py", "tag", "remove", "runtime:dev", "--run-id", run_id,
                       cwd=tmp_path)
    assert refused.returncode != 0, describe(refused)
    assert "Cannot remove system tags: runtime:dev" in refused.stderr
    assert engine_lines(refused.stderr) == []
    run = open_client(tmp_path).Run("LinearFlow/%s" % run_id)
    assert "runtime:dev" in run.system_tags
    assert sorted(run.user_tags) == ["bar", "keep"]

    hidden = run_flow("linear_flow.py", "tag", "list", "--hide-system-tags", cwd=tmp_path)
    assert "user tags: bar, keep" in hidden.stdout, describe(hidden)
    assert "runtime:dev" not in hidden.stdout


def test_quiet_run(tmp_path, open_client):
    result = run_flow("linear_flow.py", "--quiet", "run", cwd=tmp_path)

    assert result.returncode == 0, describe(result)
    assert "Workflow starting" not in result.stderr
    assert "Task is starting" not in result.stderr
    assert "hello from stdout" not in result.stderr
    run = open_client(tmp_path).Flow("LinearFlow").latest_run
    assert run.successful
    assert run.data.b == 20


def test_invalid_tag_leaves_no_run(tmp_path):
    result = run_flow("linear_flow.py", "run", "--tag", "", cwd=tmp_path)

    assert_failed_cleanly(result, tmp_path, "Invalid tag", "Tags must be non-empty strings")
    assert "Workflow starting" not in result.stderr
    flow_dir = tmp_path / ".metaflow" / "LinearFlow"
    runs = [p.name for p in flow_dir.iterdir() if p.name.isdigit()] if flow_dir.exists() else []
    assert runs == []


@pytest.mark.parametrize("args, message", [
    (("run", "--bogus"), "No such option"),
    (("frobnicate",), "No such command"),
])
def test_unknown_option_or_command(tmp_path, args, message):
    result = run_flow("linear_flow.py", *args, cwd=tmp_path)

    assert result.returncode == 2, describe(result)
    assert message in result.stderr
    assert "Usage: linear_flow.py" in result.stderr
    assert args[-1] in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(str(tmp_path / ".metaflow" / "LinearFlow"))


def test_usage_errors_without_a_command_line_are_only_their_message(tmp_path):
    result = run_flow("linear_flow.py", "run", "--alpha", "x", cwd=tmp_path,
                      env={"METAFLOW_USAGE_HINTS": "0"})

    assert result.returncode == 2, describe(result)
    assert result.stderr.strip().splitlines() == [
        "Error: No such option '--alpha'. Did you mean '--help'?"]


@pytest.mark.parametrize("where", ["run", "top level"])
def test_with_retry(tmp_path, open_client, where):
    if where == "run":
        args = ("run", "--with", "retry:times=1,minutes_between_retries=0")
    else:
        args = ("--with", "retry:times=1,minutes_between_retries=0", "run")
    result = run_flow("flaky_flow.py", *args, cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    assert "Task is starting (retry)." in result.stderr
    client = open_client(tmp_path)
    run = client.Run("FlakyFlow/%s" % run_id_of(result))
    start = run["start"].task
    assert start.data.succeeded_on == 1
    assert start.current_attempt == 1
    assert client.Task(start.pathspec, attempt=0).stdout.startswith("attempt 0\n")
    assert start.stdout == "attempt 1\n"


def test_without_retry_the_flaky_flow_fails(tmp_path):
    result = run_flow("flaky_flow.py", "run", cwd=tmp_path)

    assert_failed_cleanly(result, tmp_path, "first attempt fails",
                          "Step start (task-id 1) failed:")
    assert "(retry)" not in result.stderr


def test_options_without_effect_say_so(tmp_path):
    result = run_flow("linear_flow.py", "--package-suffixes", ".py", "--environment", "local",
                      "--pylint", "check", "--warnings", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert lines == [
        "Warning: --package-suffixes has no effect yet: the code package comes with the AWS "
        "support.",
        "Warning: --environment has no effect yet: steps run in the local environment.",
        "Warning: --pylint has no effect: the flow is checked by the engine's own graph checks.",
        "Warning: --warnings has no effect yet: check reports only errors.",
    ]
    quiet = run_flow("linear_flow.py", "--no-pylint", "check", "--no-warnings", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "Warning" not in quiet.stderr
