"""Signing in to the dashboard with an OpenID Connect provider (a real local issuer over HTTP).

Covered: the authorization code flow with PKCE end to end — the dashboard sends the browser to
the provider, the provider signs Alice in and sends her back, and she is ``oidc:alice@...`` in
groups ``oidc:ops``: RBAC bound to that group lets her act, and her command is recorded under
that name (impersonation through the admission policy); a callback the dashboard did not start
(wrong or missing state) is 400 and no session; a code used twice is refused by the provider
and the sign-in is 401; an unverified email is 401. The ID token checks: a token signed by
another key, for another audience, from another issuer, expired, or for another nonce is
refused; a well-formed one names the person with the prefix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from dashboard.oidc import Oidc, Provider, SignInFailed
from local import demo
from local.runtime import Runtime
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, fast_options
from tests.flow.dashboard.conftest import _bind
from tests.oidc_issuer import CLIENT, Issuer

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]
ALICE = {"sub": "u-1", "email": "alice@example.com", "email_verified": True, "groups": ["ops"]}


@pytest.fixture
def with_oidc(issuer: Issuer) -> Iterator[Runtime]:
    options = fast_options(dashboard_oidc=Oidc(Provider(issuer.url, CLIENT)))
    with Runtime(options) as started:
        yield started


def csrf(http: requests.Session, base: str) -> str:
    page = http.get(f"{base}/")
    found = re.search(r'name="csrf-token" content="([^"]*)"', page.text)
    return found.group(1) if found else ""


def test_a_person_signs_in_with_the_provider_and_acts_as_that_person(
    with_oidc: Runtime, issuer: Issuer
) -> None:
    assert with_oidc.sim is not None
    admin = Kube(with_oidc.sim.api_client())
    _bind(admin, "oidc-ops", "ferry-rollout-operator", {"kind": "Group", "name": "oidc:ops"})
    podinfo = Demo(with_oidc, admin)
    podinfo.create(STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    issuer.user = ALICE
    base = with_oidc.dashboard_url
    http = requests.Session()
    login = http.get(f"{base}/login")
    assert "Sign in with " + issuer.url in login.text
    landed = http.get(f"{base}/oidc/login")  # to the provider and back
    assert landed.status_code == 200 and landed.url == f"{base}/"
    assert "oidc:alice@example.com" in landed.text
    rows = http.get(f"{base}/api/rollouts").json()["items"]
    assert [r["name"] for r in rows] == [demo.NAME]
    answer = http.post(
        f"{base}/api/rollouts/{demo.NAMESPACE}/{demo.NAME}/commands",
        json={"action": "promote"},
        headers={"X-CSRF-Token": csrf(http, base)},
    )
    assert answer.status_code == 202, answer.text
    obj = admin.rollout(demo.NAMESPACE, demo.NAME) or {}
    (command,) = obj["status"]["commands"]
    assert command["user"] == "oidc:alice@example.com"
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)


def _to_callback(http: requests.Session, base: str) -> str:
    """Start a sign-in and follow it to the provider: the callback URL it sends back."""
    start = http.get(f"{base}/oidc/login", allow_redirects=False)
    assert start.status_code == 302
    authorize = urlsplit(start.headers["Location"])
    query = parse_qs(authorize.query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0]
    back = http.get(start.headers["Location"], allow_redirects=False)
    assert back.status_code == 302
    return str(back.headers["Location"])


def test_callbacks_not_started_here_and_codes_used_twice_are_refused(
    with_oidc: Runtime, issuer: Issuer
) -> None:
    issuer.user = ALICE
    base = with_oidc.dashboard_url
    stranger = requests.Session()
    assert stranger.get(f"{base}/oidc/callback?code=x&state=y").status_code == 400
    assert stranger.get(f"{base}/api/rollouts").status_code == 401

    http = requests.Session()
    first = _to_callback(http, base)
    assert http.get(first, allow_redirects=False).status_code == 302  # signed in
    assert http.get(first).status_code == 400  # the same callback again: no sign-in under way
    second = _to_callback(http, base)
    code = parse_qs(urlsplit(first).query)["code"][0]
    state = parse_qs(urlsplit(second).query)["state"][0]
    replay = http.get(f"{base}/oidc/callback?code={code}&state={state}")
    assert replay.status_code == 401 and "invalid_grant" in replay.text


def test_an_unverified_email_is_refused(with_oidc: Runtime, issuer: Issuer) -> None:
    issuer.user = {**ALICE, "email_verified": False}
    http = requests.Session()
    answer = http.get(f"{with_oidc.dashboard_url}/oidc/login")
    assert answer.status_code == 401 and "not verified" in answer.text
    assert http.get(f"{with_oidc.dashboard_url}/api/rollouts").status_code == 401


def test_the_id_token_checks(issuer: Issuer) -> None:
    oidc = Oidc(Provider(issuer.url, CLIENT))
    claims = {**ALICE, "nonce": "n-1"}
    person = oidc.person(issuer.mint(claims), "n-1")
    assert person.username == "oidc:alice@example.com" and person.groups == ("oidc:ops",)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    refused = {
        "another key": issuer.mint(claims, key=other),
        "another audience": issuer.mint({**claims, "aud": "someone-else"}),
        "another issuer": issuer.mint({**claims, "iss": "https://evil.example"}),
        "expired": issuer.mint({**claims, "iat": now - 7200, "exp": now - 3600}),
        "another nonce": issuer.mint({**claims, "nonce": "n-2"}),
    }
    for why, token in refused.items():
        with pytest.raises(SignInFailed):
            oidc.person(token, "n-1")
            pytest.fail(f"accepted a token with {why}")
    with pytest.raises(ValueError):
        Provider("http://idp.example.com", CLIENT)  # plain HTTP off the machine
