"""``kubectl ferry``: the kubectl plugin for Ferry (found on PATH as ``kubectl-ferry``).

Parses the command line, runs one command and maps the outcome to an exit code. It talks to
the Kubernetes API only (``cli.kubectl_ferry.control``, through ``shared.kube.Kube`` and the user's
kubeconfig, so RBAC decides who may do what), never to Redis or the local runtime, and never
writes a Rollout's spec: manual actions are appended to ``status.commands``. What is printed
is built by ``cli.kubectl_ferry.views``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NoReturn

import yaml

from cli.kubectl_ferry import completion, control, drawing, views
from shared.models import parse_duration
from shared.version import VERSION

OK, FAILED, TIMED_OUT, UNANSWERED, ERROR, USAGE = 0, 1, 2, 3, 4, 5
"""Exit codes (see EPILOG)."""

EPILOG = """\
examples:
  kubectl ferry list rollouts -A
  kubectl ferry list rollouts -w           # a row each time a rollout changes
  kubectl ferry get rollout podinfo -w     # revisions, ReplicaSets, Pods, AnalysisRuns
  kubectl ferry get rollout podinfo -o json
  kubectl ferry promote podinfo            # the next step (--full: all the remaining steps)
  kubectl ferry abort podinfo              # traffic back to stable; retry podinfo starts again
  kubectl ferry restart podinfo            # replace the stable Pods (no new revision)
  kubectl ferry status podinfo --timeout 10m && echo released
  source <(kubectl ferry completion bash)  # completes kubectl-ferry (zsh: completion zsh)
  kubectl ferry lint rollout.yaml templates.yaml   # offline, for CI: no cluster needed
  kubectl ferry plan rollout.yaml templates.yaml   # the timeline before it is applied

Options --kubeconfig, --context and -n/--namespace go after "ferry" (kubectl refuses flags
before a plugin's name). Manual actions are appended to the Rollout's status.commands through
the status subresource (RBAC: patch on rollouts/status); the spec is never written, so GitOps
tools do not revert them. Ferry answers each in status.history.

exit codes:
  0  done: the command was carried out; status: Healthy, the target's revision is stable
  1  Ferry refused the command (see its note); status: the rollout is Degraded
  2  status: the rollout did not finish within --timeout
  3  the command was recorded, but Ferry did not answer within --timeout (is it running?)
  4  a Kubernetes error: rollout not found, forbidden, cluster unreachable, bad kubeconfig
  5  wrong usage
lint: 0 no error, 1 errors found, 2 a file could not be read or is not YAML.
plan: 0 planned, 1 the Rollout is invalid or missing, or lint found errors (the plan is
  printed all the same when it can be made), 2 a file could not be read or is not YAML.
"""

KINDS = ("rollout", "rollouts", "ro")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _now() -> datetime:
    return datetime.now(UTC)


def _ns_flag(session: control.Session) -> str:
    return "" if session.namespace == "default" else f" -n {session.namespace}"


# -- commands --------------------------------------------------------------------------------


EPOCH = datetime.fromtimestamp(0, UTC)
"""The "now" of the view a watch compares (every age 0s): it redraws on changes, not on time."""
TREE_POLL = 2.0
"""Seconds between looks at a watched rollout's ReplicaSets, Pods and AnalysisRuns (the Rollout
itself is watched: its changes show at once)."""


def _icons(args: argparse.Namespace) -> drawing.Icons:
    """Argo Rollouts' icons, or ASCII ones (``--ascii``, or an output that cannot show them)."""
    return drawing.for_output(sys.stdout.encoding, ascii_only=getattr(args, "ascii", False))


def _document(tree: control.Obj, output: str) -> str:
    if output == "json":
        return json.dumps(tree, indent=2)
    return str(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)).rstrip()


