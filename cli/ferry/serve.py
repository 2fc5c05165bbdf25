"""``ferry serve FUNCTION``: one function over HTTP, as its Knative Service runs it.

Reads its settings from the environment (``shared.settings``), builds the function's Flask app
(``shared.endpoint``) and serves it with waitress on ``$PORT``. It decides nothing about
rollouts; a function it does not know is refused with the list of known ones (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys

THREADS = 8
"""Requests one ``ferry serve`` takes at once (waitress's threads): its Knative Service's
``containerConcurrency``, so Knative sends a ninth concurrent request to another instance
rather than queueing it behind slow ones."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="serve one function over HTTP (in a Knative Service)")
    serve.add_argument("function", help="the function's name, e.g. detect")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument(
        "--host", default="0.0.0.0", help="the address to listen on (default: all, in a Pod)"
    )
    serve.set_defaults(run=run, structured_logs=True)  # JSON lines at INFO (shared.logs)


def run(args: argparse.Namespace) -> int:
    from kubernetes.config import ConfigException
    from waitress import serve

    import functions
    from shared import limits
    from shared.context import Context
    from shared.endpoint import create_app
    from shared.senders import Senders
    from shared.settings import Settings

    try:
        handler = functions.handler(args.function)
        settings = Settings.from_env()
        if settings.sender_auth and not settings.audience:
            raise ValueError(
                "FERRY_AUDIENCE must be set (the audience of the tokens the Broker sends, e.g. "
                f"ferry.dev/functions/{args.function}); or FERRY_SENDER_AUTH=none to accept "
                "unauthenticated deliveries, only where the network admits the Broker alone"
            )
        context = Context.from_settings(settings)
    except (ValueError, RuntimeError, ConfigException) as exc:
        print(f"ferry serve: {exc}", file=sys.stderr)
        return 2
    if settings.otlp:
        import atexit

        from shared import tracing

        provider = tracing.otlp_provider(f"ferry-{args.function}")
        tracing.configure(provider)
        atexit.register(provider.shutdown)  # the last spans leave before the process does
    senders = None
    if settings.sender_auth:
        senders = Senders(context.kube, settings.audience, settings.senders)
    app = create_app(args.function, handler, context, senders)
    serve(
        app,
        host=args.host,
        port=args.port,
        threads=THREADS,
        ident="ferry",
        max_request_body_size=limits.MAX_EVENT_BYTES,  # refused before it is buffered
    )
    return 0
