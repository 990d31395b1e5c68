"""Step bodies that run elsewhere (external.py) and front ends (front_end.py), run for real.

The runner here runs each body in a second Python process that reads the
step's inputs from their stored blob files and writes back JSON, as a remote
job would: nothing crosses in memory.
"""

import os

import runner
from flowfiles import write_flow

ELSEWHERE_FLOW = '''
import json
import pickle
import subprocess
import sys

from metaflow_core import FlowSpec, Parameter, step
from metaflow_core.datastore.cas import MAGIC
from metaflow_core.external import StepOutcome, StepRunner, run_elsewhere
from metaflow_core.front_end import FrontEnd, uses_front_end

# The body each step runs in another process: it gets the task as JSON and
# prints the outcome as JSON.
BODY = """
import json, pickle, sys, zlib
task = json.loads(sys.stdin.read())

def load(artifact):
    with open(artifact["path"], "rb") as f:
        blob = f.read()
    payload = blob[len(task["magic"]) + 1:]
    return pickle.loads(zlib.decompress(payload) if blob[len(task["magic"])] == ord("z") else payload)

out = {"artifacts": {}, "merge": {}, "foreach": None, "seen": task["seen"]}
if task["step"] == "start":
    out["artifacts"]["items"] = ["a", "b", "c"]
    out["foreach"] = [3, ["a", "b", "c"]]
elif task["step"] == "each":
    frame = task["foreach_stack"][-1]
    items = load(task["artifacts"]["items"])
    out["artifacts"]["letter"] = items[frame["index"]] * task["parameters"]["times"]
elif task["step"] == "join":
    out["artifacts"]["letters"] = sorted(
        load(inp["artifacts"]["letter"]) for inp in task["inputs"])
    out["merge"]["items"] = 0
print(json.dumps(out))
"""


class InAnotherProcess(StepRunner):
    def run(self, task):
        def described(artifacts):
            return {n: {"path": a.path, "sha": a.sha, "encoding": a.encoding}
                    for n, a in artifacts.items()}
        sent = {
            "magic": MAGIC.decode(), "step": task.step_name, "join": task.join,
            "foreach_var": task.foreach_var, "foreach_stack": task.foreach_stack,
            "parameters": task.parameters, "artifacts": described(task.artifacts),
            "inputs": [{"step": i.step, "pathspec": i.pathspec,
                        "artifacts": described(i.artifacts)} for i in task.inputs],
            "seen": {"join": task.join, "foreach_var": task.foreach_var,
                     "pathspec": task.current["pathspec"],
                     "datastore_type": task.datastore_type,
                     "inputs": sorted(i.step for i in task.inputs)},
        }
        done = subprocess.run([sys.executable, "-c", BODY], input=json.dumps(sent),
                              capture_output=True, text=True, check=True)
        out = json.loads(done.stdout)
        out["artifacts"]["seen_%s" % task.step_name] = out["seen"]
        return StepOutcome(artifacts=out["artifacts"], merge=out["merge"],
                           foreach=out["foreach"])


class CodeSaving(FrontEnd):
    default_command = "run"

    def code_files(self):
        return {"body.py": BODY.encode()}


@uses_front_end(CodeSaving())
class ElsewhereFlow(FlowSpec):
    times = Parameter("times", type=int, default=2)

    @step
    def start(self):
        run_elsewhere(self, InAnotherProcess())
        self.next(self.each, foreach="items")

    @step
    def each(self):
        run_elsewhere(self, InAnotherProcess())
        self.next(self.join)

    @step
    def join(self, inputs):
        run_elsewhere(self, InAnotherProcess(), inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ElsewhereFlow()
'''