def _get(session: control.Session, args: argparse.Namespace) -> int:
    icons = _icons(args)

    def shown(obj: control.Obj, tree: control.Obj, now: datetime) -> str:
        if args.output:
            return _document(tree, args.output)
        return views.rollout_view(obj, tree, now, icons=icons)

    if not args.watch:
        obj = control.rollout(session, args.name)
        print(shown(obj, control.tree(session, obj), _now()))
        return OK
    timeout = args.timeout if args.timeout is not None else args.timeout_seconds
    deadline = None if timeout is None else time.monotonic() + timeout
    redraw = sys.stdout.isatty() and not args.output
    last: str | None = None
    try:
        for obj in control.follow(session, args.name, deadline, every=TREE_POLL):
            tree = control.tree(session, obj)
            key = shown(obj, tree, EPOCH)  # without the clock: redrawn on changes, not on time
            if key == last:
                continue
            if redraw:
                sys.stdout.write("\x1b[H\x1b[2J")  # home, clear screen
            elif last is not None:
                sys.stdout.write("---\n" if args.output == "yaml" else "\n")
            print(shown(obj, tree, _now()), flush=True)
            last = key
    except KeyboardInterrupt:
        pass
    return OK


def _list(session: control.Session, args: argparse.Namespace) -> int:
    if args.watch:
        return _list_watch(session, args)
    found = [
        r
        for r in control.rollouts(session, all_namespaces=args.all_namespaces)
        if not args.name or r["metadata"]["name"] == args.name
    ]
    if not found:
        where = "" if args.all_namespaces else f' in namespace "{session.namespace}"'
        print(f"No rollouts found{where}.", file=sys.stderr)
        return OK
    print(views.rollouts_table(found, _now(), all_namespaces=args.all_namespaces))
    return OK


def _list_watch(session: control.Session, args: argparse.Namespace) -> int:
    """``list rollouts -w``: the table, then a row each time a rollout's row changes (its AGE
    aside), as ``kubectl get -w`` prints; until Ctrl-C or ``--timeout``."""
    every = args.all_namespaces
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    header = views.rollouts_header(all_namespaces=every)
    widths: list[int] | None = None
    listed: list[control.Obj] = []
    last: dict[str, list[str]] = {}

    def key(obj: control.Obj) -> str:
        return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"

    def emit(cells: list[str]) -> None:
        assert widths is not None
        stamp = f"{_now().strftime('%Y-%m-%dT%H:%M:%SZ')}  " if args.timestamps else ""
        print(stamp + views.aligned(cells, widths), flush=True)

    def start() -> None:
        nonlocal widths
        rows = [views.rollout_row(o, _now(), all_namespaces=every) for o in listed]
        widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(len(header))]
        widths = [max(w, 8) for w in widths]
        stamp = f"{'TIME':<20}  " if args.timestamps else ""
        print(stamp + views.aligned(header, widths), flush=True)
        for obj, row in sorted(zip(listed, rows, strict=True), key=lambda p: key(p[0])):
            last[key(obj)] = row[:-1]
            emit(row)

    try:
        for kind, obj in control.watch_rollouts(session, all_namespaces=every, deadline=deadline):
            if args.name and kind != "SYNCED" and obj["metadata"]["name"] != args.name:
                continue
            if kind == "LISTED":
                listed.append(obj)
                continue
            if kind == "SYNCED":
                start()
                continue
            row = views.rollout_row(obj, _now(), all_namespaces=every)
            if kind == "DELETED":
                row[-6] = "Deleted"  # the PHASE column
                last.pop(key(obj), None)
                emit(row)
                continue
            if last.get(key(obj)) != row[:-1]:  # AGE aside
                last[key(obj)] = row[:-1]
                emit(row)
    except KeyboardInterrupt:
        pass
    return OK


