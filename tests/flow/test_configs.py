"""ConfigMaps and Secrets roll out and roll back with the code, end to end on the runtime.

A revision is the pod template plus the data of what it references: a change of a ConfigMap
alone starts a canary; the primary mounts immutable copies, so an edit reaches only the canary;
an abort leaves the stable Pods on the configuration they were validated with; reverting the
edit lands on the stable revision without a rollout; old copies are collected after
``revisionHistoryLimit``. Secrets likewise where the namespace lets Ferry read them, and their
data is never stored.
"""

from __future__ import annotations

import base64
import shlex
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from local import demo
from local.identities import TokenSource
from local.runtime import KNATIVE_DIR, Runtime
from shared import configs, models
from shared.events import Type
from shared.kube import ApiError, Kube
from shared.state import Stage
from tests.flow.conftest import (
    Demo,
    Recorder,
    bind_reader,
    distinct,
    eventually,
    post_to,
    run_cli,
    settle,
)

CONFIG = "podinfo-config"
SECRET = "podinfo-secret"
STEPS = [{"setWeight": 20}, {"pause": {}}]


def _configmap(kube: Kube, data: dict[str, str], **meta: Any) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG, "namespace": demo.NAMESPACE, **meta},
        "data": data,
    }
    if kube.get("v1", "configmaps", demo.NAMESPACE, CONFIG) is None:
        kube.create(body)
    else:
        kube.merge_patch("v1", "configmaps", demo.NAMESPACE, CONFIG, {"data": data})


def _secret(kube: Kube, token: bytes) -> None:
    data = {"token": base64.b64encode(token).decode()}
    if kube.get("v1", "secrets", demo.NAMESPACE, SECRET) is None:
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": SECRET, "namespace": demo.NAMESPACE},
                "data": data,
            }
        )
    else:
        kube.merge_patch("v1", "secrets", demo.NAMESPACE, SECRET, {"data": data})


def _create(podinfo: Demo, *, secret: bool = False, optional: bool = False, **spec: Any) -> None:
    """The demo's Deployment mounting the ConfigMap (and reading the Secret into its env)."""
    target = demo.deployment("podinfo:1")
    pod = target["spec"]["template"]["spec"]
    volume: dict[str, Any] = {"name": CONFIG}
    volume["configMap"] = {"name": CONFIG, **({"optional": True} if optional else {})}
    pod["volumes"] = [volume]
    container = pod["containers"][0]
    container["volumeMounts"] = [{"name": CONFIG, "mountPath": "/etc/podinfo"}]
    if secret:
        ref = {"secretKeyRef": {"name": SECRET, "key": "token"}}
        container["env"] = [{"name": "TOKEN", "valueFrom": ref}]
    podinfo.kube.create(target)
    podinfo.kube.create(demo.ingress())
    podinfo.kube.create(demo.rollout(spec.pop("steps", STEPS), **spec))


