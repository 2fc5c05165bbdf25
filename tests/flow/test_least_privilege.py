"""Each of Ferry's identities is granted exactly what it uses, derived from a recorded run.

Covered: one run on the full local runtime that takes every path a function has (initialize,
a canary through weights, a timed and an indefinite pause, an analysis with a web metric whose
argument is a Secret and a job metric, a person's pause, resume and promote, a failing analysis,
an abort, its scale-down, a retry, a revert to the stable revision, drift healed on its event,
the tick, a dead letter, notifications sent and refused, a rollout whose experiment step is
ended by a new revision and by a promote, a rollout with load, deletion) with every component acting
as the ServiceAccount its manifest names and RBAC enforced by the API server. From the API
server's audit trail: no request of Ferry's was refused, and every (API group, resource, verb)
each ServiceAccount is granted by ``knative/rbac.yaml`` was used, but for the few grants a real
cluster needs that the run cannot show (listed below with their reasons). Secrets are readable
only in a namespace that binds ``ferry-analysis-secret-reader`` (and
``ferry-notify-secret-reader``), as a user does; in one that does not, the analysis ends in
Error with the command that would let Ferry read them, and nothing is measured.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Any

import yaml
from cloudevents.core.v1.event import CloudEvent

from local import demo
from local.runtime import KNATIVE_DIR, Runtime
from local.slack_api import SlackApi
from shared import events, models, subscriptions
from shared.events import Type
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import (
    REF,
    Check,
    Demo,
    JsonEndpoint,
    bind_reader,
    configure_notifications,
    eventually,
    let_analyses_read_secrets,
    publish,
    settle,
)
from tests.flow.test_webhooks import deliver, refusals, signed
from tests.flow.test_webhooks import policy as webhook_policy_object
from tests.recorder import Recorder

Grant = tuple[str, str, str]
"""(API group, resource or resource/subresource, verb)."""

OWNERS = (
    "objects Ferry makes name their owner with blockOwnerDeletion, which clusters running the "
    "OwnerReferencesPermissionEnforcement admission plugin allow only to who may update the "
    "owner's finalizers (the local API server does not run it)"
)
NOT_SHOWN: dict[tuple[str, Grant], str] = {
    ("ferry-rollout", ("ferry.dev", "rollouts/finalizers", "update")): OWNERS,
    ("ferry-analysis", ("ferry.dev", "rollouts/finalizers", "update")): OWNERS,
    ("ferry-analysis", ("ferry.dev", "analysisruns/finalizers", "update")): OWNERS,
    ("ferry-experiment", ("ferry.dev", "experiments/finalizers", "update")): OWNERS,
    ("ferry-experiment", ("ferry.dev", "analysisruns/finalizers", "update")): OWNERS,
    **{
        ("ferry-source", (group, resource, "get")): (
            "Knative's ApiServerSource controller checks get, list and watch on every watched "
            "resource before it starts the adapter; the adapter itself lists and watches"
        )
        for group, resource in (
            ("ferry.dev", "rollouts"),
            ("apps", "deployments"),
            ("networking.k8s.io", "ingresses"),
            ("", "services"),
            ("ferry.dev", "analysisruns"),
            ("ferry.dev", "experiments"),
            ("batch", "jobs"),
            ("", "configmaps"),
        )
    },
}
"""Grants a real cluster needs that no local run can show, and why."""
FERRY = "system:serviceaccount:ferry-system:"


def granted() -> dict[str, set[Grant]]:
    """ServiceAccount name -> what knative/rbac.yaml grants it (through its bindings)."""
    docs = [d for d in yaml.safe_load_all((KNATIVE_DIR / "rbac.yaml").read_text()) if d]
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    out: dict[str, set[Grant]] = defaultdict(set)
    for binding in (d for d in docs if d["kind"] == "ClusterRoleBinding"):
        rules = roles[binding["roleRef"]["name"]].get("rules") or []
        for subject in binding.get("subjects") or []:
            if subject["kind"] == "ServiceAccount" and subject["namespace"] == "ferry-system":
                for rule in rules:
                    for group in rule["apiGroups"]:
                        for resource in rule["resources"]:
                            for verb in rule["verbs"]:
                                out[subject["name"]].add((group, resource, verb))
    return out


def used(runtime: Runtime) -> tuple[dict[str, set[Grant]], list[str]]:
    """ServiceAccount name -> what it did; and every request of Ferry's that was refused."""
    assert runtime.sim is not None
    out: dict[str, set[Grant]] = defaultdict(set)
    refused = []
    for record in runtime.sim.audit():
        if record.impersonator.startswith(FERRY):  # as the API server checks it: the requester
            account = record.impersonator.removeprefix(FERRY)
            out[account].add(("", "users", "impersonate"))
            if set(record.groups) - {"system:authenticated"}:
                out[account].add(("", "groups", "impersonate"))
        if not record.user.startswith(FERRY) or not record.resource:
            continue
        resource = record.resource + (f"/{record.subresource}" if record.subresource else "")
        if record.code in (401, 403):
            refused.append(f"{record.user} {record.verb} {resource} {record.path}")
        out[record.user.removeprefix(FERRY)].add((record.api_group, resource, record.verb))
    return out, refused


