"""The Rollout resource as Ferry reads it: parsing, validation and derived names.

A Rollout's spec arrives as a dict (from the API or an event); :func:`parse` turns it into frozen
dataclasses or raises :class:`InvalidSpec` with every problem in one readable message. Names of
the objects Ferry manages (``<target>-primary``, ``<service>-canary``, ...) are derived here
and nowhere else. Pure data: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

GROUP = "ferry.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Rollout"
PLURAL = "rollouts"

FINALIZER = "ferry.dev/cleanup"
"""Keeps a deleted Rollout until Ferry has handed its target back."""
DEFAULT_PROGRESS_DEADLINE = 600
DEFAULT_ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class InvalidSpec(ValueError):
    """The Rollout's spec cannot be acted on; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``5m``, ``1h30m``, ``500ms`` or a whole number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return float(text)
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    raise ValueError(
        f"invalid duration {value!r}: use a number of seconds or a duration like 30s, 5m, 1h30m"
    )


@dataclass(frozen=True)
class SetWeight:
    weight: int


@dataclass(frozen=True)
class Pause:
    duration: float | None
    """Seconds, or None for an indefinite pause (wait for a promote)."""


Step = SetWeight | Pause


@dataclass(frozen=True)
class Nginx:
    stable_ingress: str
    annotation_prefix: str = DEFAULT_ANNOTATION_PREFIX
    additional_annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    target_port: int | str


@dataclass(frozen=True)
class RolloutSpec:
    namespace: str
    name: str
    target: str
    service: ServiceSpec
    nginx: Nginx
    steps: tuple[Step, ...]
    progress_deadline: int

    # -- names of what Ferry manages -----------------------------------------------------
    @property
    def primary(self) -> str:
        return f"{self.target}-primary"

    @property
    def primary_service(self) -> str:
        return f"{self.service.name}-primary"

    @property
    def canary_service(self) -> str:
        return f"{self.service.name}-canary"

    @property
    def canary_ingress(self) -> str:
        return f"{self.nginx.stable_ingress}-canary"


def _name(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value:
        problems.append(f"{where} is required")
        return ""
    if len(value) > 253 or not _DNS_NAME.match(value):
        problems.append(f"{where} {value!r} is not a valid Kubernetes name")
    return value


def _steps(raw: Any, problems: list[str]) -> tuple[Step, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("spec.strategy.canary.steps must be a list")
        return ()
    steps: list[Step] = []
    for i, item in enumerate(raw):
        where = f"spec.strategy.canary.steps[{i}]"
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(f"{where} must have exactly one of setWeight, pause")
            continue
        ((kind, value),) = item.items()
        if kind == "setWeight":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                problems.append(
                    f"{where}.setWeight must be an integer from 0 to 100, got {value!r}"
                )
                continue
            steps.append(SetWeight(value))
        elif kind == "pause":
            if value is None:
                value = {}
            if not isinstance(value, dict) or set(value) - {"duration"}:
                problems.append(f"{where}.pause must be {{}} or {{duration: ...}}")
                continue
            if "duration" not in value:
                steps.append(Pause(None))
                continue
            try:
                steps.append(Pause(parse_duration(value["duration"])))
            except ValueError as exc:
                problems.append(f"{where}.pause.duration: {exc}")
        else:
            problems.append(f"{where} has an unknown step {kind!r} (known: setWeight, pause)")
    return tuple(steps)


def parse(rollout: dict[str, Any]) -> RolloutSpec:
    """The Rollout's spec, validated; :class:`InvalidSpec` lists every problem found."""
    meta = rollout.get("metadata") or {}
    spec = rollout.get("spec")
    problems: list[str] = []
    if not isinstance(spec, dict):
        raise InvalidSpec(["spec is required"])
    target_ref = spec.get("targetRef")
    target = ""
    if not isinstance(target_ref, dict):
        problems.append("spec.targetRef is required")
    else:
        if target_ref.get("kind", "Deployment") != "Deployment":
            problems.append(
                f"spec.targetRef.kind must be Deployment, got {target_ref.get('kind')!r}"
            )
        if target_ref.get("apiVersion", "apps/v1") != "apps/v1":
            problems.append(
                f"spec.targetRef.apiVersion must be apps/v1, got {target_ref.get('apiVersion')!r}"
            )
        target = _name(target_ref.get("name"), "spec.targetRef.name", problems)
    service_raw = spec.get("service")
    service = ServiceSpec("", 0, 0)
    if not isinstance(service_raw, dict):
        problems.append("spec.service is required")
    else:
        name = _name(service_raw.get("name"), "spec.service.name", problems)
        port = service_raw.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"spec.service.port must be a port number, got {port!r}")
            port = 0
        target_port = service_raw.get("targetPort", port)
        if not isinstance(target_port, int | str) or isinstance(target_port, bool):
            problems.append(
                f"spec.service.targetPort must be a number or a name, got {target_port!r}"
            )
        service = ServiceSpec(name, port, target_port)
    nginx_raw = (
        ((spec.get("trafficRouting") or {}).get("nginx"))
        if isinstance(spec.get("trafficRouting"), dict)
        else None
    )
    nginx = Nginx("")
    if not isinstance(nginx_raw, dict):
        problems.append("spec.trafficRouting.nginx is required (the only router so far)")
    else:
        extra = nginx_raw.get("additionalIngressAnnotations") or {}
        if not isinstance(extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
        ):
            problems.append(
                "spec.trafficRouting.nginx.additionalIngressAnnotations must map strings to strings"
            )
            extra = {}
        nginx = Nginx(
            _name(
                nginx_raw.get("stableIngress"), "spec.trafficRouting.nginx.stableIngress", problems
            ),
            str(nginx_raw.get("annotationPrefix") or DEFAULT_ANNOTATION_PREFIX),
            dict(extra),
        )
    strategy = spec.get("strategy")
    canary = strategy.get("canary") if isinstance(strategy, dict) else None
    if not isinstance(canary, dict):
        problems.append("spec.strategy.canary is required")
        canary = {}
    steps = _steps(canary.get("steps"), problems)
    deadline = spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)
    if isinstance(deadline, bool) or not isinstance(deadline, int) or deadline < 1:
        problems.append(
            f"spec.progressDeadlineSeconds must be a positive integer, got {deadline!r}"
        )
        deadline = DEFAULT_PROGRESS_DEADLINE
    if problems:
        raise InvalidSpec(problems)
    return RolloutSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        target=target,
        service=service,
        nginx=nginx,
        steps=steps,
        progress_deadline=deadline,
    )
