"""Fixtures for end-to-end rollout tests: the whole local runtime, driven over HTTP.

``runtime`` is ``ferry up`` on a fresh simulator and Redis, with fast Pods, fault injection
armed-able and no periodic tick (tests call ``runtime.tick()``). ``kube`` talks to its cluster.
``Demo`` creates the usual objects (Deployment, Ingress, Rollout) and waits on the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local import demo
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from shared import workloads
from shared.events import RolloutRef
from shared.kube import Kube
from shared.state import RolloutState, Stage

FAST = SimSettings(pod_ready_delay=0.1, job_run_seconds=0.1, tick=0.01)
REF = RolloutRef(demo.NAMESPACE, demo.NAME)


def fast_options(**overrides: Any) -> Options:
    options = Options(tick=3600.0, sim_settings=FAST, fault_injection=True)
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime(fast_options()) as started:
        yield started


@pytest.fixture
def kube(runtime: Runtime) -> Kube:
    assert runtime.sim is not None
    return Kube(runtime.sim.api_client())


def eventually(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what or 'condition'} not met within {timeout}s (last: {value!r})")


class Demo:
    """The demo's podinfo objects in a runtime, and ways to wait on its rollout."""

    def __init__(self, runtime: Runtime, kube: Kube) -> None:
        assert runtime.store is not None
        self.runtime, self.kube, self.store = runtime, kube, runtime.store

    def create(self, steps: list[dict[str, Any]] | None = None, image: str = "podinfo:1",
               **spec: Any) -> None:
        self.kube.create(demo.deployment(image))
        self.kube.create(demo.ingress())
        self.kube.create(demo.rollout(steps, **spec))

    def state(self) -> RolloutState:
        return self.store.load(REF)

    def wait(self, stage: Stage, timeout: float = 15.0, **fields: Any) -> RolloutState:
        def reached() -> RolloutState | None:
            state = self.state()
            ok = state.stage == stage and all(getattr(state, k) == v for k, v in fields.items())
            return state if ok else None

        result: RolloutState = eventually(reached, timeout, f"stage {stage} {fields}")
        return result

    def set_image(self, image: str) -> str:
        """Change the target's image; returns the new revision."""
        self.kube.merge_patch("apps/v1", "deployments", demo.NAMESPACE, demo.NAME, {"spec": {
            "template": {"spec": {"containers": [{"name": "podinfo", "image": image}]}}}})
        target = self.kube.deployment(demo.NAMESPACE, demo.NAME)
        assert target is not None
        return workloads.revision(target)

    def weight(self) -> int | None:
        ingress = self.kube.get("networking.k8s.io/v1", "ingresses", demo.NAMESPACE,
                                f"{demo.NAME}-canary")
        if ingress is None:
            return None
        value = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
        return int(value)

    def history(self) -> list[dict[str, Any]]:
        return self.store.history(REF)


@pytest.fixture
def podinfo(runtime: Runtime, kube: Kube) -> Demo:
    return Demo(runtime, kube)
