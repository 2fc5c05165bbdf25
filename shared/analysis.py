"""Analysis as Ferry reads it: templates, arguments, metrics, and every decision about them.

``AnalysisTemplate``, ``ClusterAnalysisTemplate`` and ``AnalysisRun`` keep Argo Rollouts' field
names and semantics, plus Flagger's ``thresholdRange`` and Ferry's ``noDataPolicy``. This module
parses them (:func:`parse_template`, :func:`parse_run`: :class:`~shared.models.InvalidSpec` with
every problem and its field path; conditions are compiled here, so a hostile or broken expression
is refused before anything is measured), resolves and substitutes arguments
(:func:`resolve_args`, :func:`render`), judges one value (:func:`assess`), decides when a metric
and a run are done and how (:func:`metric_phase`, :func:`run_phase`, :func:`evaluate_run`), when
the next measurement is due (:func:`next_measurement_at`), and shapes an AnalysisRun's
``.status`` (:func:`run_status`).

Pure: no I/O, no clock, no logging. Providers take measurements, functions schedule them; secret
values only pass through (:class:`ResolvedArgs` knows which to mask) and never land in a spec.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared import expressions, jsonpath
from shared.clock import rfc3339
from shared.models import InvalidSpec, parse_duration

TEMPLATE_KIND = "AnalysisTemplate"
CLUSTER_TEMPLATE_KIND = "ClusterAnalysisTemplate"
RUN_KIND = "AnalysisRun"
TEMPLATE_PLURAL = "analysistemplates"
CLUSTER_TEMPLATE_PLURAL = "clusteranalysistemplates"
RUN_PLURAL = "analysisruns"

PROVIDERS = ("job", "prometheus", "web")
"""The keys a metric's ``provider`` block may use (exactly one)."""
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
"""Argo's default: the fifth error in a row ends the metric as Error."""
DEFAULT_MEASUREMENT_RETENTION = 10
"""Argo's default: measurements kept per metric in the status."""
ERROR_RETRY_INTERVAL = 10.0
"""Argo's ``DefaultErrorRetryInterval``: seconds to the retry after an Error measurement."""
MASK = "*****"
"""What a secret value is shown as (Argo's redaction)."""

_ARG_TAG = re.compile(r"\{\{\s*args\.([^{}\s]+)\s*\}\}")
_ARG_NAME = re.compile(r"^[^{}\s]+$")
_PLACEHOLDER = "0"
"""Stands in for an argument when a template is validated before its arguments are known: it is
a number, a count, a duration and an expression literal at once."""
_PLACEHOLDER_URL = "http://argument.invalid"
"""Stands in for an argument at the start of a ``url`` or ``address``."""
_WEB_METHODS = ("GET", "POST", "PUT")


# -- phases ---------------------------------------------------------------------------------


class AnalysisPhase(StrEnum):
    """The phase of a metric or of a whole AnalysisRun."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"

    @property
    def completed(self) -> bool:
        return self not in (AnalysisPhase.PENDING, AnalysisPhase.RUNNING)


class MeasurementPhase(StrEnum):
    """The phase of one measurement. ``Running`` only for one still in flight (a Job)."""

    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


_SEVERITY = {
    AnalysisPhase.SUCCESSFUL: 0,
    AnalysisPhase.INCONCLUSIVE: 1,
    AnalysisPhase.ERROR: 2,
    AnalysisPhase.FAILED: 3,
}
"""Best to worst, as Argo orders completed phases (``analysisStatusOrder``)."""
_ENDS_RUN = (AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE)


# -- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A success or failure condition: its text and the compiled, safe expression."""

    text: str
    expression: expressions.Expression = field(compare=False)


