"""Authentication: who a request is, by its bearer token, over HTTP through the official client.

Covered: a static user's token (its groups plus ``system:authenticated``); the TokenRequest
subresource (claims of the JWT, audiences and expiry, 404 for a missing ServiceAccount, 422 for
too short a lifetime, binding to a Pod); a ServiceAccount token authenticates while its
ServiceAccount lives (401 once deleted, or replaced by a namesake); expiry on the simulator's
clock with go-jose's minute of leeway; a token for another audience is refused by the API; an
unknown token gets 401 and the Unauthorized Status; requests without credentials keep local
admin access, or are ``system:anonymous`` with ``anonymous_admin=False``.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from local.sim.clock import ManualClock, parse_rfc3339
from local.sim.cluster import Simulator
from tests.sim.client_calls import NS, authn, core, failure, raw, refusal
from tests.sim.conftest import FAST
from tests.sim.identities import acting, make_service_account

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def whoami(sim: Simulator, token: str) -> dict[str, Any]:
    info: dict[str, Any] = authn(acting(sim, token)).create_self_subject_review({}).status.user_info
    return info.to_dict()  # type: ignore[no-any-return, attr-defined]


def test_a_static_user_is_its_groups_and_authenticated(sim: Simulator) -> None:
    token = sim.add_user("alice", ["devs", "ops"])
    me = whoami(sim, token)
    assert me["username"] == "alice"
    assert me["groups"] == ["devs", "ops", "system:authenticated"]
    assert me["uid"]
    assert sim.add_user("alice") != token  # every user gets a fresh random token


def test_token_request_mints_a_service_account_jwt(sim: Simulator, api: Any) -> None:
    account = make_service_account(api, "robot")
    answer = core(api).create_namespaced_service_account_token(
        "robot", NS, {"spec": {"audiences": ["vault", "ferry"], "expirationSeconds": 1200}}
    )
    assert answer.kind == "TokenRequest"
    assert answer.spec.audiences == ["vault", "ferry"]
    assert answer.spec.expiration_seconds == 1200
    got = claims(answer.status.token)
    assert got["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert got["sub"] == "system:serviceaccount:default:robot"
    assert got["aud"] == ["vault", "ferry"]
    assert got["exp"] - got["iat"] == 1200 and got["nbf"] == got["iat"]
    assert got["kubernetes.io"] == {
        "namespace": NS,
        "serviceaccount": {"name": "robot", "uid": account.metadata.uid},
    }
    expires = answer.status.expiration_timestamp.timestamp()
    assert expires == got["exp"]
    default = core(api).create_namespaced_service_account_token("robot", NS, {"spec": {}})
    assert claims(default.status.token)["aud"] == default.spec.audiences
    assert "https://kubernetes.default.svc.cluster.local" in default.spec.audiences
    assert default.spec.expiration_seconds == 3600


def test_token_request_needs_the_service_account_and_ten_minutes(api: Any) -> None:
    code, status = failure(
        core(api).create_namespaced_service_account_token, "ghost", NS, {"spec": {}}
    )
    assert (code, status["message"]) == (404, 'serviceaccounts "ghost" not found')
    make_service_account(api, "robot")
    code, status = failure(
        core(api).create_namespaced_service_account_token,
        "robot",
        NS,
        {"spec": {"expirationSeconds": 60}},
    )
    assert code == 422
    assert status["message"] == (
        'TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: '
        "Invalid value: 60: may not specify a duration less than 10 minutes"
    )


def test_a_service_account_token_is_the_service_account(sim: Simulator, api: Any) -> None:
    account = make_service_account(api, "robot")
    token = sim.service_account_token(NS, "robot")
    me = whoami(sim, token)
    assert me["username"] == "system:serviceaccount:default:robot"
    assert me["uid"] == account.metadata.uid
    assert me["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    assert me["extra"]["authentication.kubernetes.io/credential-id"] == [
        f"JTI={claims(token)['jti']}"
    ]


def test_a_deleted_or_replaced_service_account_token_is_refused(sim: Simulator, api: Any) -> None:
    make_service_account(api, "robot")
    token = sim.service_account_token(NS, "robot")
    whoami(sim, token)
    core(api).delete_namespaced_service_account("robot", NS)
    assert failure(authn(acting(sim, token)).create_self_subject_review, {}) == (401, UNAUTHORIZED)
    make_service_account(api, "robot")  # a namesake: another uid
    assert failure(core(acting(sim, token)).list_namespace)[0] == 401


def test_a_pod_bound_token_dies_with_its_pod(sim: Simulator, api: Any) -> None:
    make_service_account(api, "robot")
    pod = core(api).create_namespaced_pod(
        NS, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    )
    bound = {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": pod.metadata.uid}
    answer = core(api).create_namespaced_service_account_token(
        "robot", NS, {"spec": {"boundObjectRef": bound}}
    )
    token = answer.status.token
    assert claims(token)["kubernetes.io"]["pod"] == {"name": "p", "uid": pod.metadata.uid}
    extra = whoami(sim, token)["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["p"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [pod.metadata.uid]
    core(api).delete_namespaced_pod("p", NS, grace_period_seconds=0)
    assert failure(core(acting(sim, token)).list_namespace)[0] == 401


@pytest.fixture
def frozen_sim() -> Iterator[tuple[Simulator, ManualClock]]:
    clock = ManualClock()
    with Simulator(settings=FAST, clock=clock, controllers=False) as simulator:
        yield simulator, clock


def test_a_token_expires_on_the_simulator_clock(frozen_sim: tuple[Simulator, ManualClock]) -> None:
    sim, clock = frozen_sim
    with sim.api_client() as api:
        make_service_account(api, "robot")
        answer = core(api).create_namespaced_service_account_token(
            "robot", NS, {"spec": {"expirationSeconds": 600}}
        )
    token = answer.status.token
    assert parse_rfc3339(answer.status.expiration_timestamp.isoformat()) == clock.now() // 1 + 600
    clock.advance(600 + 50)  # past exp, within the minute of leeway
    assert whoami(sim, token)["username"] == "system:serviceaccount:default:robot"
    clock.advance(20)
    assert failure(core(acting(sim, token)).list_namespace) == (401, UNAUTHORIZED)


def test_a_token_for_another_audience_is_refused_by_the_api(sim: Simulator, api: Any) -> None:
    make_service_account(api, "robot")
    token = sim.service_account_token(NS, "robot", audiences=["vault"])
    assert failure(core(acting(sim, token)).list_namespace) == (401, UNAUTHORIZED)


def test_an_unknown_token_is_unauthorized(sim: Simulator) -> None:
    assert failure(core(acting(sim, "no-such-token")).list_namespace) == (401, UNAUTHORIZED)
    forged = sim.add_user("x").replace("a", "b") + "x"
    assert failure(core(acting(sim, forged)).list_namespace)[0] == 401


def test_without_credentials_local_admin_access_is_kept(sim: Simulator, api: Any) -> None:
    me = authn(api).create_self_subject_review({}).status.user_info
    assert me.username == "system:admin"
    assert me.groups == ["system:masters", "system:authenticated"]
    assert raw(sim, "GET", "/api/v1/namespaces/kube-system")[0] == 200


def test_without_local_admin_access_no_credentials_is_anonymous() -> None:
    with Simulator(settings=FAST, controllers=False, anonymous_admin=False) as sim:
        assert raw(sim, "GET", "/version")[0] == 200  # system:public-info-viewer
        with urllib.request.urlopen(sim.url + "/healthz", timeout=10) as probe:
            assert probe.read() == b"ok"
        assert raw(sim, "GET", "/api") == (
            403,
            refusal('forbidden: User "system:anonymous" cannot get path "/api"'),
        )
        code, status = raw(sim, "GET", "/api/v1/namespaces/default/configmaps")
        assert (code, status["message"]) == (
            403,
            'configmaps is forbidden: User "system:anonymous" cannot list resource "configmaps" '
            'in API group "" in the namespace "default"',
        )
        admin = sim.add_user("root", ["system:masters"])
        with sim.api_client(admin) as api:
            assert core(api).read_namespace("default").metadata.name == "default"
            me = authn(api).create_self_subject_review({}).status.user_info
            assert me.username == "root"


def test_client_configuration_sends_the_bearer_token(sim: Simulator) -> None:
    token = sim.add_user("alice")
    with sim.api_client(token) as api:
        config: client.Configuration = api.configuration
        assert config.get_api_key_with_prefix("authorization") == f"Bearer {token}"
