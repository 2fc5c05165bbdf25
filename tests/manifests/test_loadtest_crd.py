"""``spec.loadTest`` and a step's ``load`` in the Rollout CRD agree with Ferry's parser: what the
schema rejects the parser rejects too, what it accepts (and stores as sent) parses, and the
status Ferry's load function writes fits the status schema."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient

from shared import models
from tests.manifests.helpers import Obj, _contains, _create, _patch_status, _rejection
from tests.manifests.objects import _minimal_rollout

GOOD: list[dict[str, Any]] = [
    {"rps": 10},
    {"rps": 0},
    {"rps": 1000, "concurrency": 100, "method": "HEAD", "timeout": "10s", "duration": "1h30m"},
    {"rps": 5, "url": "https://podinfo.example.com/api?x=1", "headers": {"Host": "a\tb c"}},
    {"rps": 5, "service": {"name": "podinfo-canary", "port": 9898}, "paths": ["/", "/a?b=c"]},
    {"rps": 5, "stopOnPause": False, "duration": 30, "timeout": 2},
]
BAD: list[tuple[dict[str, Any], str]] = [
    ({}, "rps"),
    ({"rps": 1001}, "rps"),
    ({"rps": -1}, "rps"),
    ({"rps": 5, "concurrency": 0}, "concurrency"),
    ({"rps": 5, "url": "ftp://x/"}, "url"),
    ({"rps": 5, "url": "HTTP://x/"}, "url"),
    ({"rps": 5, "method": "POST"}, "method"),
    ({"rps": 5, "headers": {"X-Token": "ab\u20ac"}}, "headers"),
    ({"rps": 5, "headers": {"X-Token": "a\r\nb"}}, "headers"),
    ({"rps": 5, "paths": []}, "paths"),
    ({"rps": 5, "service": {"name": "Podinfo"}}, "service"),
    ({"rps": 5, "service": {"name": "a", "port": 0}}, "port"),
    ({"rps": 5, "duration": "soon"}, "duration"),
    ({"rps": 5, "timeout": 11}, "timeout"),
    ({"rps": 5, "stopOnPause": "yes"}, "stopOnPause"),
]


PARSER_ONLY: list[tuple[dict[str, Any], str]] = [
    ({"rps": 5, "timeout": "30s"}, "timeout must be more than 0 and at most 10s"),
    ({"rps": 5, "url": "http://x/", "service": {"name": "a"}}, "one of url and service"),
]
"""What a structural schema cannot say without CEL (a duration string's size, two fields that
exclude each other): the API server stores it, Ferry reports it (an InvalidSpec condition)."""


def _rollout(name: str, load: dict[str, Any], *, step: bool) -> Obj:
    obj = _minimal_rollout(name)
    if step:
        obj["spec"]["strategy"]["canary"]["steps"].append({"load": load})
    else:
        obj["spec"]["loadTest"] = load
    return obj


@pytest.mark.parametrize("step", [False, True], ids=["spec", "step"])
@pytest.mark.parametrize("load", GOOD, ids=[str(i) for i in range(len(GOOD))])
def test_what_the_crd_accepts_parses(
    cluster: DynamicClient, scratch: str, load: dict[str, Any], step: bool, request: Any
) -> None:
    name = f"load-ok-{request.node.callspec.id.replace('-', '').lower()}"
    created = _create(cluster, _rollout(name, load, step=step), scratch)
    stored = created["spec"]["strategy"]["canary"]["steps"][-1]["load"] if step else None
    assert _contains(stored if step else created["spec"]["loadTest"], load)
    models.parse(created)  # no InvalidSpec


@pytest.mark.parametrize("step", [False, True], ids=["spec", "step"])
@pytest.mark.parametrize(("load", "field"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_what_the_crd_rejects_the_parser_rejects(
    cluster: DynamicClient, scratch: str, load: dict[str, Any], field: str, step: bool, request: Any
) -> None:
    name = f"load-bad-{request.node.callspec.id.replace('-', '').lower()}"
    obj = _rollout(name, load, step=step)
    status, body = _rejection(cluster, obj, scratch)
    assert status == 422 and field in body, body
    with pytest.raises(models.InvalidSpec, match=field):
        models.parse(obj)


def test_the_load_functions_status_fits(cluster: DynamicClient, scratch: str) -> None:
    _create(cluster, _rollout("load-status", {"rps": 5}, step=False), scratch)
    shown = {
        "phase": "Running",
        "message": "5 rps (8 at once) to service podinfo-canary:80",
        "source": "spec.loadTest",
        "rps": 5,
        "sent": 1234,
        "errors": 2,
        "missed": 0,
        "achievedRPS": "4.9",
        "startedAt": "2026-12-02T10:00:00Z",
    }
    stored = _patch_status(cluster, "Rollout", "load-status", scratch, {"loadTest": shown})
    assert stored["status"]["loadTest"] == shown  # nothing pruned


@pytest.mark.parametrize(("load", "said"), PARSER_ONLY, ids=["timeout", "both"])
def test_what_only_the_parser_rejects_is_said_by_ferry(
    cluster: DynamicClient, scratch: str, load: dict[str, Any], said: str, request: Any
) -> None:
    name = f"load-parser-{request.node.callspec.id}"
    created = _create(cluster, _rollout(name, load, step=False), scratch)
    with pytest.raises(models.InvalidSpec, match=said):
        models.parse(created)
