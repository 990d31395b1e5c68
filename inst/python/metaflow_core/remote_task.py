"""The command a task runs with on another machine (a Batch container).

``python -m metaflow_core.remote_task '<json>'``: the one argument names the
flow, the code package (its sha1, in the datastore it names) and the task's
arguments, the same dict the runtime gives a local task (or, when that is too
long for a command line, the sha1 of a blob holding it). Nothing in it is a
path of the submitting machine: this fetches the package from the datastore,
verified, unpacks it into a fresh directory and runs there, exactly as a local
task runs, ``python <module> internal-task '<task json>'``. It exits with the
task's exit status (128 + N when signal N ended it), and passes SIGTERM and
SIGINT on to the task, so that stopping the job stops the step.

A Step Functions job's argument names a step instead of a task
(``step_functions``): the job then runs ``step-functions task STEP`` of the
package's flow, which finds its task in the execution.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from .exceptions import MetaflowException
from .process_tree import signal_session
from .task_types import TASK_COMMAND

# 2: a Step Functions job's argument names its step and the foreach limit.
COMMAND_VERSION = 2
# Task arguments longer than this go in a file beside the package: Linux limits
# one argument to 128 KiB.
ARGUMENT_FILE_CHARS = 100000


class RemoteTaskError(MetaflowException):
    headline = "Remote task"


def command_argument(flow_name, package, task_args, flow_datastore, max_chars):
    """The JSON argument of ``remote_task`` for one attempt. The task's arguments go
    in the datastore (a blob, by its sha1) when the whole would pass ``max_chars``,
    which is what the launcher can send."""
    argument = {"version": COMMAND_VERSION, "flow_name": flow_name,
                "package": {k: package[k] for k in ("sha", "ds_type", "ds_root")},
                "task": task_args}
    text = json.dumps(argument, sort_keys=True)
    if len(text) <= max_chars:
        return text
    del argument["task"]
    argument["task_blob"] = flow_datastore.ca_store.save_blob(
        json.dumps(task_args, sort_keys=True).encode("utf-8"))
    return json.dumps(argument, sort_keys=True)


def parse_argument(text):
    try:
        argument = json.loads(text)
    except ValueError as err:
        raise RemoteTaskError("The remote task's argument is not JSON: %s." % err)
    if not isinstance(argument, dict) or argument.get("version") != COMMAND_VERSION:
        raise RemoteTaskError("The remote task's argument must be a JSON object with version "
                              "%d; the engine that submitted it is another version."
                              % COMMAND_VERSION)
    return argument


def prepare(argument, work_dir):
    """Fetch and unpack the package into ``work_dir``; the task command to run there."""
    from .datastore import FlowDataStore
    from .package import CodePackage

    package = argument["package"]
    flow_datastore = FlowDataStore(argument["flow_name"], ds_type=package["ds_type"],
                                   ds_root=package["ds_root"])
    code = CodePackage.load(flow_datastore, package["sha"])
    entry = code.unpack(work_dir)
    if "step_functions" in argument:
        # A task of a Step Functions execution: the run, task and inputs come from
        # the job's environment (plugins/aws/step_functions/execution_task.py).
        sfn = argument["step_functions"]
        return [sys.executable, entry, "--datastore", package["ds_type"], "--datastore-root",
                package["ds_root"], "step-functions", "task", sfn["step"],
                "--code-package", json.dumps(code.record(flow_datastore), sort_keys=True),
                "--max-num-splits", str(sfn["max_num_splits"])]
    if "task" in argument:
        task_args = argument["task"]
    else:
        task_args = json.loads(flow_datastore.ca_store.load_blob(argument["task_blob"]))
    text = json.dumps(task_args)
    if len(text) >= ARGUMENT_FILE_CHARS:
        path = os.path.join(work_dir, ".task-argument.json")
        with open(path, "w") as f:
            f.write(text)
        text = "@" + path
    return [sys.executable, entry, TASK_COMMAND, text]


def run(cmd, cwd):
    """Run the task; returns its exit status. SIGTERM and SIGINT go on to it."""
    popen_kwargs = {"start_new_session": True} if os.name == "posix" else {}
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, **popen_kwargs)

    def forward(signum, frame):
        if os.name == "posix":
            # The task's whole session, as the local runtime signals it: an R
            # step's Rscript has a process group of its own in it.
            signal_session(proc.pid, signum)
            return
        try:
            proc.send_signal(signum)
        except OSError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    returncode = proc.wait()
    return 128 - returncode if returncode < 0 else returncode


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m metaflow_core.remote_task '<json>'\n")
        return 2
    work_dir = tempfile.mkdtemp(prefix="mf-task-")
    try:
        try:
            cmd = prepare(parse_argument(argv[0]), work_dir)
        except MetaflowException as err:
            from .cli_errors import format_error

            sys.stderr.write(format_error(err) + "\n")
            return err.exit_code
        sys.stdout.flush()
        return run(cmd, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
