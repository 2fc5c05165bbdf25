"""What GitOps tools see of a rollout, on every version of the objects a real rollout wrote.

Argo CD: Ferry's health checks (``knative/argocd/argocd-cm-health.yaml``) run by a real Lua 5.1
interpreter (lupa), with only what Argo CD opens to a health script (the base and table
libraries): the Rollout is Progressing before Ferry has seen it and during its steps,
Suspended at a pause, Healthy only when its target's revision is the stable one, Degraded on
abort; its AnalysisRun goes Progressing then Healthy.

Flux (and kpt, cli-utils): kstatus's documented rules for custom resources, applied to the
same versions — InProgress while ``observedGeneration`` trails ``metadata.generation`` or a
``Reconciling`` condition is True, Failed when ``Stalled`` is True, else Current: a
Kustomization's health check waits through the steps and pauses and fails on an abort; Ferry's
``Ready`` condition is True exactly when kstatus says Current after Ferry has written a status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lupa.lua51 as lua51
import pytest
import yaml

from local import demo
from local.runtime import Runtime
from shared import models
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import (
    Demo,
    JsonEndpoint,
    Recorder,
    eventually,
    fast_options,
    post_to,
)

PATCH = Path(__file__).resolve().parents[1] / "knative" / "argocd" / "argocd-cm-health.yaml"
KEY = "resource.customizations.health.ferry.dev_"


class Health:
    """Argo CD's evaluation of one health script: a fresh Lua state per object, the object
    as the global ``obj``, only the base and table libraries (no string, io or os)."""

    SAFE = (
        "assert",
        "error",
        "ipairs",
        "next",
        "pairs",
        "pcall",
        "select",
        "tonumber",
        "tostring",
        "type",
        "unpack",
        "setmetatable",
        "getmetatable",
        "rawget",
        "rawset",
        "rawequal",
        "table",
    )

    def __init__(self, kind: str) -> None:
        data = yaml.safe_load(PATCH.read_text())["data"]
        self.script = str(data[KEY + kind])

    def __call__(self, obj: dict[str, Any]) -> tuple[str, str]:
        lua = lua51.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
        env = lua.table_from({name: lua.globals()[name] for name in self.SAFE})
        env["obj"] = lua.table_from(_plain(obj), recursive=True)
        chunk = lua.execute("return loadstring(...)", self.script)
        assert chunk is not None, "the script does not compile"
        lua.globals().setfenv(chunk, env)
        result = chunk()
        return str(result["status"]), str(result["message"] or "")


def _plain(value: Any) -> Any:
    """JSON as Argo CD hands it to Lua: objects and arrays become tables, null is absent."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_every_script_compiles_and_names_a_known_status() -> None:
    data = yaml.safe_load(PATCH.read_text())["data"]
    assert sorted(data) == sorted(KEY + k for k in ("Rollout", "Experiment", "AnalysisRun"))
    for kind in ("Rollout", "Experiment", "AnalysisRun"):
        assert Health(kind)({"metadata": {"name": "x"}})[0] == "Progressing"


@pytest.fixture
def world() -> Iterator[tuple[Runtime, Kube, Demo]]:
    with Runtime(fast_options()) as runtime:
        assert runtime.sim is not None
        kube = Kube(runtime.sim.api_client())
        yield runtime, kube, Demo(runtime, kube)


def _template(url: str) -> dict[str, Any]:
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "ok", "namespace": demo.NAMESPACE},
        "spec": {
            "metrics": [
                {
                    "name": "ok",
                    "count": 2,
                    "interval": "1s",
                    "successCondition": "result == 1",
                    "provider": {"web": {"url": url, "jsonPath": "{$.ok}"}},
                }
            ]
        },
    }


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus's generic rules for a custom resource (cli-utils ``pkg/kstatus``, README
    "Conditions"): being deleted is InProgress; an ``observedGeneration`` that is not the
    ``generation`` is InProgress; ``Reconciling`` True is InProgress; ``Stalled`` True is
    Failed; anything else (a resource without status too) is Current."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        return "InProgress"
    status = obj.get("status") or {}
    if "observedGeneration" in status and status["observedGeneration"] != meta.get("generation"):
        return "InProgress"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("Reconciling") or {}).get("status") == "True":
        return "InProgress"
    if (conditions.get("Stalled") or {}).get("status") == "True":
        return "Failed"
    return "Current"