@dataclass(frozen=True)
class ThresholdRange:
    """Flagger's bounds, both inclusive; a missing bound is open."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Metric:
    """One metric, with its arguments substituted and its defaults applied."""

    name: str
    provider: str
    """``prometheus``, ``web`` or ``job``."""
    config: Mapping[str, Any]
    """The provider's block, e.g. ``{"address": ..., "query": ...}``."""
    interval: float | None = None
    initial_delay: float = 0.0
    count: int | None = 1
    """Measurements (Errors excluded) that complete the metric; None: until the run ends."""
    success: Condition | None = None
    failure: Condition | None = None
    threshold: ThresholdRange | None = None
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    no_data: MeasurementPhase = MeasurementPhase.INCONCLUSIVE
    """What a measurement without data counts as (``noDataPolicy``)."""
    dry_run: bool = False
    """Set by the spec's ``dryRun`` rules: measured and reported, never decides the run."""
    retention: int = DEFAULT_MEASUREMENT_RETENTION
    """Measurements kept in the status (the spec's ``measurementRetention``)."""


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class Arg:
    """An argument: a value, a Secret's key, or a field of the object analysed (``fieldRef``).
    All three None: required, the caller must give it."""

    name: str
    value: str | None = None
    secret: SecretRef | None = None
    field_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Argo form, as stored in an AnalysisRun's ``spec.args``."""
        out: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            out["value"] = self.value
        elif self.secret is not None:
            out["valueFrom"] = {"secretKeyRef": {"name": self.secret.name, "key": self.secret.key}}
        elif self.field_path is not None:
            out["valueFrom"] = {"fieldRef": {"fieldPath": self.field_path}}
        return out


@dataclass(frozen=True)
class Retention:
    metric_name: str
    """A regular expression searched in metric names (Argo's rule)."""
    limit: int


@dataclass(frozen=True)
class Template:
    """An AnalysisTemplate's (or ClusterAnalysisTemplate's, or AnalysisRun's) spec.

    ``metric_specs`` are the metrics as written, arguments not substituted: :meth:`metrics` turns
    them into :class:`Metric` objects for given argument values.
    """

    name: str
    args: tuple[Arg, ...]
    metric_specs: tuple[Mapping[str, Any], ...]
    dry_run: tuple[str, ...] = ()
    """Regular expressions searched in metric names (Argo's ``dryRun[].metricName``)."""
    retention: tuple[Retention, ...] = ()

    def metrics(self, args: Mapping[str, str] | ResolvedArgs | None = None) -> tuple[Metric, ...]:
        """The metrics with ``args`` substituted; :class:`InvalidSpec` if a value makes one
        invalid (e.g. an argument that breaks a condition)."""
        values = args.values if isinstance(args, ResolvedArgs) else dict(args or {})
        problems: list[str] = []
        metrics = _metrics(self.metric_specs, values, problems)
        if problems:
            raise InvalidSpec(problems)
        return _apply_rules(metrics, self.dry_run, self.retention)


@dataclass(frozen=True)
class RunSpec:
    """An AnalysisRun's spec."""

    template: Template
    terminate: bool = False


# -- arguments ------------------------------------------------------------------------------


class ArgsError(InvalidSpec):
    """Arguments could not be resolved or substituted; the message never holds a secret."""


