"""``ferry dashboard``: the dashboard over HTTP, as its Knative Service runs it.

Reads ``REDIS_URL``, the session key (``FERRY_DASHBOARD_KEY_FILE``, a file of at least 32
bytes, e.g. a mounted Secret) and the cluster from the environment (in-cluster, else the
kubeconfig), and serves ``dashboard.app`` with waitress on ``$PORT``, sending each live update
as soon as it is written. ``--insecure-cookies`` drops the cookie's ``Secure`` flag, for plain
HTTP on a developer's machine only. ``FERRY_OIDC_*`` add sign-in with an OpenID Connect
provider (:func:`provider_from_env`); ``FERRY_TRACES_URL`` (e.g.
``https://jaeger.example.com/trace/{trace_id}``) links each rollout to its trace.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboard.oidc import Oidc


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    made = sub.add_parser("dashboard", help="serve the dashboard over HTTP")
    made.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    made.add_argument("--host", default="0.0.0.0")
    made.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="session cookie without Secure (plain HTTP on your own machine only)",
    )
    made.set_defaults(run=run, structured_logs=True)  # JSON lines at INFO (shared.logs)


def session_key(path: str) -> bytes:
    """The session key from ``path``; ValueError saying what to do when it is unusable."""
    if not path:
        raise ValueError(
            "FERRY_DASHBOARD_KEY_FILE must name a file holding the session key (at least 32 "
            "bytes), e.g. the Secret ferry-dashboard-session mounted (knative/dashboard.yaml)"
        )
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the session key {path}: {exc}") from None
    if len(key) < 32:
        raise ValueError(f"the session key in {path} is shorter than 32 bytes; make a longer one")
    return key


def provider_from_env() -> Oidc | None:
    """The OIDC provider ``FERRY_OIDC_ISSUER`` and ``FERRY_OIDC_CLIENT_ID`` name (None when
    the issuer is not set), with ``FERRY_OIDC_CLIENT_SECRET_FILE``, ``FERRY_OIDC_USERNAME_CLAIM``
    (default ``email``), ``FERRY_OIDC_GROUPS_CLAIM`` (``groups``), ``FERRY_OIDC_PREFIX``
    (``oidc:``)."""
    from dashboard.oidc import Oidc, Provider

    issuer = os.environ.get("FERRY_OIDC_ISSUER", "")
    if not issuer:
        return None
    secret = ""
    secret_file = os.environ.get("FERRY_OIDC_CLIENT_SECRET_FILE", "")
    if secret_file:
        try:
            secret = Path(secret_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the OIDC client secret {secret_file}: {exc}") from None
    return Oidc(
        Provider(
            issuer,
            os.environ.get("FERRY_OIDC_CLIENT_ID", ""),
            secret,
            username_claim=os.environ.get("FERRY_OIDC_USERNAME_CLAIM", "email"),
            groups_claim=os.environ.get("FERRY_OIDC_GROUPS_CLAIM", "groups"),
            prefix=os.environ.get("FERRY_OIDC_PREFIX", "oidc:"),
        )
    )


def run(args: argparse.Namespace) -> int:
    from kubernetes.config import ConfigException
    from waitress import serve

    from dashboard.app import MAX_BODY, create_app
    from shared.kube import Kube
    from shared.state import StateStore

    try:
        redis_url = os.environ.get("REDIS_URL") or ""
        if not redis_url:
            raise ValueError("REDIS_URL must be set (the state store's address)")
        key = session_key(os.environ.get("FERRY_DASHBOARD_KEY_FILE", ""))
        app = create_app(
            Kube.from_env(),
            StateStore.from_url(redis_url),
            key,
            secure_cookies=not args.insecure_cookies,
            oidc=provider_from_env(),
            traces_url=os.environ.get("FERRY_TRACES_URL", ""),
        )
    except (ValueError, ConfigException) as exc:
        print(f"ferry dashboard: {exc}", file=sys.stderr)
        return 2
    serve(
        app,
        host=args.host,
        port=args.port,
        threads=32,  # each live page holds a thread
        ident="ferry",
        send_bytes=1,  # a live update leaves at once
        max_request_body_size=MAX_BODY,
    )
    return 0