def _pod_spec(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.deployment(demo.NAMESPACE, name)
    assert found is not None
    spec: dict[str, Any] = found["spec"]["template"]["spec"]
    return spec


def _mounted(kube: Kube, name: str) -> str:
    """The ConfigMap the Deployment ``name`` mounts."""
    return str(_pod_spec(kube, name)["volumes"][0]["configMap"]["name"])


def _secret_of(kube: Kube, name: str) -> str:
    env = _pod_spec(kube, name)["containers"][0]["env"][0]
    return str(env["valueFrom"]["secretKeyRef"]["name"])


def _copies(kube: Kube, plural: str = "configmaps") -> dict[str, dict[str, Any]]:
    items = kube.list_of("v1", plural, demo.NAMESPACE, label_selector=f"{configs.COPY_LABEL}=true")
    return {item["metadata"]["name"]: item for item in items}


PRIMARY = f"{demo.NAME}-primary"


def test_a_configmap_change_alone_is_a_canary_and_the_stable_pods_keep_their_copy(
    podinfo: Demo, kube: Kube
) -> None:
    _configmap(kube, {"greeting": "hello"})
    _create(podinfo)
    first = podinfo.wait(Stage.HEALTHY)
    stable_copy = _mounted(kube, PRIMARY)
    assert stable_copy != CONFIG and stable_copy.startswith(f"{CONFIG}-")
    copy = _copies(kube)[stable_copy]
    assert copy["immutable"] is True and copy["data"] == {"greeting": "hello"}
    owner = copy["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == (models.KIND, demo.NAME)
    with pytest.raises(ApiError) as refused:  # nobody edits a copy: the API server refuses
        kube.merge_patch("v1", "configmaps", demo.NAMESPACE, stable_copy, {"data": {"x": "y"}})
    assert refused.value.status == 422

    _configmap(kube, {"greeting": "hola"})  # only the ConfigMap changes
    paused = podinfo.wait(Stage.PAUSED, step=1)
    assert paused.canary_revision not in ("", first.stable_revision)
    assert podinfo.weight() == 20
    assert _mounted(kube, demo.NAME) == CONFIG  # the canary mounts the user's object
    assert _mounted(kube, PRIMARY) == stable_copy  # the stable Pods keep what was validated
    assert _copies(kube)[stable_copy]["data"] == {"greeting": "hello"}

    podinfo.command("promote", full=True)
    promoted = podinfo.wait(Stage.HEALTHY, stable_revision=paused.canary_revision, timeout=20)
    new_copy = _mounted(kube, PRIMARY)
    assert new_copy not in (CONFIG, stable_copy)
    assert _copies(kube)[new_copy]["data"] == {"greeting": "hola"}
    assert stable_copy in _copies(kube)  # kept: the revision before is in the history limit
    assert promoted.pinned[0] == (promoted.stable_revision, (f"ConfigMap/{new_copy}",))


def test_an_abort_keeps_the_old_config_and_a_revert_lands_on_stable_without_a_rollout(
    podinfo: Demo, kube: Kube
) -> None:
    _configmap(kube, {"greeting": "hello"})
    _create(podinfo)
    stable = podinfo.wait(Stage.HEALTHY).stable_revision
    stable_copy = _mounted(kube, PRIMARY)

    _configmap(kube, {"greeting": "broken"})
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("abort")
    aborted = podinfo.wait(Stage.ABORTED)
    assert podinfo.weight() == 0
    assert _mounted(kube, PRIMARY) == stable_copy
    assert _copies(kube)[stable_copy]["data"] == {"greeting": "hello"}

    _configmap(kube, {"greeting": "hello"})  # git revert of the ConfigMap
    back = podinfo.wait(Stage.HEALTHY, reason="RolledBack")
    assert back.stable_revision == stable and back.attempt == aborted.attempt
    assert _mounted(kube, PRIMARY) == stable_copy


def test_old_copies_are_collected_after_the_revision_history_limit(
    podinfo: Demo, kube: Kube
) -> None:
    _configmap(kube, {"v": "0"})
    _create(podinfo, steps=[{"setWeight": 50}], revisionHistoryLimit=1)
    podinfo.wait(Stage.HEALTHY)
    mounted = [_mounted(kube, PRIMARY)]
    for version in ("1", "2", "3"):
        _configmap(kube, {"v": version})
        eventually(
            lambda: (
                podinfo.state().stage == Stage.HEALTHY and _mounted(kube, PRIMARY) not in mounted
            ),
            timeout=20,
            what=f"version {version} promoted",
        )
        settle(podinfo.runtime)
        mounted.append(_mounted(kube, PRIMARY))
    assert set(_copies(kube)) == set(mounted[-2:])  # the stable one and one before it
    assert len(podinfo.state().pinned) == 2


def test_secrets_are_tracked_only_where_the_namespace_lets_ferry_read_them(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    for account in ("ferry-detect", "ferry-rollout", "ferry-analysis"):
        bind_reader(kube, f"ferry-config-secrets-{account}", "ferry-config-secrets", account)
    bind_reader(kube, "ferry-config-secret-copies", "ferry-config-secret-copies", "ferry-rollout")
    _configmap(kube, {"greeting": "hello"})
    _secret(kube, b"first-s3cret-value")
    _create(podinfo, secret=True)
    first = podinfo.wait(Stage.HEALTHY)
    secret_copy = _secret_of(kube, PRIMARY)
    assert secret_copy.startswith(f"{SECRET}-")
    assert _copies(kube, "secrets")[secret_copy]["immutable"] is True

    _secret(kube, b"second-s3cret-value")  # Secrets are not watched: the tick finds it
    runtime.tick()
    paused = podinfo.wait(Stage.PAUSED, step=1)
    assert paused.canary_revision != first.stable_revision
    assert _secret_of(kube, PRIMARY) == secret_copy and _secret_of(kube, demo.NAME) == SECRET

    assert runtime.store is not None
    stored = b"".join(
        b"".join(map(bytes, _dump(runtime.store.redis, key)))
        for key in runtime.store.redis.scan_iter("*")
    )
    for value in (b"first-s3cret-value", b"second-s3cret-value"):
        assert value not in stored and base64.b64encode(value) not in stored


def _dump(redis: Any, key: bytes) -> list[bytes]:
    kind = redis.type(key)
    if kind == b"string":
        return [redis.get(key)]
    if kind == b"hash":
        return [b"%s=%s" % pair for pair in redis.hgetall(key).items()]
    if kind == b"stream":
        return [b"%s=%s" % pair for _, fields in redis.xrange(key) for pair in fields.items()]
    if kind in (b"set", b"zset", b"list"):
        return [str(redis.dump(key)).encode()]
    return []


def test_a_secret_ferry_may_not_read_is_shared_as_without_ferry(podinfo: Demo, kube: Kube) -> None:
    _configmap(kube, {"greeting": "hello"})
    _secret(kube, b"s3cret")
    _create(podinfo, secret=True)
    podinfo.wait(Stage.HEALTHY)
    assert _secret_of(kube, PRIMARY) == SECRET  # untracked: the user's Secret
    assert _mounted(kube, PRIMARY) != CONFIG  # the ConfigMap is pinned all the same
    assert _copies(kube, "secrets") == {}


def test_an_opted_out_configmap_changes_live_and_a_missing_optional_one_appears(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    _create(podinfo, optional=True)  # the ConfigMap does not exist yet: optional
    first = podinfo.wait(Stage.HEALTHY)
    assert _mounted(kube, PRIMARY) == CONFIG

    _configmap(kube, {"a": "1"})  # it appears: a new revision
    paused = podinfo.wait(Stage.PAUSED, step=1)
    assert paused.canary_revision != first.stable_revision
    podinfo.command("promote", full=True)
    podinfo.wait(Stage.HEALTHY, stable_revision=paused.canary_revision, timeout=20)

    annotations = {configs.TRACKING: configs.DISABLED}
    kube.merge_patch(
        "v1", "configmaps", demo.NAMESPACE, CONFIG, {"metadata": {"annotations": annotations}}
    )
    opted_out = podinfo.wait(Stage.PAUSED, step=1)  # no longer part of the revision
    podinfo.command("promote", full=True)
    healthy = podinfo.wait(Stage.HEALTHY, stable_revision=opted_out.canary_revision, timeout=20)
    assert _mounted(kube, PRIMARY) == CONFIG  # live: both revisions mount it
    _configmap(kube, {"a": "2"})
    runtime.tick()
    settle(runtime)
    assert podinfo.state().stage == Stage.HEALTHY
    assert podinfo.state().stable_revision == healthy.stable_revision


def _reference(verb: str) -> CloudEvent:
    """A ConfigMap's event as the ApiServerSource sends it in Reference mode."""
    return CloudEvent(
        {
            "type": f"dev.knative.apiserver.ref.{verb}",
            "source": "https://kubernetes.default",
            "id": f"cm-{verb}",
            "subject": f"/apis/v1/namespaces/{demo.NAMESPACE}/configmaps/{CONFIG}",
        },
        {"kind": "ConfigMap", "namespace": demo.NAMESPACE, "name": CONFIG, "apiVersion": "v1"},
    )


def test_a_configmap_event_twice_and_out_of_order_starts_one_canary(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    _configmap(kube, {"greeting": "hello"})
    _create(podinfo)
    podinfo.wait(Stage.HEALTHY)
    before = podinfo.state()
    runtime.faults.arm("start", 1)  # and a crash before start's commit
    _configmap(kube, {"greeting": "hola"})
    for verb in ("update", "update", "add", "delete"):  # redelivered, stale verbs
        assert post_to(runtime, "detect", _reference(verb)) in (200, 202)
    paused = podinfo.wait(Stage.PAUSED, step=1)
    assert paused.attempt == before.attempt + 1
    assert runtime.faults.left("start") == 0
    starts = [e for e in podinfo.history() if e.get("to") == Stage.SCALING]
    assert len(starts) == 1


def test_a_reference_to_anything_else_is_refused(runtime: Runtime) -> None:
    event = CloudEvent(
        {"type": Type.REFERENCE_UPDATED.value, "source": "https://kubernetes.default", "id": "x"},
        {"kind": "Pod", "namespace": demo.NAMESPACE, "name": "p", "apiVersion": "v1"},
    )
    assert post_to(runtime, "detect", event) == 400


EXAMPLE = KNATIVE_DIR / "examples" / "configmap.yaml"


def test_the_examples_walkthrough_rolls_a_configmap_out_and_back(runtime: Runtime) -> None:
    """The commands in the header of knative/examples/configmap.yaml, run as written (through
    kubectl and kubectl ferry), each followed by what it says happens."""
    assert runtime.store is not None
    kube = Kube(runtime.sim.api_client())  # type: ignore[union-attr]
    commands = [
        shlex.split(line.removeprefix("#").split("  #")[0].strip())
        for line in EXAMPLE.read_text().splitlines()
        if line.startswith("#   kubectl")
    ]
    assert len(commands) == 6

    def run(argv: list[str]) -> str:
        if argv[:2] == ["kubectl", "apply"]:
            argv = [*argv[:-1], str(EXAMPLE)]
        return run_cli(runtime, *argv)

    def message(kube: Kube, name: str) -> str:
        spec = _pod_spec(kube, name)
        source = spec["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        found = kube.get("v1", "configmaps", demo.NAMESPACE, source)
        assert found is not None
        return str(found["data"]["PODINFO_UI_MESSAGE"])

    run(commands[0])
    stable = podinfo_state(runtime, Stage.HEALTHY).stable_revision
    run(commands[1])
    podinfo_state(runtime, Stage.PAUSED, step=1)
    assert "Paused" in run(commands[2])
    assert message(kube, demo.NAME) == "hola" and message(kube, PRIMARY) == "hello"
    run(commands[3])
    podinfo_state(runtime, Stage.ABORTED)
    assert message(kube, PRIMARY) == "hello"
    run(commands[4])
    back = podinfo_state(runtime, Stage.HEALTHY, reason="RolledBack")
    assert back.stable_revision == stable
    assert "Healthy" in run(commands[5])


def podinfo_state(runtime: Runtime, stage: Stage, **fields: Any) -> Any:
    return Demo(runtime, Kube(runtime.sim.api_client())).wait(stage, **fields)  # type: ignore[union-attr]


def test_a_configmap_change_while_its_canary_runs_restarts_the_canary_cold(
    podinfo: Demo, kube: Kube
) -> None:
    """The canary's Pods read their env when they start: a new ConfigMap revision while they
    run must not be judged on them. They are all replaced before the canary takes traffic."""
    _configmap(kube, {"greeting": "hello"})
    _create(podinfo)
    podinfo.wait(Stage.HEALTHY)
    _configmap(kube, {"greeting": "hola"})
    first = podinfo.wait(Stage.PAUSED, step=1)
    with Recorder(kube, "apps/v1", "deployments", demo.NAME) as target:
        _configmap(kube, {"greeting": "bonjour"})  # same template, other data
        second = podinfo.wait(Stage.PAUSED, step=1, attempt=first.attempt + 1)
        sizes = distinct([v["spec"]["replicas"] for v in target.versions() if "spec" in v])
    assert second.canary_revision != first.canary_revision
    assert sizes == [2, 0, 2]  # emptied, then scaled up: every Pod started with "bonjour"
    notes = [e.get("note", "") for e in podinfo.history()]
    assert any("restarted with its new configuration" in n for n in notes)
    assert not second.cold and podinfo.weight() == 20


def test_a_retry_of_the_same_revision_does_not_restart_cold(podinfo: Demo, kube: Kube) -> None:
    _configmap(kube, {"greeting": "hello"})
    kept = {"steps": STEPS, "abortScaleDownDelaySeconds": 0}  # the aborted canary keeps running
    _create(podinfo, strategy={"canary": kept})
    podinfo.wait(Stage.HEALTHY)
    _configmap(kube, {"greeting": "hola"})
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    podinfo.command("retry")
    retried = podinfo.wait(Stage.PAUSED, step=1)
    assert not retried.cold
    assert all(
        "restarted with its new configuration" not in e.get("note", "") for e in podinfo.history()
    )


def test_ferry_rollout_may_write_only_its_copies(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    """RBAC lets ferry-rollout create and delete ConfigMaps everywhere (the copies live beside
    the user's objects); the admission policy ferry-config-copies narrows that to its copies."""
    _configmap(kube, {"greeting": "hello"})
    _create(podinfo)
    podinfo.wait(Stage.HEALTHY)
    copy = _mounted(kube, PRIMARY)
    assert runtime.sim is not None
    base = runtime.sim.api_client().configuration
    rollout_sa = Kube(TokenSource(kube, "ferry-system", "ferry-rollout").api_client(base))
    for attempt in (
        lambda: rollout_sa.delete("v1", "configmaps", demo.NAMESPACE, CONFIG),
        lambda: rollout_sa.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                "data": {"mapRoles": "- rolearn: arn:aws:iam::1:role/x"},
            }
        ),
    ):
        with pytest.raises(ApiError) as refused:
            attempt()
        assert refused.value.status == 403 and "ferry-config-copies" in str(refused.value)
    assert kube.get("v1", "configmaps", demo.NAMESPACE, CONFIG) is not None
    rollout_sa.delete("v1", "configmaps", demo.NAMESPACE, copy)  # its own copy: allowed
    assert kube.get("v1", "configmaps", demo.NAMESPACE, copy) is None
    runtime.tick()  # a copy deleted by hand is made again
    eventually(lambda: kube.get("v1", "configmaps", demo.NAMESPACE, copy), what="copy made again")
