"""Webhook-triggered rollouts, end to end over HTTP: a WebhookPolicy says which source may do
what; a signed delivery releases a new image tag (to the Deployment, or to Git), promotes or
aborts, carried out as the policy's own Kubernetes identity; forged, replayed, oversized and
unlisted deliveries change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from cloudevents.core.v1.event import CloudEvent

from local import demo
from local.runtime import Runtime
from shared import events, models
from shared.events import RolloutRef, Type
from shared.kube import Kube
from shared.state import Stage
from tests import gitrepo
from tests.flow.conftest import Demo, bind_reader, eventually, post_to, publish, settle
from tests.gitrepo import git

SECRET = b"webhook-secret-0123456789"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def policy(name: str, source: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": models.API_VERSION,
        "kind": "WebhookPolicy",
        "metadata": {"name": name, "namespace": demo.NAMESPACE},
        "spec": {
            "source": {"type": source, "secretRef": {"name": "ci-webhook", "key": "secret"}},
            "rollouts": [demo.NAME],
            "actions": ["promote", "abort", "release"],
            "release": {"image": "podinfo", "write": "Deployment", "tags": {"semver": ">=2.0.0"}},
            **spec,
        },
    }


def allow(kube: Kube, user: str) -> None:
    """What a namespace grants a webhook's identity: run rollouts, set the target's image."""
    kube.request(
        "POST",
        f"{RBAC}/namespaces/{demo.NAMESPACE}/roles",
        body={
            "metadata": {"name": f"release-{user.rsplit(':', 1)[-1]}"},
            "rules": [
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}
            ],
        },
    )
    for kind, role in (
        ("Role", f"release-{user.rsplit(':', 1)[-1]}"),
        ("ClusterRole", "ferry-rollout-operator"),
    ):
        kube.request(
            "POST",
            f"{RBAC}/namespaces/{demo.NAMESPACE}/rolebindings",
            body={
                "metadata": {"name": f"{role}-{user.rsplit(':', 1)[-1]}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [
                    {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
                ],
            },
        )


def setup(kube: Kube, *objects: dict[str, Any], opt_in: bool = True, **spec: Any) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "ci-webhook", "namespace": demo.NAMESPACE},
            "data": {"secret": base64.b64encode(SECRET).decode()},
        }
    )
    if opt_in:
        bind_reader(
            kube, "ferry-webhooks-secrets", "ferry-webhooks-secret-reader", "ferry-webhooks"
        )
    for obj in objects:
        kube.create(obj)
    kube.create(demo.deployment("podinfo:1"))
    kube.create(demo.ingress())
    kube.create(demo.rollout(spec.pop("steps", [{"setWeight": 20}, {"pause": {}}]), **spec))


def signed(
    body: dict[str, Any], *, secret: bytes = SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return raw, {
        "Content-Type": "application/json",
        "X-Ferry-Timestamp": stamp,
        "X-Ferry-Signature-256": f"sha256={digest}",
        "X-Ferry-Delivery": uuid.uuid4().hex,
    }


def deliver(runtime: Runtime, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{runtime.webhooks_url}/hooks/{path}", data=body, headers=headers, timeout=10
    )


def image(kube: Kube) -> str:
    target = kube.deployment(demo.NAMESPACE, demo.NAME) or {}
    return str(target["spec"]["template"]["spec"]["containers"][0]["image"])


def refusals(kube: Kube) -> list[str]:
    found = kube.list_of("v1", "events", demo.NAMESPACE)
    return [e["message"] for e in found if e["reason"] == "WebhookRefused"]


def test_a_signed_webhook_releases_promotes_and_nothing_else_gets_through(
    runtime: Runtime, kube: Kube, podinfo: Demo
) -> None:
    setup(kube, policy("ci", "hmac"))
    allow(kube, "webhook:default:ci")
    podinfo.wait(Stage.HEALTHY)

    # refused before anything is read: forged, stale, oversized, unknown policy
    body, headers = signed({"action": "release", "tag": "2.0.0"})
    assert (
        deliver(
            runtime, "default/ci", body, {**headers, "X-Ferry-Signature-256": "sha256=00"}
        ).status_code
        == 401
    )
    stale_body, stale = signed({"action": "release", "tag": "2.0.0"}, at=int(time.time()) - 600)
    assert deliver(runtime, "default/ci", stale_body, stale).status_code == 409
    assert deliver(runtime, "default/ci", b"x" * 300_000, headers).status_code == 413
    assert deliver(runtime, "default/nope", body, headers).status_code == 404
    wrong_key, forged = signed({"action": "release", "tag": "2.0.0"}, secret=b"guess")
    assert deliver(runtime, "default/ci", wrong_key, forged).status_code == 401
    settle(runtime)
    assert image(kube) == "podinfo:1"

    # a release starts the rollout, as the policy's identity; the same delivery again is 409
    answer = deliver(runtime, "default/ci", body, headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == [{"rollout": demo.NAME, "action": "release"}]
    assert deliver(runtime, "default/ci", body, headers).status_code == 409
    eventually(lambda: image(kube) == "podinfo:2.0.0", what="the new image")
    podinfo.wait(Stage.PAUSED, step=1, timeout=30)

    # not allowed: a tag out of range, a rollout the policy does not name
    low_body, low = signed({"action": "release", "tag": "1.5.0"})
    assert deliver(runtime, "default/ci", low_body, low).status_code == 202
    eventually(
        lambda: [m for m in refusals(kube) if "1.5.0 is not in >=2.0.0" in m], what="refused"
    )
    other_body, other = signed({"action": "promote", "rollout": "other"})
    ignored = deliver(runtime, "default/ci", other_body, other).json()
    assert ignored["accepted"] == [] and "not the policy's" in ignored["ignored"][0]
    settle(runtime)
    assert podinfo.state().stage == Stage.PAUSED and image(kube) == "podinfo:2.0.0"

    # promote
    promote_body, promote = signed({"action": "promote", "rollout": demo.NAME})
    assert deliver(runtime, "default/ci", promote_body, promote).status_code == 202
    podinfo.wait(Stage.HEALTHY, timeout=30)
    asked = [e for e in podinfo.history() if e.get("command")]
    assert [(e["user"], e["event"]) for e in asked] == [
        ("webhook:default:ci", "dev.ferry.promotion.requested")
    ]


def test_without_rights_or_the_secret_a_webhook_does_nothing(
    runtime: Runtime, kube: Kube, podinfo: Demo
) -> None:
    setup(kube, policy("ci", "hmac"), opt_in=False)
    podinfo.wait(Stage.HEALTHY)
    body, headers = signed({"action": "release", "tag": "2.0.0"})
    answer = deliver(runtime, "default/ci", body, headers)
    assert answer.status_code == 503
    assert "kubectl create rolebinding ferry-webhooks-secrets" in answer.text
    bind_reader(kube, "ferry-webhooks-secrets", "ferry-webhooks-secret-reader", "ferry-webhooks")
    assert deliver(runtime, "default/ci", body, headers).status_code == 202  # the retry
    eventually(
        lambda: [m for m in refusals(kube) if "the API server refused webhook:default:ci" in m],
        what="RBAC refused",
    )
    settle(runtime)
    assert image(kube) == "podinfo:1" and podinfo.state().stage == Stage.HEALTHY


def test_registry_pushes_release_to_git_and_to_the_deployment(
    runtime: Runtime, kube: Kube, podinfo: Demo, tmp_path: Path
) -> None:
    origin = gitrepo.origin(
        tmp_path,
        {
            "podinfo.yaml": "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
            "        - name: podinfo\n          image: ghcr.io/ferry-dev/podinfo:6.5.0\n"
        },
    )
    gitops = policy(
        "ghcr",
        "github",
        actions=["release"],
        release={
            "image": "ghcr.io/ferry-dev/podinfo",
            "write": "Git",
            "git": {"repository": str(origin), "path": "podinfo.yaml"},
        },
    )
    gitops["spec"]["source"]["repository"] = "ghcr.io/ferry-dev/podinfo"
    hub = policy("hub", "dockerhub", actions=["release"])
    hub["spec"]["source"]["repository"] = "ferrydev/podinfo"
    setup(kube, gitops, hub)
    allow(kube, "webhook:default:hub")
    podinfo.wait(Stage.HEALTHY)

    def package(tag: str) -> tuple[bytes, dict[str, str]]:
        payload = {
            "action": "published",
            "package": {
                "name": "podinfo",
                "package_type": "container",
                "owner": {"login": "ferry-dev"},
                "package_version": {"container_metadata": {"tag": {"name": tag}}},
            },
            "repository": {"full_name": "ferry-dev/podinfo"},
        }
        raw = json.dumps(payload).encode()
        return raw, {
            "X-GitHub-Event": "package",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest(),
        }

    # without the right to patch the Deployment, no release to Git either
    assert deliver(runtime, "default/ghcr", *package("6.5.0-rc")).status_code == 202
    eventually(
        lambda: [m for m in refusals(kube) if "may not patch deployment podinfo" in m],
        what="the Git release refused",
    )
    assert len(git(origin, "log", "--oneline", "main").splitlines()) == 1
    allow(kube, "webhook:default:ghcr")

    raw, headers = package("6.5.1")
    assert deliver(runtime, "default/ghcr", raw, headers).status_code == 202
    again = {**headers, "X-GitHub-Delivery": str(uuid.uuid4())}
    assert deliver(runtime, "default/ghcr", raw, again).status_code == 409
    eventually(
        lambda: "podinfo:6.5.1" in git(origin, "show", "main:podinfo.yaml"), what="the commit"
    )
    assert git(origin, "log", "-1", "--format=%an: %s", "main").startswith(
        "Ferry: default/podinfo: release ghcr.io/ferry-dev/podinfo:6.5.1"
    )
    assert image(kube) == "podinfo:1"  # Git owns the cluster: Ferry wrote only to Git

    push = {
        "push_data": {"tag": "2.1.0", "pushed_at": int(time.time()), "pusher": "ci"},
        "repository": {"repo_name": "ferrydev/podinfo"},
    }
    pushed = json.dumps(push).encode()
    assert deliver(runtime, "default/hub/wrong-token", pushed, {}).status_code == 401
    assert deliver(runtime, f"default/hub/{SECRET.decode()}", pushed, {}).status_code == 202
    eventually(lambda: image(kube) == "podinfo:2.1.0", what="the Docker Hub release")
    podinfo.wait(Stage.PAUSED, step=1, timeout=30)


def test_a_ci_pipeline_that_passed_confirms_the_gate(
    runtime: Runtime, kube: Kube, podinfo: Demo
) -> None:
    """GitLab: the acceptance pipeline's success opens the confirm-promotion gate."""
    gitlab = policy("acceptance", "gitlab", actions=["confirm"])
    gitlab["spec"]["source"]["repository"] = "shop/acceptance"
    del gitlab["spec"]["release"]
    gate = [{"name": "acceptance", "type": "confirm-promotion"}]
    setup(kube, gitlab, steps=[{"setWeight": 20}], webhooks=gate)
    allow(kube, "webhook:default:acceptance")
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.GATED, gate="confirm-promotion", timeout=30)

    def pipeline(status: str, project: str) -> requests.Response:
        body = json.dumps(
            {
                "object_kind": "pipeline",
                "object_attributes": {"id": 31, "status": status},
                "project": {"path_with_namespace": project},
            }
        ).encode()
        headers = {
            "X-Gitlab-Event": "Pipeline Hook",
            "X-Gitlab-Token": SECRET.decode(),
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        }
        return deliver(runtime, "default/acceptance", body, headers)

    assert pipeline("failed", "shop/acceptance").json()["accepted"] == []
    ignored = pipeline("success", "shop/other").json()
    assert ignored["accepted"] == [] and "about shop/other" in ignored["ignored"][0]
    settle(runtime)
    assert podinfo.state().stage == Stage.GATED
    assert pipeline("success", "shop/acceptance").json()["accepted"] == [
        {"rollout": demo.NAME, "action": "confirm"}
    ]
    podinfo.wait(Stage.HEALTHY, timeout=30)
    opened = [e for e in podinfo.history() if "opened by" in e.get("note", "")]
    assert [e["user"] for e in opened] == ["webhook:default:acceptance"]


