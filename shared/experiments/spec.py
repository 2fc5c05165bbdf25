"""An Experiment's spec, parsed and validated (Argo Rollouts' field names), its phases, labels and
the names of what it runs. Pure: no I/O.

What the schema cannot say is checked here, each problem with its field path, all at once
(:class:`~shared.models.InvalidSpec`): a template's selector must match its labels, names must
fit in the labels and Services they become, an analysis's arguments take a template's hash as
``{{templates.NAME.podTemplateHash}}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared import models
from shared.analysis.model import AnalysisPhase
from shared.models import ExperimentAnalysis, InvalidSpec

KIND = models.EXPERIMENT_KIND
PLURAL = models.EXPERIMENT_PLURAL
LABEL = "ferry.dev/experiment"
"""On everything an experiment runs (its Deployments, Pods, Services, AnalysisRuns)."""
TEMPLATE_LABEL = "ferry.dev/experiment-template"
"""On a template's Deployment and Pods: the template's name."""
HASH_LABEL = "ferry.dev/pod-template-hash"
"""On a template's Pods: its pod template hash (``{{templates.NAME.podTemplateHash}}``), so
metrics of an experiment's Pods are told from the rollout's."""
STEP_LABEL = "ferry.dev/rollout-step"
"""On the Experiment of a Rollout's step: the step's index (with ``ferry.dev/rollout``)."""
DEFAULT_PROGRESS_DEADLINE = 600
"""Argo's default ``progressDeadlineSeconds``."""
DEFAULT_SCALE_DOWN_DELAY = 30
"""Argo's default ``scaleDownDelaySeconds``: how long an ended experiment's Pods stay."""
MAX_NAME = 63
"""An Experiment's name is a label value."""
TEMPLATE_TAG = re.compile(r"\{\{\s*templates\.([^.{}\s]+)\.podTemplateHash\s*\}\}")


Phase = AnalysisPhase
"""Argo's phases of an Experiment are those of an AnalysisRun: Pending, Running, Successful,
Failed, Error, Inconclusive (``completed`` past the first two)."""


@dataclass(frozen=True)
class Template:
    """One version the experiment runs: ``replicas`` Pods of ``template``."""

    name: str
    replicas: int
    selector: dict[str, str]
    template: dict[str, Any]
    min_ready: int = 0
    service: str = ""
    """The name of the template's Service ("" for none)."""
    port: int = 0
    """The Service's port (0: one per container port of the template, as Argo makes it)."""
    target_port: int | str = 0
    """Where the Service's port sends to (a number or a container port's name; 0: ``port``)."""


@dataclass(frozen=True)
class ExperimentSpec:
    namespace: str
    name: str
    templates: tuple[Template, ...]
    analyses: tuple[ExperimentAnalysis, ...]
    duration: float | None
    """Seconds from when every template is available; None: until the analyses that are
    ``requiredForCompletion`` complete, or until terminated."""
    progress_deadline: int
    scale_down_delay: int
    terminate: bool

    def deployment(self, template: str) -> str:
        """The name of the Deployment of ``template``."""
        return deployment_name(self.name, template)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.analyses if a.required)


def deployment_name(experiment: str, template: str) -> str:
    return f"{experiment}-{template}"


_KNOWN = {
    "duration",
    "progressDeadlineSeconds",
    "scaleDownDelaySeconds",
    "templates",
    "analyses",
    "terminate",
}
_TEMPLATE_KNOWN = {"name", "replicas", "selector", "template", "minReadySeconds", "service"}


