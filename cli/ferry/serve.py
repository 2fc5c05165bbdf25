"""``ferry serve FUNCTION``: one function over HTTP, as its Knative Service runs it.

Reads its settings from the environment (``shared.settings``), builds the function's Flask app
(``shared.endpoint``) and serves it with waitress on ``$PORT``. It decides nothing about
rollouts; a function it does not know is refused with the list of known ones (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="serve one function over HTTP (in a Knative Service)")
    serve.add_argument("function", help="the function's name, e.g. detect")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kubernetes.config import ConfigException
    from waitress import serve

    import functions
    from shared import limits
    from shared.context import Context
    from shared.endpoint import create_app
    from shared.settings import Settings

    try:
        handler = functions.handler(args.function)
        context = Context.from_settings(Settings.from_env())
    except (ValueError, RuntimeError, ConfigException) as exc:
        print(f"ferry serve: {exc}", file=sys.stderr)
        return 2
    app = create_app(args.function, handler, context)
    serve(
        app,
        host="0.0.0.0",
        port=args.port,
        threads=8,
        ident="ferry",
        max_request_body_size=limits.MAX_EVENT_BYTES,  # refused before it is buffered
    )
    return 0
