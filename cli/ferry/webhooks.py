"""``ferry webhooks``: Ferry's public webhook endpoint over HTTP, as its Knative Service runs it.

Reads ``REDIS_URL`` (replays are remembered there), ``FERRY_BROKER_URL`` and
``FERRY_BROKER_TOKEN_FILE`` (verified webhooks are handed to the Broker),
``FERRY_SLACK_SIGNING_SECRET_FILE`` (the Slack app's signing secret, e.g. the Secret ferry-slack
mounted; without it Slack's buttons are off), ``POD_NAMESPACE`` (where the ConfigMap
ferry-slack-users maps Slack users to Kubernetes identities) and the cluster from the
environment, and serves ``webhooks.app`` with waitress on ``$PORT``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    made = sub.add_parser("webhooks", help="serve Ferry's webhook endpoint (Slack's buttons)")
    made.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    made.add_argument("--host", default="0.0.0.0")
    made.set_defaults(run=run, structured_logs=True)


def signing_secret(path: str) -> bytes:
    """The Slack signing secret in ``path``; ValueError saying what to do when unusable."""
    if path and not Path(path).exists():
        return b""  # the Secret is optional: without it, Slack's buttons are off
    if not path:
        raise ValueError(
            "FERRY_SLACK_SIGNING_SECRET_FILE must name a file holding the Slack app's signing "
            "secret (Basic Information > App Credentials), e.g. the Secret ferry-slack mounted "
            "(knative/webhooks.yaml)"
        )
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the Slack signing secret {path}: {exc}") from None
    if not secret:
        raise ValueError(f"the Slack signing secret in {path} is empty")
    return secret


def run(args: argparse.Namespace) -> int:
    from kubernetes.config import ConfigException
    from waitress import serve

    from shared.kube import Kube
    from shared.receivers import MAX_BODY
    from shared.settings import Settings
    from shared.state import StateStore
    from webhooks.app import create_app

    try:
        try:
            settings = Settings.from_env()
        except RuntimeError as exc:
            raise ValueError(str(exc)) from None
        redis_url = settings.redis_url
        app = create_app(
            Kube.from_env(),
            StateStore.from_url(redis_url),
            signing_secret(os.environ.get("FERRY_SLACK_SIGNING_SECRET_FILE", "")),
            namespace=os.environ.get("POD_NAMESPACE", "ferry-system"),
            broker_url=settings.broker_url,
            broker_token=settings.broker_token(),
            webhook_key=settings.webhook_key(),
        )
    except (ValueError, ConfigException) as exc:
        print(f"ferry webhooks: {exc}", file=sys.stderr)
        return 2
    serve(
        app,
        host=args.host,
        port=args.port,
        threads=8,
        ident="ferry",
        max_request_body_size=MAX_BODY,
    )
    return 0
