"""The flow command line: show, check, dump, logs, tag and the options of run."""

import os
import re
import pickle
import signal

import pytest

from flowfiles import write_flow
from runner import (
    assert_failed_cleanly,
    assert_succeeded,
    describe,
    engine_lines,
    read_only,
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
    commands = re.sub(" +", " ", result.stdout.split("Commands:")[1])  # column width varies
    assert "check Check that the flow is valid (this is the default command)." in commands
    assert "run Run the workflow locally.\n" in commands


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
    flow_dir = tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow"
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
    assert not os.path.exists(str(tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow"))


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
    # --package-suffixes has its effect (the code package of a run with batch steps).
    assert lines == [
        "Warning: --environment has no effect yet: steps run in the local environment.",
        "Warning: --pylint has no effect: the flow is checked by the engine's own graph checks.",
        "Warning: --warnings has no effect yet: check reports only errors.",
    ]
    quiet = run_flow("linear_flow.py", "--no-pylint", "check", "--no-warnings", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "Warning" not in quiet.stderr


# Errors instead of internals: what is missing or damaged is named, in a headline


def assert_headline_error(result, headline, *messages):
    """A one-line headline, the messages, a non-zero exit, and nothing of the engine's."""
    assert result.returncode != 0, describe(result)
    assert "    %s:" % headline in result.stderr.splitlines(), describe(result)
    for message in messages:
        assert message in result.stderr, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    assert "Internal error" not in result.stderr, describe(result)
    assert engine_lines(result.stderr) == [], describe(result)


@pytest.mark.parametrize("command", ["dump", "logs"])
def test_dump_and_logs_of_a_missing_task_name_it(linear, command):
    _, run_id, _ = linear
    result = cli(linear, command, "%s/end/99" % run_id)
    assert_headline_error(result, "Invalid command",
                          "Task LinearFlow/%s/end/99 does not exist" % run_id,
                          "Tasks of step end: 3")


@pytest.mark.parametrize("command", ["dump", "logs"])
def test_dump_and_logs_of_a_missing_step_or_run_name_it(linear, command):
    _, run_id, _ = linear
    assert_headline_error(cli(linear, command, "%s/nosuch" % run_id), "Invalid command",
                          "Step nosuch doesn't exist in flow LinearFlow")
    assert_headline_error(cli(linear, command, "12345/end/3"), "Invalid command",
                          "Run LinearFlow/12345 does not exist")


@pytest.mark.parametrize("command", ["dump", "logs"])
@pytest.mark.parametrize("path, level, bad", [
    ("../end", "run id", ".."),
    ("{run}/../3", "step name", ".."),
    ("{run}/end/..", "task id", ".."),
    ("{run}/./3", "step name", "."),
    ("{run}/end/" + "9" * 300, "task id", "9" * 40 + "..."),
])
def test_dump_and_logs_reject_a_malformed_id(linear, command, path, level, bad):
    _, run_id, _ = linear
    result = cli(linear, command, path.format(run=run_id))
    assert_headline_error(result, "Invalid pathspec", "The %s '%s'" % (level, bad))


def test_dump_of_a_task_without_a_completed_attempt_says_so(tmp_path):
    result = run_flow("linear_flow.py", "run", cwd=tmp_path)
    run_id = run_id_of(result)
    # What a task killed before it finished leaves: an attempt without its lock.
    task = tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow" / run_id / "end" / "3"
    (task / "0.DONE.lock").unlink()
    result = run_flow("linear_flow.py", "dump", "%s/end/3" % run_id, cwd=tmp_path)
    assert_headline_error(result, "Invalid command", "LinearFlow/%s/end/3" % run_id,
                          "has no completed attempt")


def test_a_damaged_run_record_is_named_by_the_cli(tmp_path):
    result = run_flow("linear_flow.py", "run", cwd=tmp_path)
    assert_succeeded(result, tmp_path)
    run_id = run_id_of(result)
    record = tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow" / run_id / "_meta" / "_self.json"
    record.write_bytes(record.read_bytes()[:15])

    for args in (["dump", "%s/end" % run_id], ["tag", "list", run_id]):
        result = run_flow("linear_flow.py", *args, cwd=tmp_path)
        assert_headline_error(result, "Damaged metadata", str(record),
                              "of run LinearFlow/%s" % run_id, "not valid JSON")
        assert "JSONDecodeError" not in result.stderr


def test_a_damaged_artifact_index_is_named_by_dump(tmp_path):
    result = run_flow("linear_flow.py", "run", cwd=tmp_path)
    run_id = run_id_of(result)
    index = tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow" / run_id / "end" / "3" / "0.data.json"
    index.write_bytes(b"")

    result = run_flow("linear_flow.py", "dump", "%s/end/3" % run_id, cwd=tmp_path)
    assert_headline_error(result, "Damaged metadata", str(index),
                          "attempt 0 of task LinearFlow/%s/end/3" % run_id, "it is empty")


def test_run_in_a_read_only_datastore_names_the_directory(tmp_path):
    assert_succeeded(run_flow("linear_flow.py", "run", cwd=tmp_path), tmp_path)
    before = sorted(p.name for p in (tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow").iterdir())

    with read_only(tmp_path):
        result = run_flow("linear_flow.py", "run", cwd=tmp_path)
        # Reading needs no writing: dump works on the read-only datastore.
        dumped = run_flow("linear_flow.py", "dump", "%s/end" % before[0]
                          if before[0].isdigit() else "x", cwd=tmp_path)

    assert_headline_error(result, "Datastore not usable", "Could not create the directory",
                          str(tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow"), "Read-only file system")
    assert sorted(p.name for p in (tmp_path / ".metaflow" / ".metaflow_core" / "LinearFlow").iterdir()) == before
    run_ids = [name for name in before if name.isdigit()]
    dumped = run_flow("linear_flow.py", "dump", "%s/end" % run_ids[0], cwd=tmp_path)
    assert dumped.returncode == 0, describe(dumped)


def test_a_datastore_that_cant_be_created_is_named(tmp_path):
    with read_only(tmp_path):
        result = run_flow("linear_flow.py", "run", cwd=tmp_path)
    assert_headline_error(result, "Datastore not usable",
                          "Could not create the directory %s" % (tmp_path / ".metaflow"))
    assert not (tmp_path / ".metaflow").exists()


@pytest.mark.parametrize("what, source", [
    ("flow", """
        from metaflow_core import FlowSpec, step

        class {long}(FlowSpec):
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            {long}()
        """),
    ("step", """
        from metaflow_core import FlowSpec, step

        class LongStepFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.{long_step})

            @step
            def {long_step}(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            LongStepFlow()
        """),
    ("parameter", """
        from metaflow_core import FlowSpec, Parameter, step

        class LongParameterFlow(FlowSpec):
            alpha = Parameter("{long_param}", default=1)

            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            LongParameterFlow()
        """),
    ("artifact", """
        from metaflow_core import FlowSpec, step

        class LongArtifactFlow(FlowSpec):
            @step
            def start(self):
                setattr(self, "{long_param}", 1)
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            LongArtifactFlow()
        """),
])
def test_a_name_too_long_for_the_filesystem_is_an_error_naming_it(tmp_path, what, source):
    names = {"long": "F" + "x" * 299, "long_step": "s" * 300, "long_param": "p" * 300}
    path = write_flow(tmp_path, source.format(**names))
    result = run_flow(path, "run", cwd=tmp_path)
    assert result.returncode != 0, describe(result)
    assert "The %s name" % what in result.stderr, describe(result)
    assert "can be at most 100 characters" in result.stderr, describe(result)
    assert "OSError" not in result.stderr and "File name too long" not in result.stderr
    assert engine_lines(result.stderr) == [], describe(result)
    assert "Internal error" not in result.stderr


def test_a_name_at_the_limit_runs(tmp_path):
    source = """
        from metaflow_core import FlowSpec, step

        class {flow}(FlowSpec):
            @step
            def start(self):
                self.{artifact} = 1
                self.next(self.{step})

            @step
            def {step}(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            {flow}()
        """.format(flow="F" + "x" * 99, step="s" * 100, artifact="a" * 100)
    path = write_flow(tmp_path, source)
    assert_succeeded(run_flow(path, "run", cwd=tmp_path), tmp_path)


@pytest.mark.parametrize("args", [
    ["run", "--run-id-file", "{dir}/no/such/dir/run-id"],
    ["dump", "{run}/end", "--file", "{dir}/no/such/dir/out.pkl"],
])
def test_a_file_the_command_line_names_that_cant_be_written_is_named(linear, tmp_path, args):
    _, run_id, _ = linear
    args = [a.format(dir=tmp_path, run=run_id) for a in args]
    result = cli(linear, *args)
    assert_headline_error(result, "Invalid command", "Could not write %s %s" % (args[-2], args[-1]),
                          "No such file or directory")


# --datastore s3: a whole run on S3 (the moto server)


def local_files(root):
    """{relative path: size} of every file under ``root/.metaflow``."""
    base = os.path.join(str(root), ".metaflow")
    found = {}
    for dirpath, _, filenames in os.walk(base):
        for name in filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, base)] = os.path.getsize(path)
    return found


READ_BACK = """
import json
from metaflow_core import Flow, namespace
namespace(None)
run = Flow("ForeachFlow").latest_run
square = run["square"]
print(json.dumps({"id": run.id, "ok": run.successful, "total": run.data.total,
                  "values": run["join"].task.data.values,
                  "stdout": sorted(t.stdout for t in square),
                  "stderr": run["start"].task.stderr}))
"""


def read_back(cwd, env=None):
    import json
    import subprocess
    import sys

    from runner import flow_env

    result = subprocess.run([sys.executable, "-c", READ_BACK], cwd=str(cwd),
                            env=flow_env(cwd, env), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_run_on_s3_is_read_back_from_s3_in_a_fresh_process(moto_server, tmp_path):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    result = run_flow("foreach_flow.py", "--datastore", "s3", "run", cwd=here)
    assert_succeeded(result, here)
    run_id = run_id_of(result)
    # Only the pointer record stays here: the data, the metadata and the logs are in S3.
    assert list(local_files(here)) == [os.path.join(".metaflow_core", "ForeachFlow", "_meta", "_self.json")]
    assert sum(local_files(here).values()) < 1000
    seen = read_back(here)
    assert seen == {"id": run_id, "ok": True, "total": 5, "values": [0, 1, 4],
                    "stdout": ["", "", ""], "stderr": ""}
    # Another machine knows only the bucket, as Metaflow's settings say it.
    assert read_back(elsewhere, {"METAFLOW_DEFAULT_DATASTORE": "s3"})["id"] == run_id
    assert local_files(elsewhere) == {}


def test_metaflow_default_datastore_chooses_s3(moto_server, tmp_path):
    result = run_flow("foreach_flow.py", "run", cwd=tmp_path,
                      env={"METAFLOW_DEFAULT_DATASTORE": "s3"})
    assert_succeeded(result, tmp_path)
    assert list(local_files(tmp_path)) == [os.path.join(".metaflow_core", "ForeachFlow", "_meta", "_self.json")]
    assert read_back(tmp_path)["total"] == 5


def test_an_s3_run_without_a_root_says_what_to_set(moto_server, tmp_path):
    result = run_flow("foreach_flow.py", "--datastore", "s3", "run", cwd=tmp_path,
                      env={"METAFLOW_DATASTORE_SYSROOT_S3": ""})
    assert_failed_cleanly(result, tmp_path, "METAFLOW_DATASTORE_SYSROOT_S3")


def test_a_local_run_and_its_client_never_import_boto3(tmp_path):
    flow = write_flow(tmp_path, """
        import sys
        from metaflow_core import FlowSpec, step

        class NoAwsFlow(FlowSpec):
            @step
            def start(self):
                self.seen = sorted(m for m in ("boto3", "botocore") if m in sys.modules)
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            NoAwsFlow()
    """)
    result = run_flow(str(flow), "run", cwd=tmp_path)
    assert_succeeded(result, tmp_path)
    code = ("import sys\nfrom metaflow_core import Flow, namespace\nnamespace(None)\n"
            "seen = Flow('NoAwsFlow').latest_run['start'].task.data.seen\n"
            "print(seen, sorted(m for m in ('boto3', 'botocore') if m in sys.modules))")
    import subprocess
    import sys

    from runner import flow_env

    read = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=flow_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert read.stdout.strip() == "[] []", read.stderr
