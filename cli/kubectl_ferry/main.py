"""``kubectl ferry``: the kubectl plugin for Ferry (found on PATH as ``kubectl-ferry``).

Parses the command line, runs one command and maps the outcome to an exit code. It talks to
the Kubernetes API only (``cli.kubectl_ferry.control``, through ``shared.kube.Kube`` and the user's
kubeconfig, so RBAC decides who may do what), never to Redis or the local runtime, and never
writes a Rollout's spec: manual actions are appended to ``status.commands``. What is printed
is built by ``cli.kubectl_ferry.views``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NoReturn

from cli.kubectl_ferry import control, views
from shared.models import parse_duration
from shared.version import VERSION

OK, FAILED, TIMED_OUT, UNANSWERED, ERROR, USAGE = 0, 1, 2, 3, 4, 5
"""Exit codes (see EPILOG)."""

EPILOG = """\
examples:
  kubectl ferry list rollouts -A
  kubectl ferry get rollout podinfo -w
  kubectl ferry promote podinfo            # the next step (--full: all the remaining steps)
  kubectl ferry abort podinfo              # traffic back to stable; retry podinfo starts again
  kubectl ferry status podinfo --timeout 10m && echo released

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


def _get(session: control.Session, args: argparse.Namespace) -> int:
    if not args.watch:
        obj = control.rollout(session, args.name)
        runs, note = control.analysis_runs(session, obj)
        print(views.rollout_view(obj, runs, _now(), note))
        return OK
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    redraw = sys.stdout.isatty()
    shown: str | None = None
    try:
        for obj in control.follow(session, args.name, deadline):
            runs, note = control.analysis_runs(session, obj)
            view = views.rollout_view(obj, runs, _now(), note)
            if view == shown:
                continue
            if redraw:
                sys.stdout.write("\x1b[H\x1b[2J")  # home, clear screen
            elif shown is not None:
                sys.stdout.write("\n")
            print(view, flush=True)
            shown = view
    except KeyboardInterrupt:
        pass
    return OK


def _list(session: control.Session, args: argparse.Namespace) -> int:
    found = control.rollouts(session, all_namespaces=args.all_namespaces)
    if not found:
        where = "" if args.all_namespaces else f' in namespace "{session.namespace}"'
        print(f"No rollouts found{where}.", file=sys.stderr)
        return OK
    print(views.rollouts_table(found, _now(), all_namespaces=args.all_namespaces))
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


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = _Parser(
        prog="kubectl ferry",
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

    get = command("get", "show a rollout: phase, revisions, steps, analysis, history", _get)
    get.add_argument("kind", choices=KINDS, metavar="rollout")
    get.add_argument("name")
    get.add_argument("-w", "--watch", action="store_true", help="redraw on every change")
    get.add_argument(
        "--timeout", type=_duration, help="with -w: stop after this long (e.g. 30s, 5m)"
    )

    listing = command("list", "list rollouts: phase, step, weight, revisions, age", _list)
    listing.add_argument("kind", choices=KINDS, metavar="rollouts")
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list them in every namespace"
    )

    for action, what in [
        ("promote", "go on to the next step (--full: skip the remaining steps)"),
        ("abort", "stop the rollout: all traffic back to the stable revision"),
        ("retry", "start an aborted rollout again"),
        ("pause", "pause the rollout where it is"),
        ("resume", "go on after a pause"),
        ("confirm", "open the gate the rollout waits at (spec.webhooks)"),
    ]:
        act = command(action, what, _act)
        act.add_argument("name")
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
    status.add_argument("name")
    status.add_argument(
        "--timeout", type=_duration, default=300.0, help="give up after this long (default 5m)"
    )

    history = command(
        "history", "Ferry's history of the rollout and its Kubernetes Events", _history
    )
    history.add_argument("name")

    sub.add_parser("version", help="print the plugin's version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return OK
    if args.command == "version":
        print(f"kubectl-ferry {VERSION}")
        return OK
    try:
        session = control.connect(
            getattr(args, "kubeconfig", None),
            getattr(args, "context", None),
            getattr(args, "namespace", None),
        )
        return int(args.run(session, args))
    except control.Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