def test_step_bodies_run_elsewhere_get_inputs_and_return_artifacts_merge_and_splits(
        tmp_path, open_client):
    flow_file = write_flow(tmp_path, ELSEWHERE_FLOW, "elsewhere_flow")

    # No command: the front end chose `run` as the default.
    result = runner.run_flow(flow_file, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    client = open_client(tmp_path)
    run = client.Flow("ElsewhereFlow").latest_run
    assert run.successful
    end = run["end"].task.data
    assert end.letters == ["aa", "bb", "cc"]
    assert end.items == ["a", "b", "c"]  # passed down from the join's first input
    start = run["start"].task.data.seen_start
    assert (start["join"], start["foreach_var"], start["inputs"]) == (None, "items", [])
    assert start["datastore_type"] == "local"
    join = run["join"].task.data.seen_join
    assert (join["join"], join["inputs"]) == ("foreach", ["each", "each", "each"])
    assert join["pathspec"] == "ElsewhereFlow/%s/join/%s" % (run.id, run["join"].task.id)
    assert [t.data.seen_each["foreach_var"] for t in run["each"]] == [None] * 3


def test_a_flow_without_a_front_end_is_a_python_flow(tmp_path):
    from metaflow_core import FlowSpec
    from metaflow_core.front_end import PYTHON, FrontEnd, front_end_of, uses_front_end

    class Plain(FlowSpec):
        pass

    front_end = FrontEnd()

    @uses_front_end(front_end)
    class Marked(FlowSpec):
        pass

    class Derived(Marked):
        pass

    assert front_end_of(Plain) is PYTHON
    assert (PYTHON.default_command, PYTHON.code_files(), PYTHON.previews([1])) == (
        "check", {}, None)
    error = ValueError("x")
    assert (PYTHON.error_record(error), PYTHON.error_lines({}),
            PYTHON.caught_value(error, {})) == (None, None, None)
    assert front_end_of(Marked) is front_end_of(Derived) is front_end


def test_reserved_artifact_names_are_the_engines_and_flowspecs():
    from metaflow_core.external import reserved_artifact_name

    assert reserved_artifact_name("_datastore")
    assert reserved_artifact_name("next")
    assert reserved_artifact_name("")
    assert not reserved_artifact_name("letters")


def test_the_saved_code_is_the_front_ends(tmp_path, open_client):
    flow_file = write_flow(tmp_path, ELSEWHERE_FLOW, "elsewhere_flow")
    assert runner.run_flow(flow_file, "run", cwd=tmp_path).returncode == 0

    code = open_client(tmp_path).Flow("ElsewhereFlow").latest_run.code
    assert os.listdir(code.path) == ["body.py"]
    with open(os.path.join(code.path, "body.py")) as f:
        assert "task = json.loads" in f.read()


FAILING_ELSEWHERE_FLOW = '''
from metaflow_core import FlowSpec, catch, step
from metaflow_core.external import StepOutcome, StepRunner, run_elsewhere
from metaflow_core.front_end import FrontEnd, uses_front_end


class BodyFailed(Exception):
    """What a remote body's failure looks like: it carries what the body assigned."""

    def __init__(self, message):
        super().__init__(message)
        self.partial_outcome = StepOutcome(artifacts={"assigned": "before the error"})


class Failing(StepRunner):
    def run(self, task):
        raise BodyFailed("the remote body failed")


class OwnTerms(FrontEnd):
    """A front end that describes errors in its own terms."""

    def error_record(self, exc):
        return {"type": "RemoteError", "message": str(exc), "traceback": "remote trace\\\\n",
                "language": "Remote"}

    def error_lines(self, record):
        return ["remote says: " + record["message"]]

    def caught_value(self, exc, record):
        return {"caught": record["message"]}


@uses_front_end(OwnTerms())
class FailingElsewhereFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.caught)

    # In a line, not in branches: a failure stops what runs beside it, and
    # `caught` must have finished when `failed` fails.
    @catch(var="err")
    @step
    def caught(self):
        run_elsewhere(self, Failing())
        self.next(self.failed)

    @step
    def failed(self):
        run_elsewhere(self, Failing())
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailingElsewhereFlow()
'''


def test_a_failed_body_elsewhere_keeps_its_artifacts_and_its_front_end_describes_the_error(
        tmp_path, open_client):
    flow_file = write_flow(tmp_path, FAILING_ELSEWHERE_FLOW, "failing_elsewhere_flow")

    result = runner.run_flow(flow_file, "run", cwd=tmp_path)

    assert result.returncode != 0
    run = open_client(tmp_path).Flow("FailingElsewhereFlow").latest_run
    caught = run["caught"].task
    assert caught.successful
    assert caught.data.err == {"caught": "the remote body failed"}
    assert caught.data.assigned == "before the error"
    assert ">  remote says: the remote body failed" in caught.stdout
    failed = run["failed"].task
    assert not failed.successful
    assert failed.data.assigned == "before the error"
    assert (failed.exception.type, failed.exception.message) == (
        "RemoteError", "the remote body failed")
    assert "remote says: the remote body failed" in failed.stderr
    assert "Traceback" not in caught.stdout + failed.stderr
