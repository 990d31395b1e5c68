"""The command line of a flow: ``python flow.py [options] COMMAND``.

Every option also reads ``METAFLOW_<OPTION>`` or ``METAFLOW_<COMMAND>_<OPTION>``
from the environment. A front end that runs the generated module names itself
with ``METAFLOW_PROG_NAME`` (``Rscript flow.R``), or says with
``METAFLOW_USAGE_HINTS=0`` that it has no command line to show the usage of.
Errors print a headline and a message, never an engine traceback unless
``--debug`` is given.
"""

import json
import os
import socket
import sys
import traceback

import click

from . import __version__
from .cli_errors import (
    FAILURE_FILE_OPTION,
    failure_file,
    failure_summary,
    format_error,
    write_failure,
)
from .datastore import FlowDataStore
from .datastore.storage import STORAGE_TYPES
from .exceptions import (
    CommandException,
    MetaflowDataCorrupt,
    MetaflowDataMissing,
    MetaflowException,
    RunInterrupted,
)
from .front_end import front_end_of
from .graph import FlowGraph
from .graph_text import to_dot, to_mermaid
from .lint import render, validate
from .metadata import get_metadata_provider
from .metadata.tags import validate_tags
from .names import check_id
from .plugins.cards.card_cli import add_card_commands
from .parameters import JSONType, flow_parameters
from .run_events import EVENT_FILE_OPTION
from .decorators import parse_decospec, step_decorators
from .task_types import DEFAULT_MAX_NUM_SPLITS
from .util import get_username


class State(object):
    """What the top-level options resolved, shared by every command."""

    def __init__(self, flow, graph, quiet, debug, datastore, datastore_root, metadata,
                 decospecs):
        self.flow = flow
        self.graph = graph
        self.quiet = quiet
        self.debug = debug
        self.ds_type = datastore
        self.ds_root = datastore_root
        self.md_type = metadata
        self.decospecs = list(decospecs)
        self._flow_datastore = None
        self._metadata = None

    @property
    def color(self):
        return sys.stderr.isatty()

    def echo(self, msg, system=True, err=True):
        if system and self.color:
            msg = render(msg, color=True)
        elif system:
            msg = render(msg)
        echo_or_drop(msg, err=err)

    def info(self, msg):
        if not self.quiet:
            self.echo(msg)

    @property
    def flow_datastore(self):
        if self._flow_datastore is None:
            root = self.ds_root
            if self.ds_type == "local" and root is None:
                from .datastore.storage import LocalStorage

                root = LocalStorage.find_root(echo=self.info)
            self._flow_datastore = FlowDataStore(self.flow.name, ds_type=self.ds_type, ds_root=root)
        return self._flow_datastore

    @property
    def metadata(self):
        if self._metadata is None:
            # The run's metadata lives where its data does, so a run on S3 is
            # seen from any machine that reads the bucket.
            self._metadata = get_metadata_provider(self.md_type,
                                                   storage=self.flow_datastore.storage)
        return self._metadata

    def validate(self):
        validate(self.graph)
        extra = [parse_decospec(s) for s in self.decospecs]
        for node in self.graph:
            for deco in step_decorators(getattr(type(self.flow), node.name), extra):
                deco.step_init(self.graph, node.name)

    def entrypoint(self):
        return [sys.executable, os.path.abspath(sys.argv[0])]


class ParameterType(click.ParamType):
    def __init__(self, param):
        self.param = param
        self.name = param.type_name

    def convert(self, value, option, ctx):
        try:
            self.param.convert(value)
        except ValueError as err:
            self.fail(str(err), option, ctx)
        return value


def parameter_options(flow_cls):
    """click options for the flow's parameters, added to ``run``."""
    options = []
    for attr, param in flow_parameters(flow_cls):
        help_text = param.help or ""
        if param.default is not None and param.show_default:
            shown = param.default if not callable(param.default) else "computed at run time"
            if param.type is JSONType and not isinstance(shown, str):
                shown = json.dumps(shown)
            help_text = ("%s  [default: %s]" % (help_text, shown)).strip()
        if param.required:
            help_text = ("%s  [required]" % help_text).strip()
        if param.is_flag:
            options.append(click.Option(
                ["--%s/--no-%s" % (param.name, param.name), attr], default=None, help=help_text
            ))
        else:
            options.append(click.Option(
                ["--%s" % param.name, attr], type=ParameterType(param), default=None,
                help=help_text, metavar=param.type_name.upper(),
            ))
    return options


def resume_parameter_options(flow_cls):
    """Hidden options of ``resume`` for the flow's parameters: giving one is an
    error that says why, where click would only say "No such option"."""
    options = []
    for attr, param in flow_parameters(flow_cls):
        if param.is_flag:
            decls = ["--%s/--no-%s" % (param.name, param.name), attr]
        else:
            decls = ["--%s" % param.name, attr]
        options.append(click.Option(decls, default=None, hidden=True, expose_value=False,
                                    callback=_refuse_resume_parameter))
    return options