def _templates(kube: Kube, check: Check) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "check-token", "namespace": demo.NAMESPACE},
            "data": {"token": base64.b64encode(b"s3cr3t-t0ken").decode()},
        }
    )
    let_analyses_read_secrets(kube)  # the namespace opts in (no other namespace's Secrets)
    web = {
        "name": "ok",
        "count": 2,
        "interval": "1s",
        "successCondition": "result == 1",
        "provider": {
            "web": {
                "url": check.url,
                "headers": [{"key": "X-Token", "value": "{{args.token}}"}],
                "jsonPath": "{$.ok}",
            }
        },
    }
    job = {
        "name": "smoke",
        "provider": {
            "job": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "smoke", "image": "curl:8"}],
                        }
                    },
                }
            }
        },
    }
    token_arg = {
        "name": "token",
        "valueFrom": {"secretKeyRef": {"name": "check-token", "key": "token"}},
    }
    watch = {**web, "name": "watch"}  # no count: measures until its run is ended
    del watch["count"]
    for name, metric, kind in (
        ("check", web, "AnalysisTemplate"),
        ("watch", watch, "AnalysisTemplate"),
        ("smoke", job, "ClusterAnalysisTemplate"),
    ):
        meta = {"name": name, "namespace": demo.NAMESPACE} if kind == "AnalysisTemplate" else {}
        kube.create(
            {
                "apiVersion": models.API_VERSION,
                "kind": kind,
                "metadata": meta or {"name": name},
                "spec": {"args": [] if name == "smoke" else [token_arg], "metrics": [metric]},
            }
        )


def _without_router(
    runtime: Runtime,
    kube: Kube,
    name: str,
    strategy: dict[str, Any],
    *,
    along: Any = None,
    then: Any = None,
    spec: dict[str, Any] | None = None,
) -> None:
    """Another rollout, without traffic routing, created and then promoted to a new image
    (``along``: what must be seen on the way, given the rollout's state)."""
    assert runtime.store is not None
    store = runtime.store
    ref = events.RolloutRef(demo.NAMESPACE, name)
    target = demo.deployment("podinfo:1")
    target["metadata"]["name"] = name
    kube.create(target)
    rollout = demo.rollout()
    rollout["metadata"]["name"] = name
    rollout["spec"]["targetRef"]["name"] = name
    rollout["spec"]["service"]["name"] = name
    rollout["spec"]["strategy"] = strategy
    rollout["spec"].update(spec or {})
    del rollout["spec"]["trafficRouting"]
    kube.create(rollout)
    eventually(lambda: store.load(ref).stage == Stage.HEALTHY, what=f"{name} Healthy")
    first = store.load(ref).stable_revision
    kube.merge_patch(
        "apps/v1",
        "deployments",
        demo.NAMESPACE,
        name,
        {"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": "v2"}]}}}},
    )
    if along is not None:
        eventually(lambda: along(store.load(ref)), what=f"{name} on its way")
    if then is not None:
        then()
    eventually(
        lambda: store.load(ref).stage == Stage.HEALTHY and store.load(ref).stable_revision != first,
        timeout=20,
        what=f"{name} promoted",
    )


