"""The ingress-nginx router: a canary Ingress with ``canary`` / ``canary-weight`` annotations.

A header route (``setHeaderRoute``, one header) is ``canary-by-header`` with
``canary-by-header-value`` (exact) or ``canary-by-header-pattern`` (regex; a prefix is ``^`` and
the escaped prefix); ingress-nginx sends a request whose header matches to the canary whatever
the weight. A cookie route (``setCookieRoute``) is ``canary-by-cookie``: a request whose cookie
of that name is ``always`` goes to the canary (a header route is looked at first).
ingress-nginx cannot mirror to a canary.

The canary Ingress ``<stableIngress>-canary`` copies the stable Ingress's rules with every
backend that points at the Rollout's Service rewritten to ``<service>-canary``; ingress-nginx
then sends ``canary-weight`` percent of the traffic for those hosts to it. The stable Ingress is
the user's (Git's) and is never written. The canary Ingress is owned by the Rollout.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from shared.kube import Kube
from shared.models import RolloutSpec, SetCookieRoute, SetHeaderRoute, Step, routes_after
from shared.objects import MANAGED_LABELS, owner_reference
from shared.routers import (
    Capability,
    Found,
    NotReady,
    Traffic,
    Want,
    Written,
    full_size,
    unknown_fields,
)

Obj = dict[str, Any]
API_VERSION = "networking.k8s.io/v1"
CAPABILITIES = frozenset({Capability.WEIGHTS, Capability.HEADERS, Capability.COOKIES})
HEADER_ANNOTATIONS = (
    "canary-by-header",
    "canary-by-header-value",
    "canary-by-header-pattern",
    "canary-by-cookie",
)
"""ingress-nginx's header and cookie routing of a canary Ingress: a request whose header (or
cookie, set to ``always``) matches goes to the canary whatever the weight; the header first."""
DEFAULT_ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io"
FIELDS = ("stableIngress", "annotationPrefix", "additionalIngressAnnotations")


@dataclass(frozen=True)
class Nginx:
    """``spec.trafficRouting.nginx``."""

    stable_ingress: str
    annotation_prefix: str = DEFAULT_ANNOTATION_PREFIX
    additional_annotations: dict[str, str] = field(default_factory=dict)


def validate(config: Any, where: str) -> list[str]:
    """The problems of ``spec.trafficRouting.nginx`` (empty when valid)."""
    problems = unknown_fields(config, where, FIELDS)
    if not isinstance(config, dict):
        return problems
    name = config.get("stableIngress")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.stableIngress is required")
    prefix = config.get("annotationPrefix", DEFAULT_ANNOTATION_PREFIX)
    if not isinstance(prefix, str) or not prefix:
        problems.append(f"{where}.annotationPrefix must be a string")
    extra = config.get("additionalIngressAnnotations") or {}
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        problems.append(f"{where}.additionalIngressAnnotations must map strings to strings")
    return problems


def validate_steps(steps: tuple[Step, ...]) -> list[str]:
    """ingress-nginx routes a canary Ingress by one header and one cookie: a header route must
    match one header, a cookie route the value ``always``, and only one route of each kind may
    be in effect at a time."""
    problems: list[str] = []
    active: tuple[int, ...] = ()
    for i, step in enumerate(steps):
        if not isinstance(step, SetHeaderRoute | SetCookieRoute):
            continue
        kind = "setHeaderRoute" if isinstance(step, SetHeaderRoute) else "setCookieRoute"
        at = f"spec.strategy.canary.steps[{i}].{kind}"
        if isinstance(step, SetHeaderRoute) and len(step.match) > 1:
            problems.append(
                f"{at}.match: the nginx router matches one header, not {len(step.match)}"
            )
        if isinstance(step, SetCookieRoute) and step.cookie_name and step.value != "always":
            problems.append(
                f"{at}.value: ingress-nginx sends a cookie to the canary when its value is "
                f"always, not {step.value!r}"
            )
        active = routes_after(steps, active, i)
        same = [steps[j] for j in active if type(steps[j]) is type(step)]
        if len(same) > 1:
            first = same[0]
            assert isinstance(first, SetHeaderRoute | SetCookieRoute)
            problems.append(
                f"{at}: the nginx router has one {kind} at a time, and {first.name!r} is still "
                f"set; remove it first ({kind}: {{name: {first.name}}})"
            )
    return problems


def canary_ingress(rollout: RolloutSpec) -> str:
    """The canary Ingress Ferry owns: ``<stableIngress>-canary``."""
    return f"{config(rollout).stable_ingress}-canary"


class StableIngressMissing(NotReady):
    """The stable Ingress named by the Rollout does not exist."""

    reason = "StableIngressNotFound"


class NginxRouter:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _prefix(self, rollout: RolloutSpec, name: str) -> str:
        return _annotation(rollout, name)

    def desired(self, rollout: RolloutSpec, stable: Obj, owner: Obj, weight: int) -> Obj:
        """The canary Ingress for ``stable`` at ``weight`` percent."""
        made = _canary(rollout, stable, weight)
        made["metadata"]["ownerReferences"] = [owner_reference(owner)]
        return made

    def _stable(self, rollout: RolloutSpec) -> Obj:
        stable = self.kube.get(
            API_VERSION, "ingresses", rollout.namespace, config(rollout).stable_ingress
        )
        if stable is None:
            raise StableIngressMissing(
                f"the stable Ingress {rollout.namespace}/{config(rollout).stable_ingress} "
                "(spec.trafficRouting.nginx.stableIngress) does not exist; create it, or name "
                "the Ingress that routes to the Service"
            )
        return stable

    def reconcile(self, rollout: RolloutSpec, owner: Obj) -> None:
        desired = self.desired(rollout, self._stable(rollout), owner, 0)
        if self.get_weight(rollout) is not None:
            # The weight of an existing canary Ingress is set_weight's alone: writing back a
            # weight read a moment ago would undo a step (or a return to 0) made meanwhile.
            del desired["metadata"]["annotations"][self._prefix(rollout, "canary-weight")]
        self.kube.ensure(desired)

    def _routing(self, rollout: RolloutSpec, traffic: Traffic) -> dict[str, str | None]:
        return routing(rollout, traffic)

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        def change(current: Obj) -> Obj | None:
            traffic = want(self._weight(rollout, current))
            return None if traffic is None else self._to(current, rollout, traffic)

        self.kube.fenced_patch(
            API_VERSION, "ingresses", rollout.namespace, canary_ingress(rollout), change
        )

    def _to(self, current: Obj, rollout: RolloutSpec, traffic: Traffic) -> Obj | None:
        """The patch that makes the canary Ingress route ``traffic`` (None: it does)."""
        annotations = current["metadata"].get("annotations") or {}
        wanted = self._routing(rollout, traffic)
        patch = {k: v for k, v in wanted.items() if annotations.get(k) != v}
        return {"metadata": {"annotations": patch}} if patch else None

    def converged(self, rollout: RolloutSpec, traffic: Traffic) -> bool:
        current = self.kube.get(
            API_VERSION, "ingresses", rollout.namespace, canary_ingress(rollout)
        )
        return current is not None and self._to(current, rollout, traffic) is None

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        current = self.kube.get(
            API_VERSION, "ingresses", rollout.namespace, canary_ingress(rollout)
        )
        return None if current is None else self._weight(rollout, current)

    def _weight(self, rollout: RolloutSpec, ingress: Obj) -> int:
        value = ((ingress["metadata"].get("annotations")) or {}).get(
            self._prefix(rollout, "canary-weight"), "0"
        )
        try:
            return int(value)
        except ValueError:
            return 0

    def objects(self, rollout: RolloutSpec) -> set[tuple[str, str]]:
        return {("Ingress", canary_ingress(rollout)), ("Ingress", config(rollout).stable_ingress)}

    def canary_replicas(self, weight: int, stable: int) -> int:
        return full_size(weight, stable)

    def finalize(self, rollout: RolloutSpec) -> None:
        self.kube.delete(API_VERSION, "ingresses", rollout.namespace, canary_ingress(rollout))


def _annotation(rollout: RolloutSpec, name: str) -> str:
    """The full name of ingress-nginx's annotation ``name`` (``annotationPrefix``)."""
    return f"{config(rollout).annotation_prefix}/{name}"