@dataclass(frozen=True, repr=False)
class ResolvedArgs:
    """Argument values, and which of them came from Secrets (to be masked everywhere)."""

    values: Mapping[str, str]
    secret_names: frozenset[str] = frozenset()

    def masked(self) -> dict[str, str]:
        """The values, secret ones replaced by :data:`MASK`: safe to log or report."""
        return {k: MASK if k in self.secret_names else v for k, v in self.values.items()}

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by :data:`MASK` (Argo redacts measurement
        messages the same way)."""
        secrets = sorted({self.values[n] for n in self.secret_names if self.values.get(n)}, key=len)
        for secret in reversed(secrets):
            text = text.replace(secret, MASK)
        return text

    def __repr__(self) -> str:
        return f"ResolvedArgs({self.masked()!r}, secret_names={sorted(self.secret_names)!r})"


def _merge_args(
    template_args: Sequence[Arg], given: Sequence[Arg] | Mapping[str, str]
) -> list[Arg]:
    """Argo's ``MergeArgs``: a given argument replaces the template's value (or valueFrom) of the
    same name; arguments the template does not declare are ignored."""
    if isinstance(given, Mapping):
        given = [Arg(str(k), value=str(v)) for k, v in given.items()]
    by_name = {a.name: a for a in given}
    merged = []
    for arg in template_args:
        override = by_name.get(arg.name)
        if override is not None and (
            override.value is not None or override.secret or override.field_path
        ):
            arg = dataclasses.replace(override, name=arg.name)
        merged.append(arg)
    return merged


def _reason(exc: Exception) -> str:
    """An exception as text; a KeyError without the quotes ``str()`` gives it."""
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _unresolved(arg: Arg) -> str:
    return f"args.{arg.name} was not resolved: the template gives no value and none was passed"


def resolve_args(
    template_args: Sequence[Arg],
    given_args: Sequence[Arg] | Mapping[str, str],
    *,
    secret: Callable[[str, str], str],
    field: Callable[[str], str],
) -> ResolvedArgs:
    """The value of every argument: given ones override the template's, Secrets are read with
    ``secret(name, key)`` and ``fieldRef`` paths with ``field(path)`` (both may raise
    ``LookupError`` or ``ValueError``). :class:`ArgsError` lists every argument that failed."""
    values: dict[str, str] = {}
    secret_names: set[str] = set()
    problems: list[str] = []
    for arg in _merge_args(template_args, given_args):
        try:
            if arg.value is not None:
                values[arg.name] = arg.value
            elif arg.secret is not None:
                values[arg.name] = secret(arg.secret.name, arg.secret.key)
                secret_names.add(arg.name)
            elif arg.field_path is not None:
                values[arg.name] = field(arg.field_path)
            else:
                problems.append(_unresolved(arg))
        except (LookupError, ValueError) as exc:
            source = (
                f"secret {arg.secret.name!r} key {arg.secret.key!r}"
                if arg.secret
                else (f"fieldRef {arg.field_path!r}")
            )
            problems.append(f"args.{arg.name}: cannot read {source}: {_reason(exc)}")
    if problems:
        raise ArgsError(problems)
    return ResolvedArgs(values, frozenset(secret_names))


def run_spec(
    template: Template,
    given_args: Sequence[Arg] | Mapping[str, str] = (),
    *,
    field: Callable[[str], str] | None = None,
    terminate: bool = False,
) -> dict[str, Any]:
    """The ``spec`` of a new AnalysisRun for ``template`` (merge several with
    :func:`merge_templates` first).

    As Argo does, the metrics are stored as written and the arguments beside them: plain values,
    ``fieldRef`` paths resolved now with ``field`` (the Rollout is what they point at), and
    ``secretKeyRef`` kept as a reference, so no secret value is ever stored in the run; the
    run's arguments are resolved again at each measurement (:func:`resolve_args`).
    """
    args: list[dict[str, Any]] = []
    problems: list[str] = []
    for arg in _merge_args(template.args, given_args):
        if arg.value is None and arg.secret is None and arg.field_path is not None and field:
            try:
                arg = Arg(arg.name, value=field(arg.field_path))
            except (LookupError, ValueError) as exc:
                problems.append(
                    f"args.{arg.name}: cannot read fieldRef {arg.field_path!r}: {_reason(exc)}"
                )
                continue
        if arg.value is None and arg.secret is None and arg.field_path is None:
            problems.append(_unresolved(arg))
        args.append(arg.to_dict())
    if problems:
        raise ArgsError(problems)
    spec: dict[str, Any] = {"metrics": [_copy(m) for m in template.metric_specs]}
    if args:
        spec["args"] = args
    if template.dry_run:
        spec["dryRun"] = [{"metricName": name} for name in template.dry_run]
    if template.retention:
        spec["measurementRetention"] = [
            {"metricName": r.metric_name, "limit": r.limit} for r in template.retention
        ]
    if terminate:
        spec["terminate"] = True
    return spec


def render(value: Any, args: Mapping[str, str] | ResolvedArgs) -> Any:
    """``value`` (a provider block, a metric) with ``{{args.NAME}}`` / ``{{ args.NAME }}``
    replaced in every string, recursively. Other ``{{...}}`` text is left alone; an argument
    that does not exist raises :class:`ArgsError`."""
    values = args.values if isinstance(args, ResolvedArgs) else args
    missing: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            missing.add(name)
            return match.group(0)
        return values[name]

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return _ARG_TAG.sub(substitute, node)
        if isinstance(node, Mapping):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    rendered = walk(value)
    if missing:
        raise ArgsError([f"{{{{args.{name}}}}} names no argument" for name in sorted(missing)])
    return rendered


def arg_names_used(value: Any) -> set[str]:
    """The argument names ``value`` refers to with ``{{args.NAME}}``."""
    if isinstance(value, str):
        return set(_ARG_TAG.findall(value))
    if isinstance(value, Mapping):
        return {n for v in value.values() for n in arg_names_used(v)}
    if isinstance(value, list | tuple):
        return {n for v in value for n in arg_names_used(v)}
    return set()


_PATH_TOKEN = re.compile(r"\.?([A-Za-z0-9_\-]+)|\[(?:'([^']*)'|\"([^\"]*)\"|(\d+))\]")


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at a ``fieldRef`` path of ``obj`` as a string: ``metadata.name``,
    ``metadata.labels['app']``, ``spec.service.port``, ``spec.steps[0].setWeight``.
    ``LookupError`` if nothing is there, ``ValueError`` for a bad path or a non-scalar value."""
    node: Any = obj
    pos = 0
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if match is None or (pos == 0 and path.startswith(".")):
            raise ValueError(f"invalid fieldPath {path!r}")
        name, single, double, index = match.groups()
        key = name if name is not None else single if single is not None else double
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                raise LookupError(f"fieldPath {path!r}: no item {index}")
            node = node[int(index)]
        elif isinstance(node, Mapping) and key in node:
            node = node[key]
        else:
            raise LookupError(f"fieldPath {path!r}: nothing at {path[: match.end()]!r}")
        pos = match.end()
    if pos == 0:
        raise ValueError("fieldPath is empty")
    if node is None:
        raise LookupError(f"fieldPath {path!r} is null")
    if isinstance(node, Mapping | list):
        raise ValueError(f"fieldPath {path!r} must end at a single value, not an object or list")
    return format_value(node)