def _load(podinfo: Demo, runtime: Runtime, kube: Kube) -> None:
    """A rollout with load: the generator reads the canary's Service and Endpoints and shows
    its progress in the status (ferry-load); the promotion stops it."""
    ref = events.RolloutRef(demo.NAMESPACE, "loaded")

    def sending(state: Any) -> bool:
        obj = kube.rollout(demo.NAMESPACE, "loaded") or {}
        shown = (obj.get("status") or {}).get("loadTest") or {}
        return state.stage == Stage.PAUSED and shown.get("phase") == "Running"

    _without_router(
        runtime,
        kube,
        "loaded",
        {"canary": {"steps": [{"pause": {}}]}},
        along=sending,
        then=lambda: podinfo.command("promote", rollout="loaded"),
        spec={"loadTest": {"rps": 5, "timeout": "200ms"}},
    )
    assert runtime.store is not None
    eventually(lambda: runtime.store.load_progress(ref).get("stopped"), what="load stopped")


def _weights_by_replicas(runtime: Runtime, kube: Kube) -> None:
    """A canary without traffic routing: its weights scale its canary."""
    steps = [{"setWeight": 50}, {"pause": {"duration": "1s"}}]
    _without_router(
        runtime, kube, "plain", {"canary": {"steps": steps}}, along=lambda s: s.weight == 50
    )


def _blue_green(runtime: Runtime, kube: Kube) -> None:
    """Blue/green without traffic routing: its switch is the active Service."""
    strategy = {"blueGreen": {"scaleDownDelaySeconds": 1}}
    _without_router(runtime, kube, "switch", strategy, along=lambda s: s.weight == 100)


def _experiment_step(podinfo: Demo, runtime: Runtime, kube: Kube) -> None:
    """A rollout whose step runs an Experiment (a template with a Service, an analysis of a
    namespace's template and one of a cluster's, with a job metric): a new revision during it
    ends it (start terminates it), a person's promote during the next one too (advance)."""
    ready = JsonEndpoint(lambda: {"ok": 1})
    plain = {
        "name": "ok",
        "count": 2,
        "interval": "1s",
        "successCondition": "result == 1",
        "provider": {"web": {"url": ready.url, "jsonPath": "{$.ok}"}},
    }
    kube.create(
        {
            "apiVersion": models.API_VERSION,
            "kind": "AnalysisTemplate",
            "metadata": {"name": "plain", "namespace": demo.NAMESPACE},
            "spec": {"metrics": [plain]},
        }
    )
    step = {
        "experiment": {
            "duration": "1h",
            "templates": [
                {"name": "base", "specRef": "stable", "service": {}},
                {"name": "new", "specRef": "canary"},
            ],
            "analyses": [
                {"name": "ready", "templateName": "plain"},
                {"name": "smoke", "templateName": "smoke", "clusterScope": True},
            ],
        }
    }
    assert runtime.store is not None
    store, ref = runtime.store, events.RolloutRef(demo.NAMESPACE, "trial")

    def measured(state: Any) -> bool:
        """The step's Experiment runs, and both its analyses ended (the job's Job too)."""
        if state.stage != Stage.ANALYZING or len(state.runs) != 1:
            return False
        (name,) = state.runs
        runs = store.load_experiment(events.RolloutRef(demo.NAMESPACE, name)).runs
        return len(runs) == 2 and all(r["phase"] for r in runs.values())

    def new_revision_then_promote() -> None:
        first = store.load(ref).canary_revision
        kube.merge_patch(  # start ends the running experiment (ferry-rollout)
            "apps/v1",
            "deployments",
            demo.NAMESPACE,
            "trial",
            {"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": "v3"}]}}}},
        )
        eventually(
            lambda: store.load(ref).canary_revision != first and measured(store.load(ref)),
            timeout=30,
            what="the new revision's experiment measured",
        )
        runtime.tick()  # while an experiment step waits (ferry-rollout reads its Experiment)
        settle(runtime)
        podinfo.command("promote", rollout="trial")  # advance ends this one (ferry-analysis)

    try:
        _without_router(
            runtime,
            kube,
            "trial",
            {"canary": {"steps": [step]}},
            along=measured,
            then=new_revision_then_promote,
        )
    finally:
        ready.stop()


