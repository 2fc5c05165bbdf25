"""Process settings, read once from the environment; nothing else in Ferry reads os.environ.

Knative (or the local runtime) sets these for every function and for the timer worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    redis_url: str
    """``REDIS_URL``: where rollout state lives (may carry a password: never log it)."""
    broker_url: str
    """``FERRY_BROKER_URL``: the Broker's ingress, where timers and the tick send events."""
    timer_queue: str = "ferry-timers"
    """``FERRY_TIMER_QUEUE``: the RQ queue of timers."""
    audience: str = ""
    """``FERRY_AUDIENCE``: the audience a delivery's token must be issued for (the Trigger's
    ``subscriber.audience``), e.g. ``ferry.dev/functions/detect``."""
    senders: tuple[str, ...] = ()
    """``FERRY_SENDERS``: comma-separated subjects allowed to deliver (``*`` at the end matches
    any suffix); by default the ServiceAccounts of the function's own namespace."""
    sender_auth: bool = True
    """``FERRY_SENDER_AUTH``: ``tokenreview`` (the default) checks every delivery's token;
    ``none`` accepts unauthenticated deliveries (only where the network admits the Broker
    alone)."""
    broker_token_file: str = ""
    """``FERRY_BROKER_TOKEN_FILE``: a file holding a token for the Broker's audience (a
    projected ServiceAccount token), sent with the events Ferry posts to the Broker."""
    webhook_key_file: str = ""
    """``FERRY_WEBHOOK_KEY_FILE``: the key sealing verified webhooks (the Secret
    ferry-webhooks-key, mounted in ``ferry webhooks`` and the trigger function)."""
    git_protocols: str = "https:ssh"
    """``FERRY_GIT_PROTOCOLS``: the transports a release to Git may use (``GIT_ALLOW_PROTOCOL``
    form; add ``file`` only where local repositories are meant)."""
    dashboard_url: str = ""
    """``FERRY_DASHBOARD_URL``: the dashboard's address, for the links in notifications."""
    otlp: bool = False
    """``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) is set: export spans with
    OTLP over HTTP (the exporter reads the ``OTEL_*`` variables itself)."""

    @classmethod
    def from_env(cls) -> Settings:
        missing = [n for n in ("REDIS_URL", "FERRY_BROKER_URL") if not os.environ.get(n)]
        if missing:
            raise RuntimeError(
                f"{' and '.join(missing)} must be set: Ferry's functions need Redis and the "
                "Broker's URL (the knative/ manifests and `ferry up` set both)"
            )
        auth = os.environ.get("FERRY_SENDER_AUTH", "tokenreview")
        if auth not in ("tokenreview", "none"):
            raise RuntimeError(f"FERRY_SENDER_AUTH must be tokenreview or none, not {auth!r}")
        namespace = os.environ.get("POD_NAMESPACE", "ferry-system")
        senders = os.environ.get("FERRY_SENDERS", f"system:serviceaccount:{namespace}:*")
        return cls(
            redis_url=os.environ["REDIS_URL"],
            broker_url=os.environ["FERRY_BROKER_URL"],
            timer_queue=os.environ.get("FERRY_TIMER_QUEUE", "ferry-timers"),
            audience=os.environ.get("FERRY_AUDIENCE", ""),
            senders=tuple(s.strip() for s in senders.split(",") if s.strip()),
            sender_auth=auth == "tokenreview",
            broker_token_file=os.environ.get("FERRY_BROKER_TOKEN_FILE", ""),
            dashboard_url=os.environ.get("FERRY_DASHBOARD_URL", ""),
            webhook_key_file=os.environ.get("FERRY_WEBHOOK_KEY_FILE", ""),
            git_protocols=os.environ.get("FERRY_GIT_PROTOCOLS", "https:ssh"),
            otlp=bool(
                os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            ),
        )

    def webhook_key(self) -> bytes:
        """The webhook sealing key (empty when none is configured: nothing is sealed, and the
        trigger acts on nothing)."""
        if not self.webhook_key_file:
            return b""
        try:
            return Path(self.webhook_key_file).read_bytes().strip()
        except OSError:
            return b""

    def broker_token(self) -> Callable[[], str] | None:
        """Reads the Broker token (renewed in place by the kubelet) at each use; None when
        none is configured."""
        path = self.broker_token_file
        if not path:
            return None
        return lambda: Path(path).read_text().strip()