# -- parsing --------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_string(value: Any, where: str, problems: list[str]) -> int:
    """A non-negative integer, written as a number or a string of digits (Argo's intstr)."""
    if _is_int(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    problems.append(f"{where} must be a non-negative integer, got {value!r}")
    return 0


def _string(value: Any, where: str, problems: list[str]) -> str:
    if isinstance(value, str) and value:
        return value
    problems.append(f"{where} must be a non-empty string")
    return ""


def _unknown_keys(
    raw: Mapping[str, Any], known: Iterable[str], where: str, problems: list[str]
) -> None:
    unknown = sorted(set(raw) - set(known))
    if unknown:
        problems.append(f"{where} has unknown field(s) {', '.join(unknown)}")


def _url(value: Any, where: str, problems: list[str]) -> None:
    text = _string(value, where, problems)
    if text and not text.startswith(("http://", "https://")):
        problems.append(f"{where} must be an http:// or https:// URL, got {text!r}")


def _headers(value: Any, where: str, problems: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        problems.append(f"{where} must be a list of {{key, value}}")
        return
    for i, header in enumerate(value):
        if (
            not isinstance(header, Mapping)
            or set(header) != {"key", "value"}
            or not isinstance(header["key"], str)
            or not header["key"]
            or not isinstance(header["value"], str)
        ):
            problems.append(f"{where}[{i}] must be {{key: <name>, value: <string>}}")


def _positive_int(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> None:
    value = raw.get(key)
    if value is not None and not (_is_int(value) and value > 0):
        problems.append(f"{where}.{key} must be a positive integer, got {value!r}")


def _bool(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> None:
    if key in raw and not isinstance(raw[key], bool):
        problems.append(f"{where}.{key} must be true or false, got {raw[key]!r}")


def _prometheus(raw: Mapping[str, Any], where: str, problems: list[str]) -> None:
    _unknown_keys(raw, ("address", "query", "timeout", "insecure", "headers"), where, problems)
    _url(raw.get("address"), f"{where}.address", problems)
    _string(raw.get("query"), f"{where}.query", problems)
    _positive_int(raw, "timeout", where, problems)
    _bool(raw, "insecure", where, problems)
    _headers(raw.get("headers"), f"{where}.headers", problems)


def _web(raw: Mapping[str, Any], where: str, problems: list[str]) -> None:
    known = ("url", "method", "headers", "body", "jsonPath", "timeoutSeconds", "insecure")
    _unknown_keys(raw, known, where, problems)
    _url(raw.get("url"), f"{where}.url", problems)
    method = raw.get("method", "GET")
    if method not in _WEB_METHODS:
        problems.append(f"{where}.method must be one of {', '.join(_WEB_METHODS)}, got {method!r}")
    if "body" in raw:
        if not isinstance(raw["body"], str):
            problems.append(f"{where}.body must be a string")
        elif method == "GET":
            problems.append(f"{where}.body needs method POST or PUT")
    _headers(raw.get("headers"), f"{where}.headers", problems)
    if "jsonPath" in raw:
        path = _string(raw["jsonPath"], f"{where}.jsonPath", problems)
        if path:
            try:
                jsonpath.parse(path)
            except jsonpath.JsonPathError as exc:
                problems.append(f"{where}.jsonPath: {exc}")
    _positive_int(raw, "timeoutSeconds", where, problems)
    _bool(raw, "insecure", where, problems)


def _job(raw: Mapping[str, Any], where: str, problems: list[str]) -> None:
    _unknown_keys(raw, ("metadata", "spec"), where, problems)
    spec = raw.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("template"), Mapping):
        problems.append(f"{where}.spec must be a Job spec with a pod template")
    meta = raw.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, Mapping):
        problems.append(f"{where}.metadata must be an object")
        return
    _unknown_keys(meta, ("labels", "annotations"), f"{where}.metadata", problems)
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not (
            isinstance(value, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            problems.append(f"{where}.metadata.{key} must map strings to strings")


_PROVIDER_CHECKS: dict[str, Callable[[Mapping[str, Any], str, list[str]], None]] = {
    "job": _job,
    "prometheus": _prometheus,
    "web": _web,
}


def _provider(raw: Any, where: str, problems: list[str]) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        problems.append(f"{where} must name exactly one of {', '.join(PROVIDERS)}")
        return "", {}
    ((name, config),) = raw.items()
    if name not in _PROVIDER_CHECKS:
        problems.append(
            f"{where} names an unknown provider {name!r} (known: {', '.join(PROVIDERS)})"
        )
        return "", {}
    if not isinstance(config, Mapping):
        problems.append(f"{where}.{name} must be an object")
        return "", {}
    _PROVIDER_CHECKS[name](config, f"{where}.{name}", problems)
    return str(name), dict(config)


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
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
        number = None if isinstance(value, str) else _number(value)
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
    _unknown_keys(raw, _METRIC_FIELDS, where, problems)
    name = _string(raw.get("name"), f"{where}.name", problems)
    provider, config = _provider(raw.get("provider"), f"{where}.provider", problems)
    interval = _duration(raw, "interval", where, problems)
    if interval is not None and interval <= 0:
        problems.append(f"{where}.interval must be more than 0")
        interval = None
    initial_delay = _duration(raw, "initialDelay", where, problems) or 0.0
    limits = {
        key: _int_or_string(raw[key], f"{where}.{key}", problems) if key in raw else default
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
            rendered = render(spec, args)
        except ArgsError as exc:
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
        pattern = _string(
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
        return _ARG_TAG.sub(_PLACEHOLDER_URL if url else _PLACEHOLDER, node)
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
        _unknown_keys(entry, ("name", "value", "valueFrom"), at, problems)
        name = _string(entry.get("name"), f"{at}.name", problems)
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
            secret_name = _string(ref.get("name"), f"{at}.valueFrom.secretKeyRef.name", problems)
            key = _string(ref.get("key"), f"{at}.valueFrom.secretKeyRef.key", problems)
            args.append(Arg(name, secret=SecretRef(secret_name, key)))
        elif kind == "fieldRef":
            path = _string(ref.get("fieldPath"), f"{at}.valueFrom.fieldRef.fieldPath", problems)
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
                specs.append(_copy(raw))
            else:
                problems.append(f"spec.metrics[{i}] must be an object")
    declared = {a.name for a in args}
    for i, raw in enumerate(specs):
        for unknown in sorted(arg_names_used(raw) - declared):
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
        if not (_is_int(limit) and limit >= 1):
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


# -- measurements ---------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A measured value as Argo writes it into ``measurements[].value``: ``0.99``,
    ``[0.99,0.98]``, ``true``; objects as compact JSON; None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return format(Decimal(repr(value)), "f")  # Prometheus prints plain decimals, no 1e-07
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return json.dumps(value, separators=(",", ":"), default=str)


def _no_data(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list | tuple):
        return all(isinstance(v, float) and math.isnan(v) for v in value)
    return False


def _in_range(metric: Metric, value: Any) -> tuple[MeasurementPhase, str]:
    assert metric.threshold is not None
    low, high = metric.threshold.min, metric.threshold.max
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        number = _number(item)
        if number is None:
            return MeasurementPhase.ERROR, f"thresholdRange needs numbers, got {item!r}"
        if low is not None and not number >= low:
            return MeasurementPhase.FAILED, f"{format_value(number)} is below min {low:g}"
        if high is not None and not number <= high:
            return MeasurementPhase.FAILED, f"{format_value(number)} is above max {high:g}"
    return MeasurementPhase.SUCCESSFUL, ""


def assess(metric: Metric, value: Any) -> tuple[MeasurementPhase, str]:
    """The phase of one measured ``value`` and why (empty when Successful).

    No data (None, an empty list, NaN) takes the metric's ``noDataPolicy``. With a
    thresholdRange: every number within [min, max] is Successful, else Failed. With conditions
    (Argo's ``EvaluateResult``): failure true is Failed (even if success is true too); success
    true is Successful; only a success condition and it is false: Failed; only a failure
    condition and it is false: Successful; both and neither true: Inconclusive; no condition at
    all: Successful. A condition that cannot be evaluated makes the measurement an Error.
    """
    if _no_data(value):
        return metric.no_data, "no data"
    if metric.threshold is not None:
        return _in_range(metric, value)
    results: dict[str, bool] = {}
    for key, condition in (
        ("successCondition", metric.success),
        ("failureCondition", metric.failure),
    ):
        if condition is None:
            continue
        try:
            results[key] = condition.expression.evaluate_bool(value)
        except expressions.ExpressionError as exc:
            return MeasurementPhase.ERROR, f"{key}: {exc}"
    success, failure = results.get("successCondition"), results.get("failureCondition")
    if failure:
        assert metric.failure is not None
        return MeasurementPhase.FAILED, f"failureCondition {metric.failure.text!r} is true"
    if success:
        return MeasurementPhase.SUCCESSFUL, ""
    if success is False and failure is None:
        assert metric.success is not None
        return MeasurementPhase.FAILED, f"successCondition {metric.success.text!r} is false"
    if success is False:
        return (
            MeasurementPhase.INCONCLUSIVE,
            "neither successCondition nor failureCondition is true",
        )
    return MeasurementPhase.SUCCESSFUL, ""


@dataclass(frozen=True)
class Measurement:
    """One measurement of one metric. Times are epoch seconds; ``value`` is already the string
    :func:`format_value` makes of the measured value."""

    phase: MeasurementPhase
    started_at: float
    finished_at: float | None = None
    """None while in flight (a Job still running)."""
    value: str | None = None
    message: str = ""
    resume_at: float | None = None
    """When an in-flight measurement should be looked at again (None: on its own event)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """Provider details, e.g. the name of the Job."""

    @property
    def in_flight(self) -> bool:
        return self.finished_at is None or self.phase == MeasurementPhase.RUNNING

    def to_dict(self) -> dict[str, Any]:
        """The measurement as an AnalysisRun's status shows it (Argo's shape)."""
        out: dict[str, Any] = {"phase": self.phase.value, "startedAt": rfc3339(self.started_at)}
        if self.finished_at is not None:
            out["finishedAt"] = rfc3339(self.finished_at)
        if self.value is not None:
            out["value"] = self.value
        if self.message:
            out["message"] = self.message
        if self.resume_at is not None:
            out["resumeAt"] = rfc3339(self.resume_at)
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Measurement:
        """Back from :meth:`to_dict` (times to the second, as the status keeps them)."""

        def epoch(key: str) -> float | None:
            text = raw.get(key)
            return datetime.fromisoformat(text).timestamp() if isinstance(text, str) else None

        return cls(
            phase=MeasurementPhase(raw["phase"]),
            started_at=epoch("startedAt") or 0.0,
            finished_at=epoch("finishedAt"),
            value=raw.get("value"),
            message=str(raw.get("message") or ""),
            resume_at=epoch("resumeAt"),
            metadata=dict(raw.get("metadata") or {}),
        )


def measure(
    metric: Metric, value: Any, *, started_at: float, finished_at: float, message: str = ""
) -> Measurement:
    """The finished measurement of ``value``: assessed, its value rendered for the status, the
    assessment's reason and the provider's ``message`` together."""
    phase, reason = assess(metric, value)
    text = "; ".join(part for part in (reason, message) if part)
    shown = None if value is None else format_value(value)
    return Measurement(phase, started_at, finished_at, shown, text)


# -- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Counters of a metric's finished measurements (Argo's MetricResult counters)."""

    count: int = 0
    """Successful + Failed + Inconclusive: Errors do not count towards ``count``."""
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0


def tally(measurements: Sequence[Measurement]) -> Tally:
    """The counters of every finished measurement in ``measurements``."""
    counts = dict.fromkeys(MeasurementPhase, 0)
    streak = 0
    for m in measurements:
        if m.in_flight:
            continue
        counts[m.phase] += 1
        streak = streak + 1 if m.phase == MeasurementPhase.ERROR else 0
    decided = (
        counts[MeasurementPhase.SUCCESSFUL]
        + counts[MeasurementPhase.FAILED]
        + counts[MeasurementPhase.INCONCLUSIVE]
    )
    return Tally(
        count=decided,
        successful=counts[MeasurementPhase.SUCCESSFUL],
        failed=counts[MeasurementPhase.FAILED],
        inconclusive=counts[MeasurementPhase.INCONCLUSIVE],
        error=counts[MeasurementPhase.ERROR],
        consecutive_error=streak,
    )


def _limit(metric: Metric, counts: Tally) -> tuple[AnalysisPhase | None, str]:
    """Argo's ``assessMetricFailureInconclusiveOrError``: each limit is checked in turn and a
    later one wins (Error over Inconclusive over Failed)."""
    phase, reason = None, ""
    if counts.failed > metric.failure_limit:
        phase = AnalysisPhase.FAILED
        reason = f"failed ({counts.failed}) > failureLimit ({metric.failure_limit})"
    if counts.inconclusive > metric.inconclusive_limit:
        phase = AnalysisPhase.INCONCLUSIVE
        reason = (
            f"inconclusive ({counts.inconclusive}) > "
            f"inconclusiveLimit ({metric.inconclusive_limit})"
        )
    if counts.consecutive_error > metric.consecutive_error_limit:
        phase = AnalysisPhase.ERROR
        reason = (
            f"consecutiveErrors ({counts.consecutive_error}) > "
            f"consecutiveErrorLimit ({metric.consecutive_error_limit})"
        )
    return phase, reason


def metric_phase(
    metric: Metric, measurements: Sequence[Measurement], *, terminating: bool = False
) -> AnalysisPhase | None:
    """The metric's final phase, or None while it needs more (or an in-flight) measurement.

    ``measurements`` must be every measurement taken, not only those the status retains. Argo's
    ``assessMetricStatus``: Failed when failed > failureLimit, Inconclusive when inconclusive >
    inconclusiveLimit, Error when consecutive errors > consecutiveErrorLimit, Successful once
    ``count`` measurements (Errors excluded) are done. When the run is ``terminating``, a metric
    without measurements, or one that runs until the end, is Successful.
    """
    if not measurements:
        return AnalysisPhase.SUCCESSFUL if terminating else None
    if measurements[-1].in_flight:
        return None
    counts = tally(measurements)
    phase, _ = _limit(metric, counts)
    if phase is not None:
        return phase
    if metric.count is not None and counts.count >= metric.count:
        return AnalysisPhase.SUCCESSFUL
    return AnalysisPhase.SUCCESSFUL if terminating else None


def next_measurement_at(
    metric: Metric,
    measurements: Sequence[Measurement],
    started_at: float,
    *,
    terminating: bool = False,
) -> float | None:
    """When the metric's next measurement is due (epoch seconds), None when none is.

    The first comes ``initialDelay`` after the run started (``started_at``); the next one
    ``interval`` after the previous one finished, or after an Error the shorter of
    :data:`ERROR_RETRY_INTERVAL` and the interval (Argo retries errors on their own
    schedule). An in-flight measurement is looked at again at its ``resume_at`` (None: its own
    event wakes it). A terminating run takes no new
    measurement.
    """
    if metric_phase(metric, measurements, terminating=terminating) is not None:
        return None
    if not measurements:
        return started_at + metric.initial_delay
    last = measurements[-1]
    if last.in_flight:
        return last.resume_at
    if terminating:
        return None
    assert last.finished_at is not None
    if last.phase == MeasurementPhase.ERROR:
        retry = ERROR_RETRY_INTERVAL
        if metric.interval is not None:
            retry = min(retry, metric.interval)
        return last.finished_at + retry
    if metric.interval is not None:
        return last.finished_at + metric.interval
    return None


def terminating(
    metrics: Sequence[Metric],
    phases: Mapping[str, AnalysisPhase | None],
    *,
    terminate: bool = False,
) -> bool:
    """Argo's ``IsTerminating``: termination was asked for, or a metric that is not a dry run
    ended Failed, Error or Inconclusive, which ends the whole run early."""
    return terminate or any(phases.get(m.name) in _ENDS_RUN for m in metrics if not m.dry_run)


def run_phase(
    metrics: Sequence[Metric],
    phases: Mapping[str, AnalysisPhase | None],
    *,
    terminate: bool = False,
) -> AnalysisPhase | None:
    """The run's final phase from its metrics' phases, or None while it is still running.

    Argo's ``assessRunStatus``: the worst phase of the completed metrics that are not dry runs
    (Failed > Error > Inconclusive > Successful). A terminating run (see :func:`terminating`)
    ends at once with that worst phase (Successful if no metric completed); otherwise the run
    waits until every metric completed. Dry-run metrics never decide: a run of only dry-run
    metrics is Successful once they complete.
    """
    worst: AnalysisPhase | None = None
    complete = True
    for metric in metrics:
        phase = phases.get(metric.name)
        if phase is None or not phase.completed:
            complete = False
            continue
        if metric.dry_run:
            worst = worst or AnalysisPhase.SUCCESSFUL
        elif worst is None or _SEVERITY[phase] > _SEVERITY[worst]:
            worst = phase
    if terminating(metrics, phases, terminate=terminate):
        return worst or AnalysisPhase.SUCCESSFUL
    return worst if complete else None


@dataclass(frozen=True)
class RunResult:
    """Where a run stands: its phase (None: running), why, and each metric's phase."""

    phase: AnalysisPhase | None
    message: str
    metric_phases: Mapping[str, AnalysisPhase | None]
    terminating: bool


def evaluate_run(
    metrics: Sequence[Metric],
    measurements_by_metric: Mapping[str, Sequence[Measurement]],
    *,
    terminate: bool = False,
) -> RunResult:
    """Every metric's phase and the run's, with Argo's message for the deciding metric
    (``Metric "x" assessed Failed due to failed (1) > failureLimit (0)``)."""

    def phases_of(term: bool) -> dict[str, AnalysisPhase | None]:
        return {
            m.name: metric_phase(m, measurements_by_metric.get(m.name, ()), terminating=term)
            for m in metrics
        }

    phases = phases_of(terminate)
    term = terminating(metrics, phases, terminate=terminate)
    if term and not terminate:
        phases = phases_of(True)
    phase = run_phase(metrics, phases, terminate=term)
    message = "Run Terminated" if terminate else ""
    if phase is not None and phase != AnalysisPhase.SUCCESSFUL:
        for metric in metrics:
            if metric.dry_run or phases.get(metric.name) != phase:
                continue
            ms = measurements_by_metric.get(metric.name, ())
            _, reason = _limit(metric, tally(ms))
            message = f'Metric "{metric.name}" assessed {phase.value} due to {reason}'
            last = ms[-1].message if ms else ""
            if last:
                message += f': "Error Message: {last}"'
            break
    return RunResult(phase, message, phases, term)


def _summary(
    metrics: Sequence[Metric], phases: Mapping[str, AnalysisPhase | None]
) -> dict[str, int]:
    out = {"count": len(metrics), "successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
    for metric in metrics:
        phase = phases.get(metric.name)
        if phase is not None and phase.completed:
            out[phase.value.lower()] += 1
    return out


def run_status(
    metrics: Sequence[Metric],
    measurements_by_metric: Mapping[str, Sequence[Measurement]],
    phase: AnalysisPhase | None,
    message: str,
    *,
    started_at: float | None = None,
) -> dict[str, Any]:
    """An AnalysisRun's ``.status`` in Argo's shape: phase (None shows as Running), message,
    startedAt, one metricResults entry per metric that has started (its last ``retention``
    measurements, its counters, its phase) and the run and dry-run summaries."""
    ended = phase is not None and phase.completed
    results: list[dict[str, Any]] = []
    phases: dict[str, AnalysisPhase | None] = {}
    for metric in metrics:
        ms = list(measurements_by_metric.get(metric.name, ()))
        decided = metric_phase(metric, ms, terminating=ended)
        phases[metric.name] = decided
        if not ms:
            continue
        shown = decided or AnalysisPhase.RUNNING
        counts = tally(ms)
        _, reason = _limit(metric, counts)
        note = ms[-1].message
        if metric.dry_run and decided is not None and reason:
            note = f"Metric assessed {decided.value} due to {reason}"
        result: dict[str, Any] = {
            "name": metric.name,
            "phase": shown.value,
            "measurements": [m.to_dict() for m in ms[-metric.retention :]],
            "count": counts.count,
            "successful": counts.successful,
            "failed": counts.failed,
            "inconclusive": counts.inconclusive,
            "error": counts.error,
            "consecutiveError": counts.consecutive_error,
            "dryRun": metric.dry_run,
        }
        if note:
            result["message"] = note
        results.append(result)
    status: dict[str, Any] = {"phase": (phase or AnalysisPhase.RUNNING).value}
    if message:
        status["message"] = message
    if started_at is not None:
        status["startedAt"] = rfc3339(started_at)
    status["metricResults"] = results
    status["runSummary"] = _summary([m for m in metrics if not m.dry_run], phases)
    status["dryRunSummary"] = _summary([m for m in metrics if m.dry_run], phases)
    return status