def _act(session: control.Session, args: argparse.Namespace) -> int:
    name, action = args.name, args.command
    entry = control.new_command(action, control.whoami(session), full=getattr(args, "full", False))
    written = control.append_command(session, name, entry)
    if not args.wait:
        print(
            f"rollout {name}: {action} recorded (command {entry['id']}); Ferry's answer will "
            f"be in: kubectl ferry history {name}{_ns_flag(session)}"
        )
        return OK
    answer = control.wait_for_answer(session, written, entry["id"], args.timeout)
    if answer is None:
        print(
            f"rollout {name}: the {action} command was recorded (id {entry['id']}), but Ferry "
            f"has not handled it within {args.timeout:g}s.\n"
            "Is Ferry running? Check: kubectl get pods -n ferry-system\n"
            "The command stays in the Rollout's status.commands; see what happened with: "
            f"kubectl ferry history {name}{_ns_flag(session)}",
            file=sys.stderr,
        )
        return UNANSWERED
    print(f"rollout {name}: {answer.get('note') or '(no note)'}")
    return FAILED if control.refused(answer) else OK


def _status(session: control.Session, args: argparse.Namespace) -> int:
    name = args.name
    shown: tuple[object, ...] | None = None
    last: control.Obj = {}
    for obj in control.follow(session, name, time.monotonic() + args.timeout):
        last = obj
        status = obj.get("status") or {}
        phase = status.get("phase")
        key = (
            phase,
            status.get("currentStepIndex"),
            status.get("canaryWeight"),
            status.get("message"),
        )
        if key != shown:
            print(views.progress_line(obj), flush=True)
            shown = key
        # Done only once Ferry has seen the latest spec and the target's current revision
        # (an image change edits the Deployment, not the Rollout) and that revision is stable.
        revision = control.target_revision(session, obj)
        current = (
            status.get("observedGeneration") == obj["metadata"].get("generation")
            and revision is not None
            and status.get("currentPodHash") == revision
        )
        if current and phase == "Healthy" and status.get("stableRevision") == revision:
            print(f"rollout {name} is Healthy: revision {status.get('stableRevision')} is stable")
            return OK
        if current and phase == "Degraded":
            print(f"rollout {name} is Degraded: {status.get('message') or ''}", file=sys.stderr)
            return FAILED
    status = last.get("status") or {}
    hint = ""
    reasons = {p.get("reason") for p in status.get("pauseConditions") or [] if isinstance(p, dict)}
    if "PausedByUser" in reasons:
        hint = f"; it waits for: kubectl ferry resume {name}{_ns_flag(session)}"
    elif reasons & {"PausedIndefinitely", "InconclusiveAnalysis"}:
        hint = f"; it waits for: kubectl ferry promote {name}{_ns_flag(session)}"
    print(
        f"rollout {name} did not finish within {args.timeout:g}s "
        f"(phase {status.get('phase') or 'unknown'}{_unseen(session, last)}){hint}",
        file=sys.stderr,
    )
    return TIMED_OUT


def _unseen(session: control.Session, obj: control.Obj) -> str:
    """Why the status cannot be trusted yet, if Ferry has not seen the target's revision."""
    revision = control.target_revision(session, obj) if obj else None
    seen = (obj.get("status") or {}).get("currentPodHash")
    if revision and seen != revision:
        return f"; Ferry has not seen the target's revision {revision} yet (it has seen {seen})"
    return ""


def _history(session: control.Session, args: argparse.Namespace) -> int:
    obj = control.rollout(session, args.name)
    found, note = control.events(session, obj)
    print(views.timeline(obj, found) or f"rollout {args.name} has no history yet")
    if note:
        print(f"(events not shown: {note})", file=sys.stderr)
    return OK


# -- the command line ------------------------------------------------------------------------


def _connection_options() -> _Parser:
    """--kubeconfig, --context, -n: accepted before or after the subcommand."""
    common = _Parser(add_help=False)
    group = common.add_argument_group("cluster")
    group.add_argument(
        "--kubeconfig",
        default=argparse.SUPPRESS,
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
    )
    group.add_argument(
        "--context", default=argparse.SUPPRESS, help="kubeconfig context (default: the current)"
    )
    group.add_argument(
        "-n",
        "--namespace",
        default=argparse.SUPPRESS,
        help="namespace (default: the context's, else default)",
    )
    return common