def webhook_policy(kube: Kube) -> None:
    """A WebhookPolicy whose Secret the namespace lets Ferry read."""
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "ci-webhook", "namespace": demo.NAMESPACE},
            "data": {"secret": base64.b64encode(b"webhook-secret-0123456789").decode()},
        }
    )
    bind_reader(kube, "ferry-webhooks-secrets", "ferry-webhooks-secret-reader", "ferry-webhooks")
    kube.create(webhook_policy_object("ci", "hmac"))
    git = webhook_policy_object("ci-git", "hmac")  # its identity may not patch: refused first
    git["spec"]["release"] = {
        "image": "podinfo",
        "write": "Git",
        "git": {"repository": "https://git.example.com/deploy.git", "path": "podinfo.yaml"},
    }
    kube.create(git)


def test_every_grant_is_used_and_nothing_is_refused(
    podinfo: Demo, runtime: Runtime, check: Check, slack: SlackApi
) -> None:
    kube = podinfo.kube
    _templates(kube, check)
    configure_notifications(kube, slack)
    analysis = {
        "templates": [{"templateName": "check"}, {"templateName": "smoke", "clusterScope": True}]
    }
    steps = [
        {"setWeight": 20},
        {"analysis": analysis},
        {"pause": {"duration": "1s"}},
        {"setWeight": 50},
        {"pause": {}},
    ]
    background = {"templates": [{"templateName": "watch"}], "startingStep": 2}
    canary = {"steps": steps, "analysis": background, "abortScaleDownDelaySeconds": 1}
    config = {"metadata": {"name": "podinfo-config", "namespace": demo.NAMESPACE}}
    kube.create({"apiVersion": "v1", "kind": "ConfigMap", **config, "data": {"v": "1"}})
    target = demo.deployment("podinfo:1")  # its revision is its template and that ConfigMap
    volume = {"name": "config", "configMap": {"name": "podinfo-config"}}
    target["spec"]["template"]["spec"]["volumes"] = [volume]
    kube.create(target)
    kube.create(demo.ingress())
    # no earlier revision keeps its copy of the ConfigMap: the promotion deletes the old one
    # a confirm-rollout gate the check opens at once: the gate function begins the canary
    hook = Recorder()  # answers 200 to every call
    gate = {"name": "go", "type": "confirm-rollout", "url": hook.url, "interval": "1s"}
    kube.create(demo.rollout(strategy={"canary": canary}, revisionHistoryLimit=0, webhooks=[gate]))
    podinfo.wait(Stage.HEALTHY)
    subscribe = {  # one channel that exists, one that does not: a NotificationFailed Warning
        f"{subscriptions.SUBSCRIBE}on-rollout-aborted.slack": "releases",
        f"{subscriptions.SUBSCRIBE}on-rollout-updated.slack": "nowhere",
    }
    kube.merge_patch(
        models.API_VERSION,
        models.PLURAL,
        demo.NAMESPACE,
        demo.NAME,
        {"metadata": {"annotations": subscribe}},
    )
    _weights_by_replicas(runtime, kube)
    _blue_green(runtime, kube)
    _experiment_step(podinfo, runtime, kube)
    _load(podinfo, runtime, kube)

    # a canary that passes, with a person's pause, resume and promotion (and new config data)
    kube.merge_patch("v1", "configmaps", demo.NAMESPACE, "podinfo-config", {"data": {"v": "2"}})
    eventually(lambda: podinfo.state().canary_revision, what="the ConfigMap's canary")
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=4, timeout=30)
    podinfo.command("pause")
    eventually(lambda: podinfo.state().paused_by, what="paused by a person")
    podinfo.command("resume")
    eventually(lambda: not podinfo.state().paused_by, what="resumed")
    podinfo.command("promote")
    podinfo.wait(Stage.HEALTHY, timeout=30)
    assert check.tokens == {"s3cr3t-t0ken"}

    # a canary whose analysis fails: abort, scale-down, retry, then a revert to stable
    check.ok = False
    stable = podinfo.state().stable_revision
    podinfo.set_image("podinfo:3")
    aborted = podinfo.wait(Stage.ABORTED, timeout=30)
    podinfo.wait(Stage.ABORTED, scaled_down=True, timeout=15)
    podinfo.command("retry")
    eventually(lambda: podinfo.state().attempt > aborted.attempt, what="retried")
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=stable, timeout=30)

    # drift healed on its own event, the tick, and an event no function can take
    kube.merge_patch(
        "apps/v1", "deployments", demo.NAMESPACE, demo.NAME, {"spec": {"replicas": 3}}, sub="scale"
    )
    eventually(lambda: (kube.deployment(demo.NAMESPACE, demo.NAME) or {})["spec"]["replicas"] == 0)
    runtime.tick()
    publish(runtime, events.new(Type.STEP_STARTED, REF, revision="r", attempt=1))  # no step: 400
    settle(runtime)
    assert runtime.store is not None
    eventually(lambda: runtime.store.redis.xlen("ferry:deadletters") > 0, what="a dead letter")

    eventually(lambda: slack.parents(), what="the abort notified")

    # a webhook: one delivery carried out as the policy's identity, one refused
    webhook_policy(kube)
    for asked in ({"action": "promote", "rollout": demo.NAME}, {"action": "release", "tag": "0.1"}):
        body, headers = signed(asked)
        answer = deliver(runtime, f"{demo.NAMESPACE}/ci", body, headers)
        assert answer.status_code == 202, answer.text
    body, headers = signed({"action": "release", "tag": "2.0.0"})
    assert deliver(runtime, f"{demo.NAMESPACE}/ci-git", body, headers).status_code == 202
    eventually(lambda: len(refusals(kube)) >= 2, what="the releases refused")
    package = {  # a GitHubSource's event: the policies of Knative sources are listed
        "action": "published",
        "package": {
            "name": "podinfo",
            "package_version": {"container_metadata": {"tag": {"name": "1.0.0"}}},
        },
    }
    published = {"source": "https://github.com/x/podinfo", "id": "p-1"}
    publish(runtime, CloudEvent({"type": Type.GITHUB_PACKAGE.value, **published}, package))

    # deletion hands the target back
    kube.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: kube.rollout(demo.NAMESPACE, demo.NAME) is None, timeout=30)
    settle(runtime)

    hook.stop()
    did, refused = used(runtime)
    assert refused == []
    may = granted()
    unused = {
        account: sorted(
            g for g in grants - did.get(account, set()) if (account, g) not in NOT_SHOWN
        )
        for account, grants in may.items()
    }
    assert {a: g for a, g in unused.items() if g} == {}, f"used: {dict(did)}"


