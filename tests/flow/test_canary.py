"""The canary flow end to end, through the broker and the HTTP functions, as in the demo.

Covered: what initialization puts in place (the primary with the target's template and
``-primary`` labels, the three Services and whom they select, the canary Ingress copied from the
stable one at weight 0 and owned by the Rollout, the target at 0 replicas, the status); a new
image promoted step by step, checked along the way from watches on the canary Ingress, the
Rollout and the primary (weights only ever go up until the end, the status mirrors every phase,
step and weight with a pause condition while paused, traffic leaves the canary only once the
primary runs the new revision), and at the end; a change of the target that keeps its pod
template (the same revision) starting nothing.
"""

from __future__ import annotations

from typing import Any

from local import demo
from shared import configs, models, workloads
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, distinct, eventually, is_subsequence, settle

INGRESS_API = "networking.k8s.io/v1"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "1s"}},
    {"setWeight": 50},
    {"pause": {"duration": "1s"}},
]


def _image(deployment: dict[str, Any] | None) -> str:
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def _pods(kube: Kube, selector: dict[str, str]) -> list[dict[str, Any]]:
    text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return kube.list_of("v1", "pods", demo.NAMESPACE, label_selector=text)


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def test_a_new_image_is_promoted_step_by_step(podinfo: Demo) -> None:
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {"duration": "1s"}}, {"setWeight": 50}])
    first = podinfo.wait(Stage.HEALTHY)
    assert podinfo.weight() == 0
    revision = podinfo.set_image("podinfo:2")
    assert revision != first.stable_revision
    done = podinfo.wait(Stage.HEALTHY, stable_revision=revision)
    assert done.weight == 0 and done.canary_revision == ""
    notes = [entry["note"] for entry in podinfo.history()]
    assert "step 1/3: canary weight 20%" in notes
    assert "step 3/3: canary weight 50%" in notes
    assert len(notes) == len(set(zip(notes, [e["id"] for e in podinfo.history()], strict=True)))


