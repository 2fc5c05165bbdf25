"""Defaulting and validation before a write is stored: the API server's per-kind rules.

Built-in kinds get the defaults and checks a reconciler relies on (a Deployment's selector must
match its template, a Service gets a cluster IP, a Job its controller-uid selector, a Secret's
``stringData`` becomes ``data``...). Custom resources are defaulted, pruned and validated against
their CRD's ``openAPIV3Schema``, as a real server does. CEL rules (``x-kubernetes-validations``)
are not evaluated. Everything here edits the object in place or raises :class:`ApiError`; it
never writes to the store.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import re
import threading
from collections.abc import Callable
from typing import Any

from local.sim import errors
from local.sim.resources import ResourceType
from local.sim.selectors import SelectorError, label_selector_from_object
from shared import schemas

Obj = dict[str, Any]
Causes = list[tuple[str, str]]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_PATH_SEGMENT = re.compile(r"^(?!\.\.?$)[^/%]+$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


class Admission:
    """The admission chain the store calls before every create and update."""

    def __init__(self) -> None:
        self._ips = itertools.count(10)
        self._ip_lock = threading.Lock()
        self._by_kind: dict[tuple[str, str], Callable[[Obj, Obj | None, Causes], None]] = {
            ("", "Namespace"): self._namespace,
            ("", "Pod"): self._pod,
            ("", "Service"): self._service,
            ("", "Secret"): self._secret,
            ("", "ConfigMap"): self._immutable,
            ("apps", "Deployment"): self._workload,
            ("apps", "ReplicaSet"): self._workload,
            ("batch", "Job"): self._job,
            ("apiextensions.k8s.io", "CustomResourceDefinition"): self._crd,
        }

    def register(
        self, group: str, kind: str, check: Callable[[Obj, Obj | None, Causes], None]
    ) -> None:
        """Add the defaulting and validation of one more kind (defined outside this module)."""
        self._by_kind[(group, kind)] = check

    def __call__(self, rt: ResourceType, new: Obj, old: Obj | None) -> None:
        causes: Causes = []
        meta = new["metadata"]
        name = meta.get("name", "")
        self._metadata(rt, meta, causes)
        if rt.schema is not None:
            self._custom(rt, new, old, causes)
        check = self._by_kind.get((rt.group, rt.kind))
        if check is not None and not causes:
            check(new, old, causes)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)

    # ------------------------------------------------------------------ every object

    @staticmethod
    def _metadata(rt: ResourceType, meta: Obj, causes: Causes) -> None:
        name = meta.get("name", "")
        pattern = _LABEL if rt.kind in ("Namespace",) else _SUBDOMAIN
        if rt.kind == "Service":
            pattern = _DNS1035
        if rt.group == "rbac.authorization.k8s.io":  # any path segment name: "system:discovery"
            pattern = _PATH_SEGMENT
        if len(name) > 253 or not pattern.match(name):
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 name must consist of lower '
                    "case alphanumeric characters, '-' or '.', and must start and end with an "
                    "alphanumeric character",
                )
            )
        for key, value in (meta.get("labels") or {}).items():
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                causes.append(
                    (
                        "metadata.labels",
                        f'Invalid value: "{value}": a valid label must be an '
                        "empty string or consist of alphanumeric characters, '-', '_' or '.'",
                    )
                )
            prefix, _, label = key.rpartition("/")
            if (
                len(label) > 63
                or not _LABEL_NAME.match(label)
                or (prefix and not _SUBDOMAIN.match(prefix))
            ):
                causes.append(("metadata.labels", f'Invalid value: "{key}": invalid label key'))
        for key, value in (meta.get("annotations") or {}).items():
            if not isinstance(value, str):
                causes.append((f"metadata.annotations.{key}", "Invalid value: must be a string"))

    @staticmethod
    def _custom(rt: ResourceType, new: Obj, old: Obj | None, causes: Causes) -> None:
        assert rt.schema is not None
        schemas.apply_defaults(new, rt.schema)
        schemas.prune(new, rt.schema)
        errors = schemas.validate(new, rt.schema)
        if not errors:  # the rules read values of the schema's types
            errors = schemas.check_rules(new, rt.schema, old)
        causes.extend((e.path, str(e).partition(": ")[2] or e.message) for e in errors)

    # ------------------------------------------------------------------ built-in kinds

    @staticmethod
    def _namespace(new: Obj, old: Obj | None, causes: Causes) -> None:
        name = new["metadata"]["name"]
        new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        new.setdefault("status", {}).setdefault("phase", "Active")

    @staticmethod
    def _containers(spec: Obj, path: str, causes: Causes) -> None:
        containers = spec.get("containers")
        if not isinstance(containers, list) or not containers:
            causes.append((f"{path}.containers", "Required value"))
            return
        for i, container in enumerate(containers):
            if not isinstance(container, dict) or not container.get("name"):
                causes.append((f"{path}.containers[{i}].name", "Required value"))
            elif not container.get("image"):
                causes.append((f"{path}.containers[{i}].image", "Required value"))
            else:
                container.setdefault("imagePullPolicy", "IfNotPresent")
                container.setdefault("terminationMessagePath", "/dev/termination-log")
                for port in container.get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("securityContext", {})

    def _pod(self, new: Obj, old: Obj | None, causes: Causes) -> None:
        self._containers(new.setdefault("spec", {}), "spec", causes)
        if old is None:
            new.setdefault("status", {}).setdefault("phase", "Pending")
            new["status"].setdefault("qosClass", "BestEffort")

    def _workload(self, new: Obj, old: Obj | None, causes: Causes) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        if new["kind"] == "Deployment":
            spec.setdefault(
                "strategy",
                {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                },
            )
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        if not isinstance(spec["replicas"], int) or spec["replicas"] < 0:
            causes.append(
                (
                    "spec.replicas",
                    f"Invalid value: {spec['replicas']!r}: must be greater than or equal to 0",
                )
            )
        template = spec.get("template")
        if not isinstance(template, dict):
            causes.append(("spec.template", "Required value"))
            return
        self._containers(template.setdefault("spec", {}), "spec.template.spec", causes)
        selector = spec.get("selector")
        if not isinstance(selector, dict) or not (
            selector.get("matchLabels") or selector.get("matchExpressions")
        ):
            causes.append(("spec.selector", "Required value"))
            return
        try:
            parsed = label_selector_from_object(selector)
        except SelectorError as exc:
            causes.append(("spec.selector", f"Invalid value: {exc}"))
            return
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not parsed.matches(labels):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    f"Invalid value: {labels!r}: `selector` does not match template `labels`",
                )
            )
        if old is not None and (old.get("spec") or {}).get("selector") != selector:
            causes.append(("spec.selector", f"Invalid value: {selector!r}: field is immutable"))

    def _service(self, new: Obj, old: Obj | None, causes: Causes) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            if old is not None and (old.get("spec") or {}).get("clusterIP"):
                if spec.get("clusterIP") not in (None, "", old["spec"]["clusterIP"]):
                    causes.append(("spec.clusterIP", "Invalid value: field is immutable"))
                spec["clusterIP"] = old["spec"]["clusterIP"]
            elif not spec.get("clusterIP"):
                spec["clusterIP"] = self._next_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict) or not isinstance(port.get("port"), int):
                causes.append((f"spec.ports[{i}].port", "Required value"))
                continue
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port["port"])
        new.setdefault("status", {}).setdefault("loadBalancer", {})

    def _next_ip(self) -> str:
        with self._ip_lock:
            return str(ipaddress.ip_address("10.96.0.0") + next(self._ips))

    @staticmethod
    def _immutable(new: Obj, old: Obj | None, causes: Causes) -> None:
        """A ConfigMap or Secret marked ``immutable``: its data (a Secret's type) and the mark
        itself can no longer change; only deleting it does (as kube-apiserver)."""
        if old is None or not old.get("immutable"):
            return
        if not new.get("immutable"):
            causes.append(("immutable", "Forbidden: field is immutable when `immutable` is set"))
        for key in ("data", "binaryData", "type"):
            if (new.get(key) or None) != (old.get(key) or None):
                causes.append((key, "Forbidden: field is immutable when `immutable` is set"))

    @classmethod
    def _secret(cls, new: Obj, old: Obj | None, causes: Causes) -> None:
        new.setdefault("type", "Opaque")
        string_data = new.pop("stringData", None) or {}
        data = new.setdefault("data", {}) if string_data else new.get("data") or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (ValueError, TypeError):
                causes.append((f"data[{key}]", "Invalid value: must be base64"))
        cls._immutable(new, old, causes)

    def _job(self, new: Obj, old: Obj | None, causes: Causes) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        template = spec.get("template")
        if not isinstance(template, dict):
            causes.append(("spec.template", "Required value"))
            return
        pod_spec = template.setdefault("spec", {})
        self._containers(pod_spec, "spec.template.spec", causes)
        if pod_spec.get("restartPolicy") not in ("Never", "OnFailure"):
            causes.append(
                (
                    "spec.template.spec.restartPolicy",
                    f"Unsupported value: "
                    f'"{pod_spec.get("restartPolicy")}": supported values: "OnFailure", "Never"',
                )
            )
        uid = new["metadata"]["uid"]
        if old is None and not spec.get("manualSelector"):
            marks = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels.update(marks)
            labels.setdefault("job-name", new["metadata"]["name"])
            labels.setdefault("batch.kubernetes.io/job-name", new["metadata"]["name"])
        elif old is not None and old.get("spec", {}).get("template") != template:
            causes.append(("spec.template", "Invalid value: field is immutable"))

    @staticmethod
    def _crd(new: Obj, old: Obj | None, causes: Causes) -> None:
        spec = new.get("spec") or {}
        names = spec.get("names") or {}
        group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
        if not group or not _SUBDOMAIN.match(group) or "." not in group:
            causes.append(
                (
                    "spec.group",
                    f'Invalid value: "{group}": should be a domain with at least one dot',
                )
            )
        if not plural or not _LABEL.match(plural):
            causes.append(("spec.names.plural", "Required value"))
        if not kind:
            causes.append(("spec.names.kind", "Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(
                (
                    "spec.scope",
                    f'Unsupported value: "{spec.get("scope")}": supported '
                    'values: "Cluster", "Namespaced"',
                )
            )
        versions = spec.get("versions") or []
        if not versions:
            causes.append(("spec.versions", "Required value"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(
                (
                    "spec.versions",
                    "Invalid value: must have exactly one version marked as storage version",
                )
            )
        if plural and group and new["metadata"]["name"] != f"{plural}.{group}":
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{new["metadata"]["name"]}": must be '
                    f'spec.names.plural+"."+spec.group',
                )
            )
        if old is not None and (old.get("spec") or {}).get("group") != group:
            causes.append(("spec.group", "Invalid value: field is immutable"))
        if causes:
            return
        names.setdefault("singular", str(kind).lower())
        names.setdefault("listKind", f"{kind}List")
        for version in versions:
            version.setdefault("served", True)
        accepted = dict(names)
        new["status"] = {
            "acceptedNames": accepted,
            "storedVersions": [v["name"] for v in versions if v.get("storage")],
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "reason": r,
                    "message": m,
                    "lastTransitionTime": new["metadata"]["creationTimestamp"],
                }
                for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
        }