def _canary(rollout: RolloutSpec, stable: Obj, weight: int) -> Obj:
    """The canary Ingress for the stable Ingress ``stable`` at ``weight`` percent (without
    its owner reference)."""
    spec = copy.deepcopy(stable.get("spec") or {})
    if _backend_service(spec.get("defaultBackend")) == rollout.service.name:
        spec["defaultBackend"]["service"]["name"] = rollout.canary_service
    else:
        spec.pop("defaultBackend", None)
    for rule in spec.get("rules") or []:
        paths = ((rule.get("http") or {}).get("paths")) or []
        rule.setdefault("http", {})["paths"] = [
            _to_canary(path, rollout)
            for path in paths
            if _backend_service(path.get("backend")) == rollout.service.name
        ]
    spec["rules"] = [r for r in spec.get("rules") or [] if r["http"]["paths"]]
    annotations = {
        _annotation(rollout, "canary"): "true",
        _annotation(rollout, "canary-weight"): str(weight),
    }
    for key, value in config(rollout).additional_annotations.items():
        annotations[key if "/" in key else _annotation(rollout, key)] = value
    return {
        "apiVersion": API_VERSION,
        "kind": "Ingress",
        "metadata": {
            "name": canary_ingress(rollout),
            "namespace": rollout.namespace,
            "labels": dict(MANAGED_LABELS),
            "annotations": annotations,
        },
        "spec": spec,
    }