def test_initialization_puts_primary_services_and_canary_ingress_in_place(
    podinfo: Demo, kube: Kube
) -> None:
    podinfo.create(steps=STEPS)
    state = podinfo.wait(Stage.HEALTHY)
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    primary = kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
    rollout = kube.rollout(demo.NAMESPACE, demo.NAME)
    assert target is not None and primary is not None and rollout is not None

    # the primary: the target's template, selector labels suffixed with -primary
    assert state.stable_revision == configs.revision(kube, target, None)
    assert primary["spec"]["selector"]["matchLabels"] == {"app": "podinfo-primary"}
    template = primary["spec"]["template"]
    assert template["metadata"]["labels"]["app"] == "podinfo-primary"
    assert template["metadata"]["annotations"][workloads.REVISION_ANNOTATION] == (
        state.stable_revision
    )
    assert template["spec"] == target["spec"]["template"]["spec"]
    assert primary["spec"]["replicas"] == 2
    assert primary["metadata"]["ownerReferences"][0]["uid"] == rollout["metadata"]["uid"]

    # the Services: apex and -primary select the primary's Pods, -canary the target's
    selectors = {}
    for name in ("podinfo", "podinfo-primary", "podinfo-canary"):
        service = kube.get("v1", "services", demo.NAMESPACE, name)
        assert service is not None, name
        selectors[name] = service["spec"]["selector"]
        assert service["spec"]["ports"][0]["port"] == 80
        assert service["spec"]["ports"][0]["targetPort"] == 9898
    assert selectors == {
        "podinfo": {"app": "podinfo-primary"},
        "podinfo-primary": {"app": "podinfo-primary"},
        "podinfo-canary": {"app": "podinfo"},
    }
    primary_pods = _pods(kube, selectors["podinfo"])
    assert len(primary_pods) == 2 and all(_ready(pod) for pod in primary_pods)
    assert all(pod["spec"]["containers"][0]["image"] == "podinfo:1" for pod in primary_pods)

    # the canary Ingress: the stable one's rules, backends on podinfo-canary, weight 0, owned
    stable = kube.get(INGRESS_API, "ingresses", demo.NAMESPACE, demo.NAME)
    canary = kube.get(INGRESS_API, "ingresses", demo.NAMESPACE, f"{demo.NAME}-canary")
    assert stable is not None and canary is not None
    annotations = canary["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations[WEIGHT] == "0"
    expected_rules = stable["spec"]["rules"]
    for rule in expected_rules:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "podinfo"
            path["backend"]["service"]["name"] = "podinfo-canary"
    assert canary["spec"]["rules"] == expected_rules
    owners = canary["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [
        (models.KIND, demo.NAME, rollout["metadata"]["uid"])
    ]
    assert "nginx.ingress.kubernetes.io/canary" not in (
        stable["metadata"].get("annotations") or {}
    )  # the stable Ingress is Git's: never written

    # the target runs nothing; the Rollout says so, and is protected by the finalizer
    assert target["spec"]["replicas"] == 0
    eventually(lambda: not _pods(kube, {"app": "podinfo"}), what="the target's Pods gone")
    assert models.FINALIZER in rollout["metadata"]["finalizers"]
    status = eventually(lambda: (kube.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status"))
    assert status["phase"] == "Healthy"
    assert status["stableRevision"] == state.stable_revision
    assert status["canaryWeight"] == 0 and status["pauseConditions"] == []


def _status_view(rollout: dict[str, Any]) -> tuple[str, int, int, tuple[str, ...]]:
    status = rollout.get("status") or {}
    reasons = tuple(str(p["reason"]) for p in status.get("pauseConditions") or [])
    return (
        str(status.get("phase")),
        int(status.get("currentStepIndex", -1)),
        int(status.get("canaryWeight", -1)),
        reasons,
    )


def test_the_rollout_moves_through_every_step_and_is_mirrored_on_the_way(
    podinfo: Demo, kube: Kube
) -> None:
    podinfo.create(steps=STEPS)
    first = podinfo.wait(Stage.HEALTHY)
    settle(podinfo.runtime)
    with (
        Recorder(kube, INGRESS_API, "ingresses", f"{demo.NAME}-canary") as ingress,
        Recorder(kube, models.API_VERSION, models.PLURAL, demo.NAME) as rollout,
        Recorder(kube, "apps/v1", "deployments", f"{demo.NAME}-primary") as primary,
        Recorder(kube, "apps/v1", "deployments", demo.NAME) as target,
    ):
        revision = podinfo.set_image("podinfo:2")
        done = podinfo.wait(Stage.HEALTHY, stable_revision=revision)
        eventually(
            lambda: (
                _status_view(rollout.versions()[-1])[0] == "Healthy"
                and rollout.versions()[-1]["status"]["stableRevision"] == revision
            ),
            what="the Healthy status recorded",
        )
        eventually(lambda: ingress.versions()[-1]["metadata"]["annotations"][WEIGHT] == "0")

    # the canary Ingress's weight went up step by step, never back, and to 0 only at the end
    weights = [int(v["metadata"]["annotations"][WEIGHT]) for v in ingress.versions()]
    assert distinct(weights) == [0, 20, 50, 0]

    # the status mirrored every phase on the way; a pause condition exactly while paused
    views = distinct([_status_view(v) for v in rollout.versions()])
    assert is_subsequence(
        [
            ("Progressing", 0, 0, ()),
            ("Progressing", 0, 20, ()),
            ("Paused", 1, 20, ("PausedByStep",)),
            ("Progressing", 2, 50, ()),
            ("Paused", 3, 50, ("PausedByStep",)),
            ("Progressing", 4, 50, ()),
            ("Healthy", 4, 0, ()),
        ],
        views,
    ), views
    assert all((phase == "Paused") == bool(pauses) for phase, _, _, pauses in views)
    status_weights = [weight for phase, _, weight, _ in views if phase != "Healthy"]
    assert status_weights == sorted(status_weights)
    canary_revisions = {
        v["status"].get("canaryRevision")
        for v in rollout.versions()
        if _status_view(v)[0] in ("Progressing", "Paused")
    }
    assert canary_revisions == {revision}

    # the canary got its replicas before any traffic, and went back to 0 once promoted
    target_versions = target.versions()
    scaled_up = next(v for v in target_versions if v["spec"]["replicas"] == 2)
    first_traffic = next(
        v for v in ingress.versions() if v["metadata"]["annotations"][WEIGHT] == "20"
    )
    assert _rv(scaled_up) < _rv(first_traffic)
    assert _image(scaled_up) == "podinfo:2"

    # traffic left the canary only once the primary was ready at the new revision
    ready_at_new = next(
        v
        for v in primary.versions()
        if workloads.primary_revision(v) == revision and workloads.is_ready(v)
    )
    back_to_zero = [v for v in ingress.versions() if v["metadata"]["annotations"][WEIGHT] == "0"]
    assert _rv(ready_at_new) < _rv(back_to_zero[-1])
    assert all(
        workloads.primary_revision(v) == first.stable_revision
        for v in primary.versions()
        if _rv(v) < _rv(first_traffic)
    )

    # at the end: the primary runs the new image, the target nothing, no canary traffic
    assert done.weight == 0 and done.canary_revision == "" and done.step == len(STEPS)
    assert _image(kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")) == "podinfo:2"
    assert (kube.deployment(demo.NAMESPACE, demo.NAME) or {})["spec"]["replicas"] == 0
    assert podinfo.weight() == 0
    status = (kube.rollout(demo.NAMESPACE, demo.NAME) or {})["status"]
    assert status["phase"] == "Healthy" and status["stableRevision"] == revision
    assert status["canaryWeight"] == 0


def _rv(obj: dict[str, Any]) -> int:
    """The simulator's resourceVersions are one global counter: they order writes across
    objects (a real API server's are opaque)."""
    return int(obj["metadata"]["resourceVersion"])


def test_a_change_that_keeps_the_pod_template_starts_nothing(podinfo: Demo, kube: Kube) -> None:
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    settle(podinfo.runtime)
    before = podinfo.state()
    history = podinfo.history()
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None
    deliveries = len(podinfo.runtime.broker.deliveries())  # type: ignore[union-attr]

    kube.merge_patch(
        "apps/v1",
        "deployments",
        demo.NAMESPACE,
        demo.NAME,
        {"metadata": {"annotations": {"team": "payments"}, "labels": {"tier": "web"}}},
    )
    changed = kube.deployment(demo.NAMESPACE, demo.NAME)
    assert changed is not None and configs.revision(kube, changed, None) == before.stable_revision

    def detected() -> bool:
        records = podinfo.runtime.broker.deliveries()[deliveries:]  # type: ignore[union-attr]
        return any(
            r.event_type == "dev.knative.apiserver.resource.update"
            and (r.subject or "").endswith(f"/deployments/{demo.NAME}")
            for r in records
        )

    eventually(detected, what="the Deployment change delivered to detect")
    podinfo.runtime.tick()  # and the reconcile tick finds nothing to do either
    eventually(
        lambda: any(
            r.event_type == "dev.knative.sources.ping"
            for r in podinfo.runtime.broker.deliveries()[deliveries:]  # type: ignore[union-attr]
        ),
        what="the tick delivered",
    )
    settle(podinfo.runtime)

    after = podinfo.state()
    assert after == before  # same version: nothing was committed
    assert podinfo.history() == history
    assert (kube.deployment(demo.NAMESPACE, demo.NAME) or {})["spec"]["replicas"] == 0
    assert podinfo.weight() == 0