def test_a_namespace_that_did_not_opt_in_keeps_its_secrets(
    podinfo: Demo, runtime: Runtime, check: Check
) -> None:
    """Without the namespace's RoleBinding the analysis cannot start: the run ends in Error,
    the rollout aborts, and the message says how the namespace lets Ferry read it."""
    kube = podinfo.kube
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "check-token", "namespace": demo.NAMESPACE},
            "data": {"token": base64.b64encode(b"s3cr3t-t0ken").decode()},
        }
    )
    arg = {"name": "token", "valueFrom": {"secretKeyRef": {"name": "check-token", "key": "token"}}}
    metric = {
        "name": "ok",
        "provider": {
            "web": {"url": check.url, "headers": [{"key": "X-Token", "value": "{{args.token}}"}]}
        },
    }
    kube.create(
        {
            "apiVersion": models.API_VERSION,
            "kind": "AnalysisTemplate",
            "metadata": {"name": "check", "namespace": demo.NAMESPACE},
            "spec": {"args": [arg], "metrics": [metric]},
        }
    )
    podinfo.create(
        steps=[{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "check"}]}}]
    )
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    aborted = podinfo.wait(Stage.ABORTED, timeout=30)
    assert "Ferry may not read secrets in default" in aborted.message
    assert "--clusterrole=ferry-analysis-secret-reader" in aborted.message
    assert check.tokens == set()  # nothing was ever measured with it