def test_a_github_source_through_the_broker_releases_and_forgeries_do_nothing(
    runtime: Runtime, kube: Kube, podinfo: Demo
) -> None:
    """A Knative GitHubSource's CloudEvent (admitted by the Broker's EventPolicy) releases as
    a `knative` WebhookPolicy allows; a webhook.verified event not sealed by Ferry's webhook
    endpoint is refused by the trigger, whoever the Broker admitted."""
    source = policy("gh", "knative", actions=["release"])
    del source["spec"]["source"]["secretRef"]
    source["spec"]["source"]["repository"] = "ghcr.io/ferry-dev/podinfo"
    source["spec"]["source"]["cloudEventSource"] = "https://github.com/ferry-dev/podinfo"
    elsewhere = policy("other-source", "knative", actions=["release"])  # trusts another repo
    del elsewhere["spec"]["source"]["secretRef"]
    elsewhere["spec"]["source"]["cloudEventSource"] = "https://github.com/someone/else"
    elsewhere["spec"]["release"]["image"] = "elsewhere"
    pipeline = policy("ci-source", "knative", actions=["promote"])  # any producer's request
    del pipeline["spec"]["source"]["secretRef"]
    del pipeline["spec"]["release"]
    pipeline["spec"]["source"]["cloudEventSource"] = "https://ci.example.com"
    setup(kube, source, elsewhere, pipeline)
    allow(kube, "webhook:default:other-source")
    allow(kube, "webhook:default:ci-source")
    allow(kube, "webhook:default:gh")
    podinfo.wait(Stage.HEALTHY)

    for seal in ("", "0" * 64):
        forged = events.new(
            Type.WEBHOOK_VERIFIED,
            RolloutRef(demo.NAMESPACE, demo.NAME),
            data={"policy": "gh", "sender": "knative", "action": "release", "tag": "9.9.9"},
            **({"seal": seal} if seal else {}),
        )
        assert post_to(runtime, "trigger", forged) == 400
    published = CloudEvent(
        {
            "type": "dev.knative.source.github.package",
            "source": "https://github.com/ferry-dev/podinfo",
            "id": str(uuid.uuid4()),
            "datacontenttype": "application/json",
        },
        {
            "action": "published",
            "package": {
                "name": "podinfo",
                "package_type": "container",
                "owner": {"login": "ferry-dev"},
                "package_version": {"container_metadata": {"tag": {"name": "6.5.2"}}},
            },
            "repository": {"full_name": "ferry-dev/podinfo"},
        },
    )
    publish(runtime, published)
    eventually(lambda: image(kube) == "podinfo:6.5.2", what="the GitHubSource release")
    podinfo.wait(Stage.PAUSED, step=1, timeout=30)
    publish(runtime, published)  # the same event again: nothing more
    settle(runtime)
    assert image(kube) == "podinfo:6.5.2"

    # any CloudEvent producer the Broker admits: action.requested, from a source a policy names
    def asked(source: str, data: dict[str, Any]) -> CloudEvent:
        attributes = {
            "type": "dev.ferry.action.requested",
            "source": source,
            "id": str(uuid.uuid4()),
            "datacontenttype": "application/json",
        }
        return CloudEvent(attributes, data)

    assert post_to(runtime, "trigger", asked("https://ci.example.com/x", {"action": "rm"})) == 400
    publish(runtime, asked("https://elsewhere.example.com/ci", {"action": "promote"}))
    settle(runtime)
    assert podinfo.state().stage == Stage.PAUSED  # a source no policy names asks nothing
    publish(runtime, asked("https://ci.example.com/pipelines/7", {"action": "promote"}))
    podinfo.wait(Stage.HEALTHY, timeout=30)
    asked_by = [e["user"] for e in podinfo.history() if e.get("command")]
    assert asked_by == ["webhook:default:ci-source"]
    # a webhook endpoint for a Knative policy does not exist
    body, headers = signed({"action": "release", "tag": "2.0.0"})
    assert deliver(runtime, "default/gh", body, headers).status_code == 404
