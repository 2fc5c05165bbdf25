"""Who is who on the local runtime, read from the same manifests a cluster gets.

Each function runs as the ServiceAccount of its Knative Service (``services.yaml``) and accepts
deliveries only for its audience (``FERRY_AUDIENCE``) from the senders it names
(``FERRY_SENDERS``); each Trigger delivers with a token of its OIDC identity for its
subscriber's audience (``triggers.yaml``); each source watches as its ``serviceAccountName`` and
sends as its OIDC identity (``sources.yaml``); the Broker accepts the senders its EventPolicies
name (``eventpolicy.yaml``), else, as Knative does by default, those of its own namespace. It
reads manifests and mints tokens (:mod:`local.identities`); it decides nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from local import installation
from local.broker.routes import Route
from local.identities import TokenSource
from shared import senders
from shared.kube import Kube

Obj = dict[str, Any]
EVENTING = "eventing.knative.dev"
SOURCES = "sources.knative.dev"


def _docs(path: Path) -> list[Obj]:
    if not path.is_file():
        return []
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


@dataclass(frozen=True)
class Function:
    """What a function's Knative Service says about who it is."""

    service_account: str
    audience: str
    senders: tuple[str, ...]


class Wiring:
    """The identities of ``namespace``'s components, as the manifests in ``manifests`` name
    them; tokens are minted through ``kube`` (an identity that may create them)."""

    def __init__(self, kube: Kube, base: client.Configuration, manifests: Path, namespace: str):
        self.kube, self.base, self.manifests, self.namespace = kube, base, manifests, namespace
        self._sources: dict[tuple[str, str | None], TokenSource] = {}
        self._lock = threading.Lock()
        self.functions = self._functions()

    def broker_audience(self, broker: str) -> str:
        """The Broker's OIDC audience, as Knative Eventing names it."""
        return f"{EVENTING}/broker/{self.namespace}/{broker}"

    def tokens(self, service_account: str, audience: str | None = None) -> TokenSource:
        """The tokens of ``service_account`` (made if missing) for ``audience``."""
        key = (service_account, audience)
        with self._lock:
            if key not in self._sources:
                installation.service_account(self.kube, self.namespace, service_account)
                self._sources[key] = TokenSource(
                    self.kube, self.namespace, service_account, audience
                )
            return self._sources[key]

    def api(self, service_account: str) -> Kube:
        """Kubernetes access as ``service_account``."""
        return Kube(self.tokens(service_account).api_client(self.base))

    # -- functions ----------------------------------------------------------------------

    def _functions(self) -> dict[str, Function]:
        found = {}
        for doc in _docs(self.manifests / "services.yaml"):
            spec = doc["spec"]["template"]["spec"]
            env = {e["name"]: e.get("value", "") for e in spec["containers"][0].get("env") or []}
            found[doc["metadata"]["name"]] = Function(
                spec.get("serviceAccountName", "default"),
                env.get("FERRY_AUDIENCE", ""),
                tuple(s for s in env.get("FERRY_SENDERS", "").split(",") if s),
            )
        return found

    def function_senders(self, service: str) -> senders.Senders | None:
        """The check of who may deliver to Knative Service ``service`` (None: anyone)."""
        found = self.functions.get(service)
        if found is None or not found.audience:
            return None
        return senders.Senders(self.api(found.service_account), found.audience, found.senders)

    # -- the Broker ---------------------------------------------------------------------

    def broker_senders(self, broker: str) -> senders.Senders:
        """The check of who may send to ``broker``: its EventPolicies' subjects, else (Knative's
        default authorization mode, allow-same-namespace) its namespace's ServiceAccounts."""
        allowed: list[str] = []
        for doc in _docs(self.manifests / "eventing-auth" / "eventpolicy.yaml"):
            if doc.get("kind") != "EventPolicy":
                continue
            spec = doc.get("spec") or {}
            targets = [t.get("ref") or {} for t in spec.get("to") or []]
            if not targets or any(
                t.get("kind") == "Broker" and t.get("name") == broker for t in targets
            ):
                allowed.extend(f["sub"] for f in spec.get("from") or [] if "sub" in f)
        if not allowed:
            allowed = [f"system:serviceaccount:{self.namespace}:*"]
        return senders.Senders(self.kube, self.broker_audience(broker), tuple(allowed))

    def trigger_credentials(self) -> Callable[[Route, str], str]:
        """A Trigger's token for an audience, minted for its OIDC identity."""

        def token(route: Route, audience: str) -> str:
            name = route.trigger.rsplit("/", 1)[-1]
            identity = installation.oidc_identity(name, EVENTING, "Trigger")
            return self.tokens(identity, audience).token()

        return token

    # -- sources ------------------------------------------------------------------------

    def source_token(self, source: Obj, broker: str) -> Callable[[], str]:
        """What a source sends to the Broker with: its OIDC identity's token."""
        name = source["metadata"]["name"]
        identity = installation.oidc_identity(name, SOURCES, source["kind"])
        return self.tokens(identity, self.broker_audience(broker)).token

    def source_api(self, source: Obj) -> client.ApiClient:
        """How an ApiServerSource watches: as its ``serviceAccountName``."""
        account = (source.get("spec") or {}).get("serviceAccountName") or "default"
        return self.tokens(account).api_client(self.base)