def _refuse_resume_parameter(ctx, option, value):
    if value is None:
        return
    given = option.opts[0] if value is not False or not option.secondary_opts \
        else option.secondary_opts[0]
    raise CommandException(
        "Resume keeps the parameter values of the run it resumes: %s can't be given to "
        "resume. Start a new run with 'run %s ...' to use another value." % (given, given)
    )


def parameters_epilog(options):
    """The flow's parameters for the top-level --help, which otherwise lists only commands."""
    if not options:
        return None
    rows = [(" ".join(filter(None, [opt.opts[0], opt.metavar])), opt.help or "")
            for opt in options]
    width = max(len(name) for name, _ in rows) + 2
    lines = ["\b", "Parameters (options of 'run'):"]
    lines += ["  %s%s" % (name.ljust(width), text) for name, text in rows]
    return "\n".join(lines)


# Options accepted, as Metaflow's command line has them, that change nothing here
# yet: each says so in one line when given.
NO_EFFECT_YET = {
    "environment": "--environment has no effect yet: steps run in the local environment.",
    "pylint": "--pylint has no effect: the flow is checked by the engine's own graph checks.",
    "warnings": "--warnings has no effect yet: check reports only errors.",
}


def warn_without_effect(ctx, messages):
    """One line on stderr for each option in ``messages`` that the command line or the
    environment turned on (``--no-pylint``, which Netflix's R package always passes, is
    what happens anyway)."""
    from click.core import ParameterSource

    for name, message in messages.items():
        source = ctx.get_parameter_source(name)
        if ctx.params.get(name) and source not in (None, ParameterSource.DEFAULT):
            click.echo("Warning: %s" % message, err=True)


