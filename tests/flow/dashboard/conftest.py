"""The dashboard on ``ferry up``, and people with the rights RBAC gives them.

``people`` makes three users with tokens: ``alice`` (group ``ops``, bound in the demo's
namespace to ``ferry-rollout-operator``: read and act), ``bob`` (a viewer: get and list
rollouts) and ``eve`` (nothing). ``Browser`` is a signed-in HTTP session, as a browser keeps
it: the session cookie, and the CSRF token read from the page. ``issuer`` is a local OpenID
Connect provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from local import demo
from local.runtime import Runtime
from shared.kube import Kube
from tests.flow.conftest import Demo, fast_options
from tests.oidc_issuer import Issuer, serving

RBAC = "/apis/rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"


@pytest.fixture
def up() -> Iterator[Runtime]:
    with Runtime(fast_options()) as started:
        yield started


@pytest.fixture
def admin(up: Runtime) -> Kube:
    assert up.sim is not None
    return Kube(up.sim.api_client())


@dataclass(frozen=True)
class People:
    tokens: dict[str, str]


def _bind(admin: Kube, name: str, role: str, subject: dict[str, str]) -> None:
    admin.request(
        "POST",
        f"{RBAC}/namespaces/{demo.NAMESPACE}/rolebindings",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": demo.NAMESPACE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"apiGroup": RBAC_GROUP, **subject}],
        },
    )


@pytest.fixture
def people(up: Runtime, admin: Kube) -> People:
    assert up.sim is not None
    admin.request(
        "POST",
        f"{RBAC}/clusterroles",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "rollout-viewer"},
            "rules": [
                {"apiGroups": ["ferry.dev"], "resources": ["rollouts"], "verbs": ["get", "list"]}
            ],
        },
    )
    _bind(admin, "ops", "ferry-rollout-operator", {"kind": "Group", "name": "ops"})
    _bind(admin, "bob", "rollout-viewer", {"kind": "User", "name": "bob"})
    return People(
        {
            "alice": up.sim.add_user("alice", ["ops"]),
            "bob": up.sim.add_user("bob"),
            "eve": up.sim.add_user("eve"),
        }
    )


class Browser:
    """An HTTP session with the dashboard, signed in as one person."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.csrf = ""

    def sign_in(self, token: str) -> requests.Response:
        answer = self.http.post(f"{self.base}/login", data={"token": token}, allow_redirects=False)
        if answer.status_code == 302:
            page = self.http.get(f"{self.base}/")
            found = re.search(r'name="csrf-token" content="([^"]*)"', page.text)
            self.csrf = found.group(1) if found else ""
        return answer

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(f"{self.base}{path}", allow_redirects=False, **kwargs)

    def command(self, action: str, *, csrf: str | None = None, **headers: str) -> requests.Response:
        return self.http.post(
            f"{self.base}/api/rollouts/{demo.NAMESPACE}/{demo.NAME}/commands",
            json={"action": action},
            headers={"X-CSRF-Token": self.csrf if csrf is None else csrf, **headers},
        )


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """A local OpenID Connect provider (``tests.oidc_issuer``)."""
    with serving() as started:
        yield started


@pytest.fixture
def podinfo(up: Runtime, admin: Kube) -> Demo:
    return Demo(up, admin)