def build_parser(prog: str = "kubectl ferry") -> argparse.ArgumentParser:
    """The command line (``prog``: what the usage calls it; completion scripts are written for
    the executable, ``kubectl-ferry``)."""
    common = _connection_options()
    parser = _Parser(
        prog=prog,
        description="Inspect and control Ferry rollouts through the Kubernetes API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"kubectl-ferry {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, run: Callable[..., int]) -> argparse.ArgumentParser:
        made = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        made.set_defaults(run=run)
        return made

    def rollout_name(made: argparse.ArgumentParser) -> None:
        completion.rollout_names(made.add_argument("name", help="the Rollout's name"))

    get = command(
        "get",
        "show a rollout: phase, images, replicas, steps, history, and its tree of revisions, "
        "ReplicaSets, Pods and AnalysisRuns",
        _get,
    )
    get.add_argument("kind", choices=KINDS, metavar="rollout")
    rollout_name(get)
    get.add_argument("-w", "--watch", action="store_true", help="redraw on every change")
    get.add_argument(
        "--timeout", type=_duration, help="with -w: stop after this long (e.g. 30s, 5m)"
    )
    get.add_argument(
        "--timeout-seconds", type=int, help="with -w: stop after this many seconds (Argo's flag)"
    )
    get.add_argument(
        "-o",
        "--output",
        choices=("json", "yaml"),
        help="print the Rollout and its tree as data (kind RolloutTree, version 1)",
    )
    get.add_argument(
        "--ascii", action="store_true", help="plain ASCII marks instead of Argo's icons"
    )

    listing = command("list", "list rollouts: phase, step, weight, revisions, age", _list)
    listing.add_argument("kind", choices=KINDS, metavar="rollouts")
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list them in every namespace"
    )
    listing.add_argument("--name", help="only the rollout of this name")
    listing.add_argument(
        "-w", "--watch", action="store_true", help="then print a row each time a rollout changes"
    )
    listing.add_argument(
        "--timeout", type=_duration, help="with -w: stop after this long (e.g. 30s, 5m)"
    )
    listing.add_argument(
        "--timestamps", action="store_true", help="with -w: print the time before each row"
    )

    for action, what in [
        ("promote", "go on to the next step (--full: skip the remaining steps)"),
        ("abort", "stop the rollout: all traffic back to the stable revision"),
        ("retry", "start an aborted rollout again"),
        ("pause", "pause the rollout where it is"),
        ("resume", "go on after a pause"),
        ("confirm", "open the gate the rollout waits at (spec.webhooks)"),
        ("restart", "restart the stable Pods (a rolling update of the primary; no new revision)"),
    ]:
        act = command(action, what, _act)
        rollout_name(act)
        if action == "promote":
            act.add_argument("--full", action="store_true", help="skip all the remaining steps")
        act.add_argument(
            "--wait",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="wait for Ferry's answer (default: wait)",
        )
        act.add_argument(
            "--timeout", type=_duration, default=15.0, help="how long to wait (default 15s)"
        )

    status = command(
        "status", "wait until the rollout is done (for CI): exit 0 Healthy, 1 Degraded", _status
    )
    rollout_name(status)
    status.add_argument(
        "--timeout", type=_duration, default=300.0, help="give up after this long (default 5m)"
    )

    history = command(
        "history", "Ferry's history of the rollout and its Kubernetes Events", _history
    )
    rollout_name(history)

    version = command(
        "version", "print the plugin's version, Ferry's in the cluster and Kubernetes'", _version
    )
    version.add_argument(
        "--short", action="store_true", help="only the plugin's version (no cluster is asked)"
    )
    shells = command("completion", "print a shell completion script (bash or zsh)", _completion)
    shells.add_argument("shell", choices=completion.SHELLS)
    names = sub.add_parser(completion.NAMES_COMMAND, parents=[common])  # no help: not listed
    names.set_defaults(run=_names)
    _offline_commands(sub)
    return parser


