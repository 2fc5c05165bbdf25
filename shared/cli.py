"""``kubectl ferry``: the kubectl plugin for Ferry (found on PATH as ``kubectl-ferry``).

Today it only reports its version; the rollout commands arrive with the rollout controller. It
talks to Kubernetes only, never to Redis or the local runtime.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.version import VERSION


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kubectl ferry", description="Inspect and control Ferry rollouts."
    )
    parser.add_argument("--version", action="version", version=f"kubectl-ferry {VERSION}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print the plugin's version")
    args = parser.parse_args(argv)
    if args.command in (None, "version"):
        print(f"kubectl-ferry {VERSION}")
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":
    sys.exit(main())
