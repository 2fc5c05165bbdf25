"""Who each of Ferry's components is on the local runtime: ServiceAccount tokens, as in a pod.

On a cluster the kubelet gives every pod the token of its ServiceAccount (for the API server,
or for another audience through a projected volume) and renews it before it expires. Here
:class:`TokenSource` does the same through the TokenRequest API, so every function, source and
worker talks to the API server, and to the Broker, as the ServiceAccount its manifest names,
and RBAC decides what it may do. It mints tokens; it never grants anything.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from kubernetes import client

from shared.kube import Kube

LIFETIME = 3600
"""Seconds a token is asked to live (the API server may shorten it)."""
RENEW_AT = 0.8
"""Share of its life after which a token is renewed, as the kubelet does."""


class TokenSource:
    """The tokens of ServiceAccount ``namespace/name`` for ``audience`` (None: the API
    server's own), renewed before they expire. Safe to share between threads."""

    def __init__(self, kube: Kube, namespace: str, name: str, audience: str | None = None) -> None:
        self.kube, self.namespace, self.name, self.audience = kube, namespace, name, audience
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def token(self) -> str:
        with self._lock:
            if not self._token or time.monotonic() >= self._renew_at:
                self._token, lifetime = self._mint()
                self._renew_at = time.monotonic() + lifetime * RENEW_AT
            return self._token

    def _mint(self) -> tuple[str, float]:
        spec: dict[str, object] = {"expirationSeconds": LIFETIME}
        if self.audience:
            spec["audiences"] = [self.audience]
        answer = self.kube.request(
            "POST",
            f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.name}/token",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return str(answer["status"]["token"]), float(spec["expirationSeconds"])  # type: ignore[arg-type]

    def api_client(self, base: client.Configuration) -> client.ApiClient:
        """An API client for ``base``'s cluster that sends this identity's current token."""
        config = client.Configuration()
        config.host = base.host
        config.ssl_ca_cert = base.ssl_ca_cert
        config.verify_ssl = base.verify_ssl
        config.connection_pool_maxsize = 32  # a function's threads share it
        config.api_key = {"authorization": ""}
        config.api_key_prefix = {"authorization": "Bearer"}

        def refresh(cfg: client.Configuration) -> None:
            cfg.api_key["authorization"] = self.token()

        config.refresh_api_key_hook = refresh  # type: ignore[assignment]
        return client.ApiClient(config)

    def keep_file(
        self, path: Path, stop: threading.Event, owner: tuple[int, int] | None = None
    ) -> None:
        """Keep ``path`` holding a valid token (readable by its owner only: ``owner``'s user
        and group, else this process's) until ``stop``, as a projected volume does for a
        process that reads its token from a file."""

        def write() -> None:
            fresh = path.with_suffix(".new")
            fresh.write_text(self.token())
            os.chmod(fresh, 0o600)
            if owner:
                os.chown(fresh, *owner)
            fresh.replace(path)

        write()

        def renew() -> None:
            while not stop.wait(LIFETIME * (1 - RENEW_AT) / 2):
                write()

        threading.Thread(target=renew, name=f"token-{self.name}", daemon=True).start()