def _offline_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``lint`` and ``plan``: they read files only (OFFLINE). Their modules are imported when
    they run: the CRDs' schemas and Ferry's parsers take ~150 ms to import, which every other
    command, and each <TAB> of a completion, would pay."""
    what = "check Ferry's objects in YAML files offline (schema, Ferry's parsing, templates)"
    linting = sub.add_parser(
        "lint",
        help=what,
        description=(
            f"{what}. Prints FILE:LINE:COLUMN: error|warning: field.path: what is wrong — what"
            " to do. Exit 0: no error, 1: errors found, 2: a file could not be read or is not"
            " YAML."
        ),
    )
    linting.add_argument(
        "files", nargs="+", metavar="FILE", help="YAML files (-: stdin; a directory: its files)"
    )
    linting.add_argument("--warnings-as-errors", action="store_true", help="exit 1 on warnings too")
    linting.set_defaults(run=_lint)
    what = "show the timeline a Rollout would follow, before it is applied"
    planning = sub.add_parser(
        "plan",
        help=what,
        description=(
            f"{what}: each step, the traffic split and the routing objects written at each "
            "weight, analyses with their rendered queries, and the minimum total time. "
            "Templates are taken from the other files given."
        ),
    )
    planning.add_argument("files", nargs="+", metavar="FILE", help="YAML files (-: stdin)")
    planning.add_argument("--name", help="the Rollout to plan, when the files hold several")
    planning.set_defaults(run=_plan)
    for offline in (linting, planning):
        offline.add_argument("-o", "--output", choices=("text", "json"), default="text")
        offline.add_argument(
            "--crds",
            metavar="DIR",
            help="the directory of Ferry's CRDs (default: this installation's knative/crds)",
        )


def _lint(session: None, args: argparse.Namespace) -> int:
    from cli.kubectl_ferry import lint  # here only: see _offline_commands

    return lint.run(session, args)


def _plan(session: None, args: argparse.Namespace) -> int:
    from cli.kubectl_ferry import plan  # here only: see _offline_commands

    return plan.run(session, args)


def _version(session: control.Session | None, args: argparse.Namespace) -> int:
    print(f"kubectl-ferry {VERSION}")
    if args.short:
        return OK
    if session is None:
        print(f"{'Ferry:':<12}unknown ({args.unconnected})")
        print(f"{'Kubernetes:':<12}unknown ({args.unconnected})")
        return OK
    print(f"{'Ferry:':<12}{control.ferry_version(session)}")
    print(f"{'Kubernetes:':<12}{control.kubernetes_version(session)}")
    return OK


def _completion(session: control.Session | None, args: argparse.Namespace) -> int:
    print(completion.script(build_parser(completion.EXECUTABLE), args.shell))
    return OK


def _names(session: control.Session, args: argparse.Namespace) -> int:
    """The rollouts' names, one a line (what completion offers; nothing when they cannot be
    listed: a completion never prints an error)."""
    try:
        found = control.rollouts(session)
    except control.Failure:
        return OK
    for obj in found:
        print(obj["metadata"]["name"])
    return OK


OFFLINE = ("completion", "lint", "plan")
"""Commands that never talk to a cluster."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return OK
    if args.command in OFFLINE or (args.command == "version" and args.short):
        return int(args.run(None, args))
    try:
        try:
            session = control.connect(
                getattr(args, "kubeconfig", None),
                getattr(args, "context", None),
                getattr(args, "namespace", None),
            )
        except control.Failure as exc:
            if args.command in ("version", completion.NAMES_COMMAND):
                args.unconnected = str(exc)  # the plugin's version all the same
                return int(args.run(None, args)) if args.command == "version" else OK
            raise
        return int(args.run(session, args))
    except control.Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
