"""Reading templates and runs: every field checked, every problem reported at once.

:func:`parse_template` and :func:`parse_run` turn an ``AnalysisTemplate``,
``ClusterAnalysisTemplate`` or ``AnalysisRun`` into the :mod:`.model`, or raise
:class:`~shared.models.InvalidSpec` listing each problem with its field path. Conditions are
compiled here, so a hostile or broken expression is refused before anything is measured; a
template's metrics are checked with a placeholder for each argument, and :func:`metrics` checks
them again once the values are known. :func:`merge_templates` flattens several templates as
Argo does. Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.analysis import arguments, configs, expressions, fields
from shared.analysis.model import (
    DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    Arg,
    Condition,
    MeasurementPhase,
    Metric,
    Retention,
    RunSpec,
    SecretRef,
    Template,
    ThresholdRange,
)
from shared.models import InvalidSpec, parse_duration

_ARG_NAME = re.compile(r"^[^{}\s]+$")
_PLACEHOLDER = "0"
"""Stands in for an argument when a template is validated before its arguments are known: it is
a number, a count, a duration and an expression literal at once."""
_PLACEHOLDER_URL = "http://argument.invalid"
"""Stands in for an argument at the start of a ``url`` or ``address``."""


def _condition(
    raw: Mapping[str, Any], key: str, where: str, problems: list[str]
) -> Condition | None:
    text = raw.get(key)
    if text is None:
        return None
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{where}.{key} must be a non-empty expression")
        return None
    try:
        return Condition(text, expressions.parse(text))
    except expressions.ExpressionError as exc:
        problems.append(f"{where}.{key}: {exc}")
        return None


def _threshold(raw: Any, where: str, problems: list[str]) -> ThresholdRange | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw or set(raw) - {"min", "max"}:
        problems.append(f"{where} must be {{min: <number>, max: <number>}} (at least one)")
        return None
    bounds: dict[str, float | None] = {}
    for key in ("min", "max"):
        value = raw.get(key)
        number = None if isinstance(value, str) else fields.number(value)
        if value is not None and (number is None or math.isnan(number)):
            problems.append(f"{where}.{key} must be a number, got {value!r}")
        bounds[key] = number
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        problems.append(f"{where}: min {low:g} is above max {high:g}")
    return ThresholdRange(low, high)


_METRIC_FIELDS = (
    "name",
    "provider",
    "interval",
    "initialDelay",
    "count",
    "successCondition",
    "failureCondition",
    "thresholdRange",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "noDataPolicy",
)


def _duration(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> float | None:
    if raw.get(key) is None:
        return None
    try:
        return parse_duration(raw[key])
    except ValueError as exc:
        problems.append(f"{where}.{key}: {exc}")
        return None


def _metric(raw: Mapping[str, Any], where: str, problems: list[str]) -> Metric:
    """One metric, arguments already substituted."""
    fields.unknown_keys(raw, _METRIC_FIELDS, where, problems)
    name = fields.string(raw.get("name"), f"{where}.name", problems)
    provider, config = configs.check(raw.get("provider"), f"{where}.provider", problems)
    interval = _duration(raw, "interval", where, problems)
    if interval is not None and interval <= 0:
        problems.append(f"{where}.interval must be more than 0")
        interval = None
    initial_delay = _duration(raw, "initialDelay", where, problems) or 0.0
    limits = {
        key: fields.int_or_string(raw[key], f"{where}.{key}", problems) if key in raw else default
        for key, default in (
            ("count", 0),
            ("failureLimit", 0),
            ("inconclusiveLimit", 0),
            ("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT),
        )
    }
    count = limits["count"]
    if count > 0:
        for key in ("failureLimit", "inconclusiveLimit"):
            if count < limits[key]:
                problems.append(f"{where}.count ({count}) must be >= {key} ({limits[key]})")
    if count > 1 and raw.get("interval") is None:
        problems.append(f"{where}.interval is required when count > 1")
    success = _condition(raw, "successCondition", where, problems)
    failure = _condition(raw, "failureCondition", where, problems)
    threshold = _threshold(raw.get("thresholdRange"), f"{where}.thresholdRange", problems)
    if threshold and (success or failure):
        problems.append(
            f"{where}: thresholdRange cannot be combined with successCondition/failureCondition"
        )
    if provider == "job" and (success or failure or threshold):
        problems.append(
            f"{where}: a job metric is decided by the Job's outcome; "
            "successCondition, failureCondition and thresholdRange do not apply"
        )
    no_data = MeasurementPhase.INCONCLUSIVE
    policy = raw.get("noDataPolicy")
    if policy is not None:
        allowed = (MeasurementPhase.INCONCLUSIVE, MeasurementPhase.FAILED, MeasurementPhase.ERROR)
        if policy not in [p.value for p in allowed]:
            problems.append(
                f"{where}.noDataPolicy must be one of Inconclusive, Failed, Error, got {policy!r}"
            )
        else:
            no_data = MeasurementPhase(policy)
    return Metric(
        name=name,
        provider=provider,
        config=config,
        interval=interval,
        initial_delay=initial_delay,
        # Argo's EffectiveCount: 0 or absent is one measurement without an interval, and
        # unlimited (until the run is terminated) with one.
        count=count if count > 0 else (None if interval is not None else 1),
        success=success,
        failure=failure,
        threshold=threshold,
        failure_limit=limits["failureLimit"],
        inconclusive_limit=limits["inconclusiveLimit"],
        consecutive_error_limit=limits["consecutiveErrorLimit"],
        no_data=no_data,
    )


def _metrics(
    specs: Sequence[Mapping[str, Any]], args: Mapping[str, str], problems: list[str]
) -> list[Metric]:
    metrics: list[Metric] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        where = f"spec.metrics[{i}]"
        try:
            rendered = arguments.render(spec, args)
        except arguments.ArgsError as exc:
            problems.extend(f"{where}: {p}" for p in exc.problems)
            continue
        metric = _metric(rendered, where, problems)
        if metric.name and metric.name in seen:
            problems.append(f"{where}.name {metric.name!r} is used by another metric")
        seen.add(metric.name)
        metrics.append(metric)
    return metrics


def _rules(
    raw: Any, where: str, names: Sequence[str], problems: list[str]
) -> list[tuple[int, str, Any]]:
    """``dryRun`` / ``measurementRetention`` entries: (index, metricName, entry); every
    metricName is a regular expression that must match at least one metric (Argo)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list")
        return []
    rules = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        pattern = fields.string(
            entry.get("metricName") if isinstance(entry, Mapping) else None,
            f"{at}.metricName",
            problems,
        )
        if not pattern:
            continue
        if pattern in seen:
            problems.append(f"{at}.metricName {pattern!r} is listed twice")
        seen.add(pattern)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            problems.append(f"{at}.metricName is not a valid regular expression: {exc}")
            continue
        if names and not any(compiled.search(n) for n in names):
            problems.append(f"{at}.metricName {pattern!r} matches no metric")
        rules.append((i, pattern, entry))
    return rules


