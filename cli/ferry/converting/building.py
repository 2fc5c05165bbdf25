"""What both converters share: the conversion's context, objects built one checked piece at a
time, and metadata.

:class:`Built` is how a converter keeps the promise that every object it writes is one Ferry
accepts: it starts from a valid skeleton, and each piece of the source is added with
:meth:`Built.add`, which checks the whole object again (``checks.Checker``: the CRD's schema and
Ferry's parser) and, when Ferry would refuse it, leaves the piece out and reports the source field
with Ferry's words. So a step Ferry's router cannot do, a condition Ferry's expression language
does not parse, or a value out of range is reported, and the rest is still converted.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.ferry.converting.checks import Checker
from cli.ferry.converting.documents import Document, Path
from cli.ferry.converting.fields import Node
from cli.ferry.converting.reports import Report, Scope
from shared import milestones, models, subscriptions

Obj = dict[str, Any]

FLAGGER_METRICS_SERVER = "http://prometheus:9090"
"""Flagger's ``-metrics-server`` default: the Prometheus its built-in metrics ask."""
FLAGGER_MESH_PROVIDER = "istio"
"""Flagger's ``-mesh-provider`` default."""


@dataclass(frozen=True)
class Options:
    metrics_server: str = FLAGGER_METRICS_SERVER
    """Where Flagger's built-in metrics (and a MetricTemplate without an address) query
    Prometheus, when a Canary does not say (``spec.metricsServer``)."""
    mesh_provider: str = FLAGGER_MESH_PROVIDER
    """The provider of a Canary without ``spec.provider`` (Flagger's ``-mesh-provider``)."""


@dataclass
class Output:
    """An object written out, and where it came from (for the comment above it)."""

    obj: Obj
    source: Document | None = None
    """None: passed through unchanged."""


@dataclass
class Context:
    documents: list[Document]
    report: Report
    checker: Checker
    options: Options = field(default_factory=Options)
    outputs: dict[int, list[Output]] = field(default_factory=dict)
    """The objects written for each input document (by its index), in order."""

    def find(self, kind: str, name: str, namespace: str, api: str = "") -> Document | None:
        """The input object of ``kind`` named ``name`` in ``namespace`` (an object without a
        namespace matches any)."""
        for doc in self.documents:
            if (
                doc.kind == kind
                and doc.name == name
                and (not api or doc.api_version.split("/")[0] == api)
                and (not doc.namespace or not namespace or doc.namespace == namespace)
            ):
                return doc
        return None

    def passed(self, doc: Document) -> Output | None:
        """The output of an input object that passes through (to adjust it, e.g. the replicas
        of a Deployment an Argo Rollout's workloadRef names)."""
        index = next((i for i, d in enumerate(self.documents) if d is doc), None)
        found = self.outputs.get(index) if index is not None else None
        return found[0] if found and found[0].source is None else None


class Built:
    """A Ferry object assembled from checked pieces (see the module's docstring)."""

    def __init__(self, checker: Checker, scope: Scope, skeleton: Obj) -> None:
        self.checker, self.scope = checker, scope
        self.obj = skeleton
        self.refused: list[str] = checker.problems(skeleton)
        """Problems of the skeleton itself (the object cannot be written when there are any)."""

    def add(self, source: Path, change: Callable[[Obj], None], what: str = "") -> bool:
        """Apply ``change`` if Ferry accepts the result; else report ``source`` (the field the
        piece comes from) as not carried, with Ferry's reasons."""
        candidate = copy.deepcopy(self.obj)
        change(candidate)
        problems = self.checker.problems(candidate)
        if problems:
            self.scope.drop(source, refusal(problems, what))
            return False
        self.obj = candidate
        return True

    def put(self, source: Path, keys: Sequence[str], value: Any, what: str = "") -> bool:
        """Set the field at ``keys`` (from the object's root) to ``value``, if Ferry accepts it."""
        return self.add(source, lambda o: set_at(o, keys, value), what)

    def append(self, source: Path, keys: Sequence[str], value: Any, what: str = "") -> bool:
        """Append ``value`` to the list at ``keys`` (made when absent), if Ferry accepts it."""

        def change(obj: Obj) -> None:
            node = obj
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node.setdefault(keys[-1], []).append(value)

        return self.add(source, change, what)


def refusal(problems: list[str], what: str = "") -> str:
    """Why Ferry refuses a piece, in its words (its paths are those of the converted object)."""
    return f"{what or 'Ferry refuses it'} (in the converted object: {'; '.join(problems)})"


def set_at(obj: Obj, path: Iterable[str], value: Any) -> None:
    """``obj[path...] = value``, creating the mappings on the way."""
    keys = list(path)
    node = obj
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


RUNTIME_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)
"""Metadata the API server writes: state, not configuration."""
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ARGO_SUBSCRIBE = "notifications.argoproj.io/subscribe."


