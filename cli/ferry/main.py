"""``ferry``'s command line: parse, run one command, map the outcome to an exit code.

The commands are registered, not hard-wired: each module (here ``serve``, ``dashboard``,
``webhooks``, ``manifests`` and ``convert``; the local runtime's ``local.commands``, found through
the ``ferry.commands`` entry point group) adds its subcommands with a ``register(subparsers)``
function. Nothing here does the work itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from cli.ferry import convert, dashboard, manifests, serve, webhooks
from shared import logs
from shared.version import VERSION

ENTRY_POINTS = "ferry.commands"
"""Entry point group under which other packages register ``register(subparsers)`` functions."""


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="ferry", description="Ferry: progressive delivery.")
    made.add_argument("--version", action="version", version=f"ferry {VERSION}")
    made.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = made.add_subparsers(dest="command", required=True)
    serve.register(sub)
    dashboard.register(sub)
    webhooks.register(sub)
    manifests.register(sub)
    convert.register(sub)
    for entry in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        entry.load()(sub)
    return made


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(verbose=args.verbose, structured=getattr(args, "structured_logs", False))
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