def routing(rollout: RolloutSpec, traffic: Traffic) -> dict[str, str | None]:
    """The canary Ingress's routing annotations for ``traffic`` (None: absent)."""
    wanted: dict[str, str | None] = {
        _annotation(rollout, name): None for name in HEADER_ANNOTATIONS
    }
    wanted[_annotation(rollout, "canary-weight")] = str(traffic.weight)
    for route in traffic.routes:
        if isinstance(route, SetCookieRoute):  # validation allows one, valued "always"
            wanted[_annotation(rollout, "canary-by-cookie")] = route.cookie_name
        if isinstance(route, SetHeaderRoute):  # validation allows one, of one header
            (match,) = route.match
            wanted[_annotation(rollout, "canary-by-header")] = match.name
            if match.value.kind == "exact":
                wanted[_annotation(rollout, "canary-by-header-value")] = match.value.value
            else:
                pattern = match.value.value
                if match.value.kind == "prefix":
                    pattern = "^" + re.escape(pattern)
                wanted[_annotation(rollout, "canary-by-header-pattern")] = pattern
    static = config(rollout).additional_annotations  # the user's, set by reconcile
    return {
        k: v
        for k, v in wanted.items()
        if k.removeprefix(_annotation(rollout, "")) not in static and k not in static
    }


def preview(rollout: RolloutSpec, traffic: Traffic, found: Found) -> list[Written]:
    """The canary Ingress as this router writes it for ``traffic`` (``kubectl ferry plan``):
    the stable Ingress's rules (when ``found`` has it) and the routing annotations."""
    stable = found("Ingress", config(rollout).stable_ingress)
    made = _canary(rollout, stable or {"spec": {}}, traffic.weight)
    annotations = made["metadata"]["annotations"]
    annotations.update({k: v for k, v in routing(rollout, traffic).items() if v is not None})
    assumed = "" if stable is not None else f"Ingress {config(rollout).stable_ingress}"
    return [Written(made, assumed=assumed)]


def create(kube: Kube) -> NginxRouter:
    return NginxRouter(kube)


def config(rollout: RolloutSpec) -> Nginx:
    raw = rollout.routing
    return Nginx(
        str(raw.get("stableIngress") or ""),
        str(raw.get("annotationPrefix") or DEFAULT_ANNOTATION_PREFIX),
        dict(raw.get("additionalIngressAnnotations") or {}),
    )


def _backend_service(backend: Any) -> str | None:
    if not isinstance(backend, dict):
        return None
    return ((backend.get("service")) or {}).get("name")


def _to_canary(path: Obj, rollout: RolloutSpec) -> Obj:
    moved = copy.deepcopy(path)
    moved["backend"]["service"]["name"] = rollout.canary_service
    return moved