def metadata(node: Node, *, name: str | None = None) -> Obj:
    """A Ferry object's metadata from the source's: name, namespace, labels and annotations
    (Argo's notification subscriptions in Ferry's domain); what the API server writes is left
    out with a note, what belongs to another owner is reported."""
    out: Obj = {}
    if not node.is_mapping:
        if node.raw is not None:
            node.scope.drop(node.path, f"metadata must be a mapping, got {node.raw!r}")
        return out
    for key in ("name", "namespace", "generateName"):
        value = node.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            out[key] = str(value)
        elif value is not None:
            node.scope.drop(node.at(key), f"must be a name, got {value!r}")
    if name:
        out["name"] = name
    labels = node.get("labels")
    if isinstance(labels, dict) and labels:
        out["labels"] = {str(k): str(v) for k, v in labels.items()}
    elif labels is not None and not isinstance(labels, dict):
        node.scope.drop(node.at("labels"), f"must map names to values, got {labels!r}")
    annotations = node.node("annotations")
    if annotations.raw is not None and not annotations.is_mapping:
        node.scope.drop(
            node.at("annotations"), f"must map names to values, got {annotations.raw!r}"
        )
    kept: Obj = {}
    for key, value in annotations.value.items():
        annotations.skip(key)
        key = str(key)
        if key == LAST_APPLIED or key.startswith("rollout.argoproj.io/"):
            annotations.scope.note(
                annotations.at(key), "state written by kubectl or Argo Rollouts; left out"
            )
        elif key.startswith(ARGO_SUBSCRIBE):
            trigger = key[len(ARGO_SUBSCRIBE) :].partition(".")[0]
            if trigger in milestones.TRIGGERS:
                kept[subscriptions.SUBSCRIBE + key[len(ARGO_SUBSCRIBE) :]] = str(value)
                annotations.scope.note(
                    annotations.at(key),
                    f"Ferry's subscription annotation {subscriptions.SUBSCRIBE}… (the service "
                    "is configured in the namespace's ConfigMap ferry-notifications)",
                )
            else:
                annotations.scope.drop(
                    annotations.at(key),
                    f"Ferry has no notification trigger {trigger!r} (it has: "
                    f"{', '.join(milestones.TRIGGERS)})",
                )
        else:
            kept[str(key)] = str(value)
    if kept:
        out["annotations"] = kept
    for key in RUNTIME_METADATA:
        node.note(key, "written by the API server; left out")
    node.drop("ownerReferences", "the owners of the source object do not own what it becomes")
    node.drop("finalizers", "the source's finalizers belong to its controller")
    node.finish()
    return out


def unnamed(scope: Scope, meta: Obj) -> bool:
    """Whether the object has no name (then it is not converted, and that is reported)."""
    if meta.get("name") or meta.get("generateName"):
        return False
    scope.drop(("metadata", "name"), "it has no name: nothing Ferry could apply")
    return True


def mapping(value: Any) -> Obj:
    """``value`` when it is a mapping, else an empty one (for reading what a source may hold)."""
    return value if isinstance(value, dict) else {}


def runtime_status(root: Node) -> None:
    root.note("status", "the source controller's state; Ferry writes its own status")


def opened(scope: Scope, doc: Document) -> tuple[Node, Obj] | None:
    """A source object read as every conversion starts: its ``apiVersion`` and ``kind`` taken,
    its ``status`` noted as the source controller's, its metadata converted. None (reported)
    when it has no name."""
    root = Node(scope, doc.obj)
    root.skip("apiVersion", "kind")
    runtime_status(root)
    meta = metadata(root.node("metadata"))
    if unnamed(scope, meta):
        return None
    return root, meta


_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


def dns_name(text: str, limit: int = 63) -> str:
    """``text`` as a DNS label: lowercase, other characters as ``-`` (``"start gate"`` ->
    ``start-gate``)."""
    name = _DNS_LABEL.sub("-", text.lower()).strip("-")[:limit].strip("-")
    return name or "x"


def seconds(value: Any) -> float | None:
    """A duration in seconds (None when it is not one)."""
    try:
        return models.parse_duration(value)
    except ValueError:
        return None


def duration_text(value: float) -> str:
    """Seconds as Ferry writes a duration: ``30s``, ``5m``, ``1h30m``, ``500ms``."""
    if value != int(value):
        return f"{round(value * 1000)}ms"
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    text += f"{secs}s" if secs or not text else ""
    return text


SPEC_ORDER = {
    "Rollout": (
        "targetRef",
        "service",
        "trafficRouting",
        "strategy",
        "webhooks",
        "loadTest",
        "progressDeadlineSeconds",
        "progressDeadlineAbort",
        "revisionHistoryLimit",
    ),
    "AnalysisTemplate": ("args", "metrics", "dryRun", "measurementRetention"),
    "ClusterAnalysisTemplate": ("args", "metrics", "dryRun", "measurementRetention"),
    "AnalysisRun": ("args", "metrics", "dryRun", "measurementRetention", "terminate"),
    "Experiment": (
        "duration",
        "progressDeadlineSeconds",
        "scaleDownDelaySeconds",
        "terminate",
        "templates",
        "analyses",
    ),
}


def ordered(obj: Obj) -> Obj:
    """A Ferry object with its top-level and spec fields in the order people read them
    (apiVersion, kind, metadata, spec; the spec's fields as Ferry's examples write them)."""
    order = SPEC_ORDER.get(str(obj.get("kind")))
    if obj.get("apiVersion") != models.API_VERSION or order is None:
        return obj
    out: Obj = {k: obj[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in obj}
    out.update({k: v for k, v in obj.items() if k not in out})
    spec = out.get("spec")
    if isinstance(spec, dict):
        ranked = {k: spec[k] for k in order if k in spec}
        ranked.update({k: v for k, v in spec.items() if k not in ranked})
        out["spec"] = ranked
    return out