def make_cli(flow, graph):
    options = parameter_options(type(flow))
    # What runs without a command: `check` for a Python flow, as in Metaflow; a
    # front end may choose another (a bare `Rscript flow.R` runs the flow).
    default_command = front_end_of(type(flow)).default_command

    def command_help(name, text):
        return text + (" (this is the default command)." if name == default_command else ".")

    # 90 columns: with `step-functions` the command column is wide enough that
    # click would cut the commands' one-line help at 80.
    @click.group(invoke_without_command=True, help=(type(flow).__doc__ or "").strip() or None,
                 epilog=parameters_epilog(options), context_settings={"terminal_width": 90})
    @click.option("--quiet/--not-quiet", default=False, help="Suppress unnecessary messages.")
    @click.option("--debug/--no-debug", default=False, help="Show engine tracebacks on errors.")
    @click.option("--datastore", type=click.Choice(list(STORAGE_TYPES)),
                  default=lambda: os.environ.get("METAFLOW_DEFAULT_DATASTORE") or "local",
                  show_default="local, or $METAFLOW_DEFAULT_DATASTORE",
                  help="Data backend type.")
    @click.option("--datastore-root", default=None,
                  help="Root path for the datastore (s3://bucket/prefix for s3; by default "
                       "$METAFLOW_DATASTORE_SYSROOT_S3).")
    @click.option("--metadata", default="local", type=click.Choice(["local"]),
                  show_default=True, help="Metadata service type.")
    @click.option("--environment", default="local", type=click.Choice(["local"]),
                  show_default=True, help="Execution environment type.")
    @click.option("--with", "decospecs", multiple=True,
                  help="Add a decorator to all steps, e.g. --with retry:times=2.")
    @click.option("--package-suffixes", default=".py,.R,.RDS", show_default=True,
                  help="File suffixes to include in the code package.")
    @click.option("--pylint/--no-pylint", default=False, hidden=True)
    @click.option(FAILURE_FILE_OPTION, default=None,
                  help="If the command fails, write what failed to this file, as JSON.")
    @click.version_option(__version__, prog_name="metaflow_core")
    @click.pass_context
    def start(ctx, quiet, debug, datastore, datastore_root, metadata, environment,
              decospecs, package_suffixes, pylint, failure_file):
        warn_without_effect(ctx, NO_EFFECT_YET)
        ctx.obj = State(flow, graph, quiet, debug, datastore, datastore_root, metadata,
                        decospecs)
        ctx.obj.package_suffixes = package_suffixes
        if ctx.invoked_subcommand is None:
            ctx.invoke(start.get_command(ctx, default_command))

    @start.command(help=command_help("check", "Check that the flow is valid"))
    @click.option("--warnings/--no-warnings", default=False, help="Show all warnings.")
    @click.pass_context
    def check(ctx, warnings):
        warn_without_effect(ctx, {"warnings": NO_EFFECT_YET["warnings"]})
        state = ctx.obj
        state.info("Validating your flow...")
        state.validate()
        state.info("    The graph looks good!")

    @start.command(help="Show the structure of the flow.")
    @click.option("--mermaid", is_flag=True,
                  help="Print the graph as a Mermaid flowchart, for Markdown.")
    @click.option("--dot", is_flag=True, help="Print the graph as Graphviz DOT.")
    @click.pass_obj
    def show(state, mermaid, dot):
        if mermaid and dot:
            raise click.UsageError("Give only one of --mermaid and --dot.")
        if mermaid or dot:
            validate(graph)
            click.echo(to_mermaid(graph) if mermaid else to_dot(graph))
            return
        click.echo("\n%s" % (graph.doc or ""))
        for name in graph.sorted_nodes:
            node = graph[name]
            for deco in node.decorators:
                click.echo("@%s" % deco.name)
            click.echo("Step %s" % name)
            click.echo("    %s" % (node.doc or "?"))
            if node.type != "end":
                click.echo("    => %s" % ", ".join(node.out_funcs))
            click.echo("")

    @start.command(help="Show the Python, the engine, the datastore and namespace in use, and "
                        "the optional parts.")
    @click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
    def status(as_json):
        from .status import show

        show(as_json)

    @start.command(name="output-raw", help="Print the graph as JSON.")
    def output_raw():
        click.echo(json.dumps(graph.to_json(), indent=2))

    run_options = [
        click.option("--tag", "tags", multiple=True, help="Annotate this run with the given tag."),
        click.option("--max-workers", default=None, type=click.IntRange(1),
                     help="Maximum number of parallel processes.  [default: 16, and no more "
                          "tasks at a time than the machine's cores can take for the cpu their "
                          "steps ask for with @resources]"),
        click.option("--max-num-splits", default=DEFAULT_MAX_NUM_SPLITS, show_default=True, type=click.IntRange(1),
                     help="Maximum number of splits allowed in a foreach. This is a safety "
                          "check preventing bugs from triggering thousands of steps "
                          "inadvertently."),
        click.option("--max-log-size", default=10, show_default=True, type=click.IntRange(1),
                     help="Maximum size of stdout and stderr captured in megabytes."),
        click.option("--with", "run_decospecs", multiple=True,
                     help="Add a decorator to all steps."),
        click.option("--run-id-file", default=None,
                     help="Write the ID of this run to the file specified."),
        click.option(EVENT_FILE_OPTION, "event_file", default=None,
                     help="Write the run's progress to this file as it goes: one JSON event a "
                          "line (tasks started, finished, failed, retried; steps finished)."),
    ]

    def with_run_options(f):
        for option in reversed(run_options):
            f = option(f)
        return f

    @start.command(help=command_help("run", "Run the workflow locally"))
    @with_run_options
    @click.option("--namespace", "user_namespace", default=None,
                  help="Change namespace from the default (your username) to the specified "
                       "tag. Note that this option does not alter tags assigned to the "
                       "objects produced by this run, just what existing objects are visible "
                       "in the client API. You can enable the global namespace with an empty "
                       "string.")
    @click.pass_obj
    def run(state, tags, max_workers, max_num_splits, max_log_size, run_decospecs,
            run_id_file, event_file, user_namespace, **param_values):
        from .runtime import resolve_parameters

        state.decospecs += list(run_decospecs)
        state.validate()
        user = get_username()
        values = resolve_parameters(type(flow), param_values, user, state.ds_type)
        runtime = _new_runtime(state, user, tags, max_workers, max_num_splits, max_log_size,
                               run_id_file, event_file, namespace=user_namespace)
        state.flow_datastore.set_latest_run(runtime.run_id)
        runtime.execute(runtime.persist_parameters(values))

    run.params.extend(options)

    @start.command(help="Resume execution of a previous run of this flow.")
    @click.argument("step_to_rerun", required=False)
    @with_run_options
    @click.option("--origin-run-id", default=None,
                  help="ID of the run that should be resumed. By default, the last run "
                       "executed locally.")
    @click.pass_obj
    def resume(state, step_to_rerun, tags, max_workers, max_num_splits, max_log_size,
               run_decospecs, run_id_file, event_file, origin_run_id):
        state.decospecs += list(run_decospecs)
        state.validate()
        origin = origin_run_id or state.flow_datastore.get_latest_run()
        if origin is None:
            raise CommandException("A previous run id was not found. Specify --origin-run-id.")
        origin_record = state.metadata.run(flow.name, origin)
        if origin_record is None:
            raise CommandException("Resume could not find run id *%s*" % origin)
        _refuse_running_origin(flow.name, origin, origin_record)
        rerun = set()
        if step_to_rerun:
            if step_to_rerun not in graph:
                raise CommandException(
                    "invalid step name %s specified, must be step present in current form of "
                    "execution graph. Valid step names include: %s"
                    % (step_to_rerun, ", ".join(graph.sorted_nodes))
                )
            rerun = _descendants(graph, step_to_rerun)
        user = get_username()
        state.info("Gathering required information to resume run (this may take a bit of time)...")
        runtime = _new_runtime(state, user, tags, max_workers, max_num_splits, max_log_size,
                               run_id_file, event_file, origin_run_id=origin,
                               steps_to_rerun=rerun)
        runtime.build_clone_index(origin)
        runtime.execute(runtime.clone_parameters(origin))

    resume.params.extend(resume_parameter_options(type(flow)))

    @start.command(help="Get data artifacts of a task or all tasks in a step.")
    @click.argument("input_path")
    @click.option("--private/--no-private", default=False, help="Show also private artifacts.")
    @click.option("--max-value-size", default=1000, show_default=True, type=int,
                  help="Show only values that are smaller than this number. Set to 0 to see "
                       "only keys.")
    @click.option("--include", default="",
                  help="Include only artifacts in the given comma-separated list.")
    @click.option("--file", "out_file", default=None,
                  help="Serialize artifacts in the given file (a pickle of a dict).")
    @click.pass_obj
    def dump(state, input_path, private, max_value_size, include, out_file):
        tasks = _tasks_for(state, input_path)
        wanted = set(filter(None, include.split(",")))

        def dumped(name):
            return (private or not name.startswith("_")) and (not wanted or name in wanted)

        names = {ds.pathspec: [name for name in sorted(ds.keys()) if dumped(name)]
                 for ds in tasks}
        collected = {
            ds.pathspec: {name: ds.load_object(name) for name in names[ds.pathspec]
                          if max_value_size and ds.info[name]["size"] <= max_value_size}
            for ds in tasks
        }
        shown = _shown_values(flow, [v for values in collected.values() for v in values.values()])
        for ds in tasks:
            state.echo("Dumping output of run_id=*%s* step=*%s* task_id=*%s*"
                       % (ds.run_id, ds.step_name, ds.task_id))
            for name in names[ds.pathspec]:
                info = ds.info[name]
                if name in collected[ds.pathspec]:
                    text = "= " + next(shown).replace("\n", "\n    ")
                else:
                    text = "= < artifact too large >" if max_value_size else ""
                click.echo("%s [size: %d type: %s] %s" % (name, info["size"], info["type"], text))
        if out_file:
            import pickle

            _write_user_file(out_file, pickle.dumps(collected), "--file")
            state.echo("Artifacts written to *%s*" % out_file)

    @start.command(help="Check stored artifacts against the hashes they are named by: every "
                        "blob of run RUN_ID, or, without it, of every run of the flow and every "
                        "blob file in its data directory. Exits 1 if anything is damaged.")
    @click.argument("run_id", required=False)
    @click.pass_obj
    def verify(state, run_id):
        from .datastore.verify import Verifier, item_line

        verifier = Verifier(state.flow_datastore)
        if run_id is None:
            verifier.flow()
            runs = len(verifier.run_ids())
            scope = "flow %s (%d run%s)" % (flow.name, runs, "" if runs == 1 else "s")
        else:
            run_id = run_id.strip()
            if run_id not in verifier.run_ids():
                raise CommandException("Run *%s/%s* does not exist." % (flow.name, run_id))
            verifier.run(run_id)
            scope = "run %s/%s" % (flow.name, run_id)
        report = verifier.report(scope)
        for item in report:
            click.echo(item_line(item))
        if not report.intact:
            raise MetaflowDataCorrupt(report.summary())
        click.echo(report.summary())

    @start.command(help="Show stdout/stderr produced by a task or all tasks in a step.")
    @click.argument("input_path")
    @click.option("--stdout/--no-stdout", default=False, help="Show stdout of the task.")
    @click.option("--stderr/--no-stderr", default=False, help="Show stderr of the task.")
    @click.option("--both/--no-both", default=True, help="Show both stdout and stderr.")
    @click.option("--timestamps/--no-timestamps", default=False,
                  help="Show timestamps of each log line.")
    @click.option("--attempt", default=None, type=int,
                  help="Attempt number of a task to show, defaults to the latest attempt.")
    @click.pass_obj
    def logs(state, input_path, stdout, stderr, both, timestamps, attempt):
        streams = [s for s, on in (("stdout", stdout), ("stderr", stderr)) if on]
        if not streams and both:
            streams = ["stdout", "stderr"]
        for ds in _task_refs(state, input_path, attempt):
            state.echo("Dumping logs of run_id=*%s* step=*%s* task_id=*%s*"
                       % (ds.run_id, ds.step_name, ds.task_id))
            for stream in streams:
                text = ds.load_log(stream, attempt).decode("utf-8", "replace")
                if not text:
                    continue
                if len(streams) > 1:
                    state.echo("*%s*" % stream)
                for line in text.splitlines():
                    stamp, _, body = line.partition(" ")
                    click.echo(line if timestamps else body)

    @start.group(help="Commands related to tagging runs.")
    def tag():
        pass

    def _tag_run(state, run_id):
        run_id = run_id or state.flow_datastore.get_latest_run()
        if run_id is None or state.metadata.run(flow.name, run_id) is None:
            raise CommandException("Run *%s/%s* does not exist." % (flow.name, run_id))
        return run_id

    def _retag(state, run_id, add=(), remove=()):
        run_id = _tag_run(state, run_id)
        record = state.metadata.mutate_tags(flow.name, run_id, add=add, remove=remove)
        state.echo("Tags of run *%s*: %s" % (run_id, ", ".join(record["tags"]) or "(none)"))

    @tag.command(name="add", help="Add tags to a run.")
    @click.argument("tags", nargs=-1, required=True)
    @click.option("--run-id", default=None, help="Run to tag (default: the latest run).")
    @click.pass_obj
    def tag_add(state, tags, run_id):
        _retag(state, run_id, add=tags)

    @tag.command(name="remove", help="Remove tags from a run.")
    @click.argument("tags", nargs=-1, required=True)
    @click.option("--run-id", default=None, help="Run to untag (default: the latest run).")
    @click.pass_obj
    def tag_remove(state, tags, run_id):
        _retag(state, run_id, remove=tags)

    @tag.command(name="replace", help="Replace tags of a run in one step.")
    @click.option("--add", "add", multiple=True, help="Tag to add.")
    @click.option("--remove", "remove", multiple=True, help="Tag to remove.")
    @click.option("--run-id", default=None, help="Run to retag (default: the latest run).")
    @click.pass_obj
    def tag_replace(state, add, remove, run_id):
        _retag(state, run_id, add=add, remove=remove)

    @tag.command(name="list", help="List tags of a run.")
    @click.argument("run_id_arg", required=False)
    @click.option("--run-id", default=None, help="Run to list (default: the latest run).")
    @click.option("--hide-system-tags/--show-system-tags", default=False)
    @click.pass_obj
    def tag_list(state, run_id_arg, run_id, hide_system_tags):
        run_id = _tag_run(state, run_id or run_id_arg)
        record = state.metadata.run(flow.name, run_id)
        click.echo("Run %s/%s" % (flow.name, run_id))
        click.echo("  user tags: %s" % (", ".join(record["tags"]) or "(none)"))
        if not hide_system_tags:
            click.echo("  system tags: %s" % ", ".join(record["system_tags"]))

    @start.group(name="step-functions",
                 help="Schedule the flow on AWS Step Functions: create, trigger, list-runs.")
    @click.option("--name", "sfn_name", default=None,
                  help="The state machine's name (default: the flow's name).")
    @click.pass_obj
    def step_functions(state, sfn_name):
        from .plugins.aws.step_functions.state_machine import state_machine_name

        state.sfn_name = sfn_name or state_machine_name(flow.name)

    @step_functions.command(name="create",
                            help="Deploy the flow as a state machine, or update it.")
    @click.option("--only-json", is_flag=True, default=False,
                  help="Print the state machine's definition (JSON) and deploy nothing.")
    @click.option("--max-num-splits", default=DEFAULT_MAX_NUM_SPLITS, show_default=True,
                  type=click.IntRange(min=1),
                  help="Most tasks a foreach may yield in an execution.")
    @click.pass_obj
    def sfn_create(state, only_json, max_num_splits):
        from .package import CodePackage, parse_suffixes
        from .plugins.aws.step_functions import deployer

        state.validate()
        if state.ds_type != "s3":
            raise CommandException(
                "Step Functions runs every step on AWS Batch against the S3 datastore: "
                "run `step-functions create` with --datastore s3.")
        if not only_json:
            deployer.iam_role()
        extra = [parse_decospec(s) for s in state.decospecs]
        package = CodePackage.for_flow(state.flow, state.entrypoint()[-1],
                                       parse_suffixes(state.package_suffixes))
        record = (package.save(state.flow_datastore) if not only_json
                  else package.record(state.flow_datastore))
        definition = deployer.definition_of(
            graph, flow.name, record,
            lambda name: step_decorators(getattr(type(flow), name), extra),
            get_username(), max_num_splits, register=not only_json)
        if only_json:
            click.echo(json.dumps(definition, indent=2))
            return
        arn, new = deployer.create(state.sfn_name, definition)
        # The clients here then find the executions' runs with no settings, as a run's.
        get_metadata_provider("local").point_to(flow.name, state.metadata.storage)
        state.echo("State machine %s %s (%s)." % (state.sfn_name, "created" if new else "updated",
                                                   arn))

    @step_functions.command(name="trigger", help="Start an execution of the state machine.")
    @click.pass_obj
    def sfn_trigger(state, **param_values):
        from .plugins.aws.step_functions import deployer

        given = {}
        for attr, param in flow_parameters(type(flow)):
            if param_values.get(attr) is not None:
                given[param.name] = param_values[attr]
        arn, run_id = deployer.trigger(state.sfn_name, json.loads(json.dumps(given, default=str)))
        state.echo("Execution %s started: run %s/%s." % (arn, flow.name, run_id))

    sfn_trigger.params.extend(parameter_options(type(flow)))

    # What each Batch job of an execution runs (through remote_task.py), not a user's command.
    @step_functions.command(name="task", hidden=True)
    @click.argument("step_name")
    @click.option("--code-package", required=True, help="The run's code package, as JSON.")
    @click.option("--max-num-splits", default=DEFAULT_MAX_NUM_SPLITS, type=click.IntRange(min=1))
    @click.pass_obj
    def sfn_task(state, step_name, code_package, max_num_splits):
        from .plugins.aws.step_functions import execution_task

        execution_task.run(state, step_name, get_username(), json.loads(code_package),
                           max_num_splits)

    @step_functions.command(name="list-runs", help="List the executions of the state machine.")
    @click.option("--status", default=None,
                  type=click.Choice(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]),
                  help="Only executions in this state.")
    @click.pass_obj
    def sfn_list_runs(state, status):
        from .plugins.aws.step_functions import deployer

        rows = deployer.list_runs(state.sfn_name, status)
        if not rows:
            state.echo("No executions of %s." % state.sfn_name)
            return
        columns = ("run_id", "status", "started", "stopped")
        widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
        for values in [dict(zip(columns, (c.upper() for c in columns)))] + rows:
            click.echo("  ".join(values[c].ljust(w) for c, w in zip(columns, widths)).rstrip())

    add_card_commands(start)

    @start.command(help="Print the version of metaflow_core.")
    def version():
        click.echo(__version__)

    @start.command(name="help", help="Show all available commands.")
    @click.pass_context
    def help_(ctx):
        click.echo(ctx.parent.get_help())

    return start