def _runs(values: list[str]) -> list[str]:
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def test_the_rollout_health_follows_a_real_run(world: tuple[Runtime, Kube, Demo]) -> None:
    runtime, kube, podinfo = world
    rollout = Health("Rollout")
    check = JsonEndpoint(lambda: {"ok": 1})
    try:
        kube.create(_template(check.url))
        steps = [
            {"setWeight": 20},
            {"analysis": {"templates": [{"templateName": "ok"}]}},
            {"pause": {}},
        ]
        with Recorder(kube, models.API_VERSION, models.PLURAL, demo.NAME) as seen:
            podinfo.create(steps)
            podinfo.wait(Stage.HEALTHY)
            podinfo.set_image("podinfo:2")
            podinfo.wait(Stage.PAUSED, timeout=30)
            post_to(runtime, "advance", podinfo.command("promote"))
            podinfo.wait(Stage.HEALTHY, timeout=30)
            podinfo.set_image("podinfo:3")
            podinfo.wait(Stage.PAUSED, timeout=30)
            post_to(runtime, "abort", podinfo.command("abort"))
            podinfo.wait(Stage.ABORTED, timeout=30)
            eventually(lambda: (seen.versions()[-1].get("status") or {}).get("phase") == "Degraded")
        versions = [v for v in seen.versions() if not v.get("deleted")]
    finally:
        check.stop()
    health = [rollout(v)[0] for v in versions]
    order = _runs(health)
    assert order[:2] == ["Progressing", "Healthy"], order  # not yet seen, then initialized
    assert order[2:] == [
        "Progressing",  # the canary scales, steps, analyses
        "Suspended",  # pause: {} waits for a promote
        "Progressing",  # promoting
        "Healthy",  # podinfo:2 is stable
        "Progressing",
        "Suspended",
        "Degraded",  # aborted
    ], order
    for version, said in zip(versions, health, strict=True):
        status = version.get("status") or {}
        if said == "Healthy":  # only ever with the target's revision stable
            assert status["currentPodHash"] == status["stableRevision"] != "", status
            assert status.get("observedGeneration") == version["metadata"]["generation"]
    suspended = [rollout(v) for v, h in zip(versions, health, strict=True) if h == "Suspended"]
    assert all("paused" in message.lower() for _, message in suspended), suspended
    degraded = rollout(versions[-1])
    assert degraded[0] == "Degraded" and "abort" in degraded[1].lower(), degraded

    # Flux: kstatus waits through the steps and the pause, is Current once promoted, and
    # fails on the abort; Ready says the same wherever Ferry wrote a status
    flux = [kstatus(v) for v in versions]
    assert _runs(flux) == [
        "Current",  # kstatus's rule for a resource without status (Ferry has not seen it yet)
        "InProgress",  # initializing
        "Current",
        "InProgress",  # steps, analysis, the pause, promoting
        "Current",
        "InProgress",
        "Failed",  # aborted
    ], _runs(flux)
    for version, said in zip(versions, flux, strict=True):
        if not (version.get("status") or {}).get("conditions"):
            continue  # not written by Ferry yet
        conditions = {c["type"]: c for c in version["status"]["conditions"]}
        assert (conditions["Ready"]["status"] == "True") == (said == "Current"), conditions
        if said == "Current":
            status = version["status"]
            assert status["currentPodHash"] == status["stableRevision"] != ""
    assert [h for h, f in zip(health, flux, strict=True) if f == "Failed"] == [
        "Degraded"
    ] * flux.count("Failed")

    runs = kube.list_of(models.API_VERSION, "analysisruns", demo.NAMESPACE)
    analysis = Health("AnalysisRun")
    assert runs and all(analysis(r)[0] in ("Healthy", "Degraded") for r in runs)
    assert "Healthy" in [analysis(r)[0] for r in runs]


def test_a_spec_not_yet_observed_and_an_invalid_spec() -> None:
    rollout = Health("Rollout")
    healthy = {
        "metadata": {"name": "p", "generation": 3},
        "status": {
            "phase": "Healthy",
            "observedGeneration": 2,
            "stableRevision": "abc",
            "currentPodHash": "abc",
        },
    }
    assert rollout(healthy) == ("Progressing", "Waiting for rollout spec update to be observed")
    healthy["status"]["observedGeneration"] = 3
    assert rollout(healthy)[0] == "Healthy"
    invalid = {
        "metadata": {"name": "p", "generation": 1},
        "status": {
            "phase": "Degraded",
            "observedGeneration": 1,
            "conditions": [
                {"type": "InvalidSpec", "status": "True", "message": "spec.targetRef is required"}
            ],
        },
    }
    assert rollout(invalid) == ("Degraded", "spec.targetRef is required")
    deleting = {"metadata": {"name": "p", "deletionTimestamp": "2026-12-02T10:00:00Z"}}
    assert rollout(deleting)[0] == "Progressing"


@pytest.mark.parametrize(
    ("phase", "status"),
    [
        ("Pending", "Progressing"),
        ("Running", "Progressing"),
        ("Successful", "Healthy"),
        ("Failed", "Degraded"),
        ("Error", "Degraded"),
        ("Inconclusive", "Unknown"),
    ],
)
def test_experiments_and_analysis_runs_follow_argo_rollouts(phase: str, status: str) -> None:
    for kind in ("Experiment", "AnalysisRun"):
        said, message = Health(kind)({"metadata": {"name": "e"}, "status": {"phase": phase}})
        assert said == status and message, (kind, phase, message)
