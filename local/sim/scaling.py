"""The scale subresource: an ``autoscaling/v1 Scale`` view of a workload, and writing it back.

Pure functions over objects; the store does the locking and the HTTP layer the routing.
"""

from __future__ import annotations

from typing import Any

from local.sim.resources import ScalePaths
from local.sim.selectors import label_selector_from_object

Obj = dict[str, Any]


def _steps(path: str) -> list[str]:
    return [step for step in path.split(".") if step]


def _read(obj: Obj, path: str) -> Any:
    value: Any = obj
    for step in _steps(path):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _write(obj: Obj, path: str, value: Any) -> None:
    steps = _steps(path)
    target = obj
    for step in steps[:-1]:
        target = target.setdefault(step, {})
    target[steps[-1]] = value


def to_scale(paths: ScalePaths, obj: Obj) -> Obj:
    meta = obj["metadata"]
    status: Obj = {"replicas": _read(obj, paths.status_replicas) or 0}
    if paths.label_selector:
        selector = _read(obj, paths.label_selector)
        if isinstance(selector, dict):  # built-in workloads keep a LabelSelector object
            selector = str(label_selector_from_object(selector))
        if selector:
            status["selector"] = selector
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": _read(obj, paths.spec_replicas) or 0},
        "status": status,
    }


def with_replicas(paths: ScalePaths, obj: Obj, replicas: int) -> Obj:
    _write(obj, paths.spec_replicas, replicas)
    return obj