def _shown_values(flow, values):
    """How dump shows each of ``values``, in order: repr() for a Python value; for
    a value Python can't read (an RObject), the flow's front end's preview, else repr()."""
    from .datastore.serializers import RObject

    r_values = [value for value in values if isinstance(value, RObject)]
    previews = iter(front_end_of(type(flow)).previews(r_values) or map(repr, r_values))
    return iter([next(previews) if isinstance(value, RObject) else repr(value)
                 for value in values])


def _descendants(graph, name):
    found, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        todo.extend(graph[current].out_funcs)
    return found


def _refuse_running_origin(flow_name, run_id, record):
    """A run whose runtime is still alive can't be resumed: its tasks would run twice.

    Alive is what the record says (running, heartbeat fresh), or, on this host, a
    runtime process that still exists even if its heartbeat stopped (suspended)."""
    from .metadata.local import process_gone

    status = record.get("status") or {}
    runtime = status.get("runtime") or {}
    silent = status.get("heartbeat_at") is not None and not process_gone(runtime) \
        and runtime.get("host") == socket.gethostname()
    if status.get("status") != "running" and not silent:
        return
    where = ""
    if runtime.get("pid"):
        where = " (its runtime is pid %s on %s)" % (runtime["pid"], runtime.get("host", "?"))
    raise CommandException(
        "Run *%s/%s* is still running%s: resuming it now would run its tasks twice. "
        "Wait for it to finish, or stop it (Ctrl-C, or kill %s), then resume."
        % (flow_name, run_id, where, runtime.get("pid", "its runtime")))