def _count(raw: dict[str, Any], key: str, default: int, where: str, problems: list[str]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{where}.{key} must be a whole number of seconds, got {value!r}")
        return default
    return value


def _template(item: Any, at: str, experiment: str, problems: list[str]) -> Template | None:
    if not isinstance(item, dict):
        problems.append(f"{at} must be {{name, replicas, selector, template, service}}")
        return None
    unknown = set(item) - _TEMPLATE_KNOWN
    if "weight" in unknown or "specRef" in unknown:
        problems.append(
            f"{at}: weight and specRef belong to a Rollout's experiment step "
            "(an Experiment of its own names its pod template)"
        )
    elif unknown:
        problems.append(
            f"{at} has unknown fields {sorted(unknown)} (known: {sorted(_TEMPLATE_KNOWN)})"
        )
    before = len(problems)
    name = models.name_of(item.get("name"), f"{at}.name", problems)
    replicas = item.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= 100:
        problems.append(f"{at}.replicas must be a whole number from 0 to 100, got {replicas!r}")
    template = item.get("template")
    labels: dict[str, str] = {}
    meta = template.get("metadata", {}) if isinstance(template, dict) else None
    found = meta.get("labels", {}) if isinstance(meta, dict) else None
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        problems.append(f"{at}.template must be a pod template (metadata and spec)")
    elif not isinstance(found, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in found.items()
    ):
        problems.append(f"{at}.template.metadata.labels must map names to strings")
    else:
        labels = dict(found)
    selector_raw = item.get("selector")
    selector: dict[str, str] = dict(labels)
    if selector_raw is not None:
        match = selector_raw.get("matchLabels") if isinstance(selector_raw, dict) else None
        if not isinstance(match, dict) or set(selector_raw) - {"matchLabels"}:
            problems.append(f"{at}.selector must be {{matchLabels: {{...}}}}")
        else:
            selector = {str(k): str(v) for k, v in match.items()}
            missing = {k: v for k, v in selector.items() if labels.get(k) != v}
            if missing:
                problems.append(
                    f"{at}.selector {missing} does not match the template's labels {labels}"
                )
    min_ready = _count(item, "minReadySeconds", 0, at, problems)
    service, port = "", 0
    target_port: int | str = 0
    raw_port: Any
    raw_target: Any
    raw_service = item.get("service")
    if raw_service is not None:
        if not isinstance(raw_service, dict) or set(raw_service) - {"name", "port", "targetPort"}:
            problems.append(f"{at}.service must be {{}} or {{name, port, targetPort}}")
        else:
            service = str(raw_service.get("name") or deployment_name(experiment, name))
            raw_port = raw_service.get("port", 0)
            raw_target = raw_service.get("targetPort", raw_port)
            if (
                isinstance(raw_port, bool)
                or not isinstance(raw_port, int)
                or not 0 <= raw_port <= 65535
            ):
                problems.append(f"{at}.service.port must be a port number, got {raw_port!r}")
            else:
                port = raw_port
            if (isinstance(raw_target, str) and raw_target) or (
                isinstance(raw_target, int)
                and not isinstance(raw_target, bool)
                and 0 <= raw_target <= 65535
            ):
                target_port = raw_target
            else:
                problems.append(
                    f"{at}.service.targetPort must be a port number or name, got {raw_target!r}"
                )
            if len(service) > 63 or not re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", service):
                problems.append(
                    f"{at}.service: {service!r} is not a valid Service name (a DNS label of at "
                    "most 63 characters); give service.name"
                )
    if len(problems) != before:
        return None
    assert isinstance(template, dict)
    return Template(name, replicas, selector, template, min_ready, service, port, target_port)


def parse(obj: dict[str, Any]) -> ExperimentSpec:
    """The Experiment's spec, validated; :class:`InvalidSpec` lists every problem found."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise InvalidSpec(["spec is required"])
    name = str(meta.get("name") or "")
    problems: list[str] = []
    if len(name) > MAX_NAME:
        problems.append(
            f"metadata.name {name!r} is longer than {MAX_NAME} characters (it labels the "
            "experiment's Pods)"
        )
    unknown = set(spec) - _KNOWN
    if unknown:
        problems.append(f"spec has unknown fields {sorted(unknown)} (known: {sorted(_KNOWN)})")
    duration = None
    if spec.get("duration") is not None:
        try:
            duration = models.parse_duration(spec["duration"])
        except ValueError as exc:
            problems.append(f"spec.duration: {exc}")
    deadline = spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)
    if isinstance(deadline, bool) or not isinstance(deadline, int) or deadline < 1:
        problems.append(
            f"spec.progressDeadlineSeconds must be a positive integer, got {deadline!r}"
        )
        deadline = DEFAULT_PROGRESS_DEADLINE
    delay = _count(spec, "scaleDownDelaySeconds", DEFAULT_SCALE_DOWN_DELAY, "spec", problems)
    terminate = spec.get("terminate", False)
    if not isinstance(terminate, bool):
        problems.append(f"spec.terminate must be true or false, got {terminate!r}")
        terminate = False
    raw_templates = spec.get("templates")
    templates: list[Template] = []
    if not isinstance(raw_templates, list) or not raw_templates:
        problems.append("spec.templates must list at least one template")
        raw_templates = []
    for i, item in enumerate(raw_templates):
        found = _template(item, f"spec.templates[{i}]", name, problems)
        if found is None:
            continue
        if any(t.name == found.name for t in templates):
            problems.append(f"spec.templates[{i}].name {found.name!r} is given twice")
        templates.append(found)
    services = [t.service for t in templates if t.service]
    if len(set(services)) != len(services):
        problems.append("spec.templates: two templates name the same Service")
    analyses = models.experiment_analyses(spec.get("analyses"), "spec.analyses", problems)
    names = {t.name for t in templates}
    for i, analysis in enumerate(analyses):
        for arg in analysis.args:
            for ref in TEMPLATE_TAG.findall(arg.value or ""):
                if ref not in names:
                    problems.append(
                        f"spec.analyses[{i}].args {arg.name!r} names template {ref!r}, which "
                        f"is not in spec.templates (known: {sorted(names)})"
                    )
    if problems:
        raise InvalidSpec(problems)
    return ExperimentSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=name,
        templates=tuple(templates),
        analyses=analyses,
        duration=duration,
        progress_deadline=deadline,
        scale_down_delay=delay,
        terminate=terminate,
    )


def with_hashes(
    args: tuple[models.AnalysisArg, ...], hashes: dict[str, str]
) -> tuple[models.AnalysisArg, ...]:
    """``args`` with each ``{{templates.NAME.podTemplateHash}}`` replaced by its hash."""

    def filled(value: str | None) -> str | None:
        if value is None:
            return None
        return TEMPLATE_TAG.sub(lambda m: hashes.get(m.group(1), m.group(0)), value)

    return tuple(
        models.AnalysisArg(a.name, filled(a.value), a.pod_template_hash, a.field_path) for a in args
    )