def _placeholders(node: Any, key: str = "") -> Any:
    """``node`` with a stand-in for every ``{{args.NAME}}``: a URL where a URL starts with one,
    :data:`_PLACEHOLDER` elsewhere."""
    if isinstance(node, str):
        url = key in ("url", "address") and node.lstrip().startswith("{{")
        return arguments.TAG.sub(_PLACEHOLDER_URL if url else _PLACEHOLDER, node)
    if isinstance(node, Mapping):
        return {k: _placeholders(v, str(k)) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_placeholders(v) for v in node]
    return node


def _apply_rules(
    metrics: Sequence[Metric], dry_run: Sequence[str], retention: Sequence[Retention]
) -> tuple[Metric, ...]:
    out = []
    for metric in metrics:
        dry = any(re.search(p, metric.name) for p in dry_run)
        keep = metric.retention
        for rule in retention:
            if re.search(rule.metric_name, metric.name):
                keep = rule.limit
        out.append(dataclasses.replace(metric, dry_run=dry, retention=keep))
    return tuple(out)


def _args(raw: Any, where: str, problems: list[str]) -> tuple[Arg, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list")
        return ()
    args: list[Arg] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{at} must be an object")
            continue
        fields.unknown_keys(entry, ("name", "value", "valueFrom"), at, problems)
        name = fields.string(entry.get("name"), f"{at}.name", problems)
        if name and not _ARG_NAME.match(name):
            problems.append(f"{at}.name {name!r} must not contain spaces or braces")
        if name in seen:
            problems.append(f"{at}.name {name!r} is declared twice")
        seen.add(name)
        value, source = entry.get("value"), entry.get("valueFrom")
        if value is not None and source is not None:
            problems.append(f"{at} has both value and valueFrom")
            continue
        if value is not None:
            if not isinstance(value, str):
                problems.append(f"{at}.value must be a string, got {value!r}")
            args.append(Arg(name, value=str(value)))
            continue
        if source is None:
            args.append(Arg(name))
            continue
        if not isinstance(source, Mapping) or len(source) != 1:
            problems.append(f"{at}.valueFrom must have exactly one of secretKeyRef, fieldRef")
            continue
        ((kind, ref),) = source.items()
        ref = ref if isinstance(ref, Mapping) else {}
        if kind == "secretKeyRef":
            secret_name = fields.string(
                ref.get("name"), f"{at}.valueFrom.secretKeyRef.name", problems
            )
            key = fields.string(ref.get("key"), f"{at}.valueFrom.secretKeyRef.key", problems)
            args.append(Arg(name, secret=SecretRef(secret_name, key)))
        elif kind == "fieldRef":
            path = fields.string(
                ref.get("fieldPath"), f"{at}.valueFrom.fieldRef.fieldPath", problems
            )
            args.append(Arg(name, field_path=path))
        else:
            problems.append(
                f"{at}.valueFrom has an unknown source {kind!r} (known: secretKeyRef, fieldRef)"
            )
    return tuple(args)


def _spec(obj: Mapping[str, Any], problems: list[str]) -> tuple[Template, Mapping[str, Any]]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidSpec(["spec is required"])
    name = str((obj.get("metadata") or {}).get("name") or "")
    args = _args(spec.get("args"), "spec.args", problems)
    raw_metrics = spec.get("metrics")
    specs: list[Mapping[str, Any]] = []
    if not isinstance(raw_metrics, list) or not raw_metrics:
        problems.append("spec.metrics must list at least one metric")
    else:
        for i, raw in enumerate(raw_metrics):
            if isinstance(raw, Mapping):
                specs.append(fields.json_copy(raw))
            else:
                problems.append(f"spec.metrics[{i}] must be an object")
    declared = {a.name for a in args}
    for i, raw in enumerate(specs):
        for unknown in sorted(arguments.arg_names_used(raw) - declared):
            problems.append(
                f"spec.metrics[{i}] uses {{{{args.{unknown}}}}} but spec.args does not declare it"
            )
    # Validate the metrics before their arguments are known: every argument as a placeholder.
    names = [m.name for m in _metrics([_placeholders(raw) for raw in specs], {}, problems)]
    dry_run = [p for _, p, _ in _rules(spec.get("dryRun"), "spec.dryRun", names, problems)]
    retention = []
    for i, pattern, entry in _rules(
        spec.get("measurementRetention"), "spec.measurementRetention", names, problems
    ):
        limit = entry.get("limit")
        if not (fields.is_int(limit) and limit >= 1):
            problems.append(f"spec.measurementRetention[{i}].limit must be a positive integer")
            continue
        retention.append(Retention(pattern, int(limit)))
    template = Template(name, args, tuple(specs), tuple(dry_run), tuple(retention))
    return template, spec


def parse_template(obj: Mapping[str, Any]) -> Template:
    """An AnalysisTemplate or ClusterAnalysisTemplate, validated; :class:`InvalidSpec` lists
    every problem (metrics are checked with a placeholder for each argument)."""
    problems: list[str] = []
    template, _ = _spec(obj, problems)
    if problems:
        raise InvalidSpec(problems)
    return template


def parse_run(obj: Mapping[str, Any]) -> RunSpec:
    """An AnalysisRun's spec, validated like a template, plus ``terminate``."""
    problems: list[str] = []
    template, spec = _spec(obj, problems)
    terminate = spec.get("terminate", False)
    if not isinstance(terminate, bool):
        problems.append(f"spec.terminate must be true or false, got {terminate!r}")
    if problems:
        raise InvalidSpec(problems)
    return RunSpec(template, bool(terminate))


def metrics(
    template: Template, args: Mapping[str, str] | arguments.ResolvedArgs | None = None
) -> tuple[Metric, ...]:
    """``template``'s metrics with ``args`` substituted; :class:`InvalidSpec` if a value makes
    one invalid (e.g. an argument that breaks a condition)."""
    values = args.values if isinstance(args, arguments.ResolvedArgs) else dict(args or {})
    problems: list[str] = []
    found = _metrics(template.metric_specs, values, problems)
    if problems:
        raise InvalidSpec(problems)
    return _apply_rules(found, template.dry_run, template.retention)


def merge_templates(templates: Sequence[Template]) -> Template:
    """Several templates as one, as Argo flattens the templates of one analysis: metrics
    concatenated (names must differ), arguments merged (one name, one value), dryRun and
    measurementRetention rules concatenated (no rule twice)."""
    problems: list[str] = []
    args: list[Arg] = []
    for arg in (a for t in templates for a in t.args):
        index = next((i for i, a in enumerate(args) if a.name == arg.name), None)
        if index is None:
            args.append(arg)
            continue
        previous = args[index]
        if previous.value is not None and arg.value is not None and previous.value != arg.value:
            problems.append(f"argument {arg.name!r} has different values in two templates")
        elif previous.value is None:
            args[index] = arg
    specs = [s for t in templates for s in t.metric_specs]
    names = [str(s.get("name")) for s in specs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two metrics are named {name!r}")
    dry_run = [p for t in templates for p in t.dry_run]
    for pattern in sorted({p for p in dry_run if dry_run.count(p) > 1}):
        problems.append(f"two dryRun rules for {pattern!r}")
    retention = [r for t in templates for r in t.retention]
    patterns = [r.metric_name for r in retention]
    for pattern in sorted({p for p in patterns if patterns.count(p) > 1}):
        problems.append(f"two measurementRetention rules for {pattern!r}")
    if problems:
        raise InvalidSpec(problems)
    name = "+".join(t.name for t in templates)
    return Template(name, tuple(args), tuple(specs), tuple(dry_run), tuple(retention))