def _new_runtime(state, user, tags, max_workers, max_num_splits, max_log_size, run_id_file,
                 event_file, namespace=None, origin_run_id=None, steps_to_rerun=None):
    from .run_events import RunEvents
    from .runtime import NativeRuntime

    flow = state.flow
    metadata = state.metadata
    validate_tags(tags)
    # Opened before the run exists: a file that can't be written leaves no run behind.
    run_events = RunEvents(event_file)
    # Before the run exists: a step that can't run where it asks to, or a flow
    # that can't be packed, fails with no run left behind.
    package = _save_code_package(state)
    run_id = metadata.new_run_id(flow.name)
    system_tags = ["user:%s" % user, "runtime:dev", "metaflow_version:%s" % __version__,
                   "python_version:%s" % sys.version.split()[0]]
    metadata.register_run(flow.name, run_id, user, tags=tags, system_tags=system_tags,
                          origin_run_id=origin_run_id, code_package=package)
    if not metadata.local:
        # The clients here then find the flow's runs with no settings (PROTOCOL.md).
        get_metadata_provider("local").point_to(flow.name, metadata.storage)
    files = front_end_of(type(flow)).code_files()
    if files:
        metadata.save_code(flow.name, run_id, files)
    if run_id_file:
        _write_user_file(run_id_file, run_id.encode("utf-8"), "--run-id-file")
    runtime = NativeRuntime(
        flow, state.graph, state.flow_datastore, metadata, state.entrypoint(), run_id, user,
        max_workers=max_workers, max_num_splits=max_num_splits, max_log_size=max_log_size,
        namespace=namespace, decospecs=state.decospecs,
        echo=lambda msg, system=True: state.echo(msg, system=system),
        quiet=state.quiet, origin_run_id=origin_run_id, steps_to_rerun=steps_to_rerun,
        run_events=run_events,
    )
    runtime.code_package = package
    return runtime


def _save_code_package(state):
    """Check each step's launcher against the run; when a step runs elsewhere, pack
    the flow and store it once (package.py). Returns what the run records of the
    package, or None for a run whose tasks all run here."""
    from .launcher import launcher_for

    extra = [parse_decospec(s) for s in state.decospecs]
    remote = False
    for node in state.graph:
        launcher = launcher_for(step_decorators(getattr(type(state.flow), node.name), extra))
        launcher.check(state, node.name)
        remote = remote or launcher.needs_code_package
    if not remote:
        return None
    from .package import WARN_BYTES, CodePackage, parse_suffixes

    package = CodePackage.for_flow(state.flow, state.entrypoint()[-1],
                                   parse_suffixes(state.package_suffixes))
    if len(package.data) > WARN_BYTES:
        state.echo("Warning: the code package is %d MB: are data files matching "
                   "--package-suffixes in the flow's directory?" % (len(package.data) >> 20))
    record = package.save(state.flow_datastore)
    state.info("Code package %s (%d files, %d KB) saved for the tasks that run elsewhere."
               % (package.sha[:12], len(package.info["files"]), max(1, len(package.data) >> 10)))
    return record


def _write_user_file(path, data, option):
    """Write a file the command line named: one it can't write is the user's error,
    named with its option, not an engine bug."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as err:
        raise CommandException("Could not write %s *%s*: %s." % (option, path, err.strerror))


def _split_input_path(state, input_path):
    """(run id, step, task ids) of ``RUN_ID/STEP[/TASK_ID]``, each checked to exist:
    what is missing is named, with what exists there instead."""
    parts = input_path.strip("/").split("/")
    if len(parts) not in (2, 3):
        raise CommandException(
            "Expected an input path of the form RUN_ID/STEP or RUN_ID/STEP/TASK_ID, got *%s*."
            % input_path
        )
    for level, part in zip(("run id", "step name", "task id"), parts):
        check_id(level, part, input_path)
    run_id, step_name = parts[0], parts[1]
    flow_name = state.flow.name
    if state.metadata.run(flow_name, run_id) is None:
        raise CommandException("Run *%s/%s* does not exist." % (flow_name, run_id))
    if step_name not in state.graph and step_name != "_parameters":
        raise CommandException("Step *%s* doesn't exist in flow %s." % (step_name, flow_name))
    task_ids = sorted(state.flow_datastore.task_ids(run_id, step_name), key=_num)
    if state.metadata.step(flow_name, run_id, step_name) is None or not task_ids:
        raise CommandException("Step *%s* has no tasks in run %s/%s: it has not run."
                               % (step_name, flow_name, run_id))
    if len(parts) == 3:
        if state.metadata.task(flow_name, run_id, step_name, parts[2]) is None:
            raise CommandException("Task *%s/%s/%s/%s* does not exist. Tasks of step %s: %s."
                                   % (flow_name, run_id, step_name, parts[2], step_name,
                                      ", ".join(task_ids)))
        task_ids = [parts[2]]
    return run_id, step_name, task_ids


def _done_task(state, run_id, step_name, task_id):
    """The datastore of a task's latest completed attempt, or an error that says why
    there is none."""
    try:
        return state.flow_datastore.task(run_id, step_name, task_id)
    except MetaflowDataMissing:
        raise CommandException(
            "Task *%s/%s/%s/%s* has no completed attempt, so it has no artifacts: it failed "
            "or is still running. Its logs say more: logs %s/%s/%s."
            % (state.flow.name, run_id, step_name, task_id, run_id, step_name, task_id)
        ) from None


def _tasks_for(state, input_path):
    run_id, step_name, task_ids = _split_input_path(state, input_path)
    return [_done_task(state, run_id, step_name, t) for t in sorted(task_ids, key=_num)]


class _LogRef(object):
    def __init__(self, ds_factory, run_id, step_name, task_id):
        self.run_id, self.step_name, self.task_id = run_id, step_name, task_id
        self._ds = ds_factory

    def load_log(self, stream, attempt):
        return self._ds.load_log(stream, attempt)


def _task_refs(state, input_path, attempt):
    run_id, step_name, task_ids = _split_input_path(state, input_path)
    refs = []
    for task_id in sorted(task_ids, key=_num):
        attempts = [a["attempt"] for a in state.metadata.attempts(state.flow.name, run_id,
                                                                  step_name, task_id)]
        if not attempts:
            raise CommandException("Task *%s/%s/%s* has not started." % (run_id, step_name, task_id))
        chosen = attempts[-1] if attempt is None else attempt
        if chosen not in attempts:
            raise CommandException("Task *%s/%s/%s* has no attempt %d (attempts: %s)."
                                   % (run_id, step_name, task_id, chosen,
                                      ", ".join(map(str, attempts))))
        ds = state.flow_datastore.task(run_id, step_name, task_id, attempt=chosen, mode="w")
        refs.append(_LogRef(ds, run_id, step_name, task_id))
    return refs


def _num(text):
    return (0, int(text)) if text.isdigit() else (1, text)


def _reopen_closed_streams():
    """A closed stdin, stdout or stderr (``2>&-``) becomes /dev/null: left closed, the
    next file opened would take its number and get what is printed."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))


def echo_or_drop(msg, err=True):
    """click.echo, but a closed or broken stream (a pipe whose reader left, a closed
    terminal, a full disk) loses the output, never the run: what the runtime says
    after that goes nowhere, and the run goes on to record how it ended."""
    fd = 2 if err else 1
    try:
        click.echo(msg, err=err)
    except (OSError, ValueError):
        _drop_stream(fd)


def _drop_stream(fd):
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass
    stream = sys.stderr if fd == 2 else sys.stdout
    try:
        # What is still buffered for the broken stream would fail again at exit.
        stream.flush()
    except (OSError, ValueError):
        pass


# Set (to "1") by a front end that reports the error a command ends with from
# its failure file (R's run()): printed here too, the user would read it twice.
FRONT_END_REPORTS = "METAFLOW_FRONT_END_REPORTS_ERRORS"


def main(flow, args=None):
    """Parse the command line and run a command for ``flow``; exits the process.

    An error is printed (cli_errors.format_error) and, with --failure-file, also
    written there as data; a front end that reports it from there asks for it not to be
    printed (FRONT_END_REPORTS).
    """
    _reopen_closed_streams()
    argv = sys.argv[1:] if args is None else list(args)
    debug = "--debug" in argv
    summary_path = failure_file(argv)

    def fail(kind, headline, message, exit_code, err=None):
        write_failure(summary_path, failure_summary(kind, headline, message, exit_code, err))
        sys.exit(exit_code)

    try:
        graph = FlowGraph(type(flow))
        cli = make_cli(flow, graph)
        # A front end that runs the generated module (R's `Rscript flow.R`) names itself.
        prog_name = os.environ.get("METAFLOW_PROG_NAME") or os.path.basename(sys.argv[0])
        cli.main(args=args, prog_name=prog_name,
                 auto_envvar_prefix="METAFLOW", standalone_mode=False)
    except click.exceptions.Abort:
        echo_or_drop("Aborted!")
        fail("interrupted", "Aborted", "The command was aborted.", 1)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.UsageError as err:
        # A front end without a command line (R's run() in a session) asks for
        # the message alone: the usage line and --help hint would name a program
        # its user never typed.
        if os.environ.get("METAFLOW_USAGE_HINTS") == "0":
            echo_or_drop("Error: %s" % err.format_message())
        else:
            err.show()
        fail("usage", "Invalid command line", err.format_message(), err.exit_code)
    except click.ClickException as err:
        err.show()
        fail("error", "Command failed", err.format_message(), err.exit_code)
    except MetaflowException as err:
        if debug:
            traceback.print_exc()
        if not (summary_path and os.environ.get(FRONT_END_REPORTS) == "1"):
            echo_or_drop(format_error(err, color=sys.stderr.isatty()))
        if isinstance(err, RunInterrupted):
            kind = "interrupted"
        elif getattr(err, "run_pathspec", None):
            kind = "run"
        else:
            kind = "error"
        fail(kind, err.headline, err.message, err.exit_code, err)
    except KeyboardInterrupt:
        echo_or_drop("Interrupted.")
        fail("interrupted", "Interrupted", "The command was interrupted.", 130)
    except Exception as err:
        # A bug in the engine, not a user error: say so, and keep the trace for the report.
        click.echo("    Internal error (please report this as a bug):", err=True)
        traceback.print_exc()
        fail("internal", "Internal error (please report this as a bug)",
             "%s: %s" % (type(err).__name__, err), 1)
    sys.exit(0)
