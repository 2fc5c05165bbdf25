"""Arguments: resolving their values, substituting ``{{args.NAME}}``, and reading ``fieldRef``
paths; the ``spec`` of a new AnalysisRun, with its arguments beside its metrics.

Secrets are read through a callback and only pass through: :class:`ResolvedArgs` knows which
values to mask (its :attr:`~ResolvedArgs.redactor`), and no secret value is ever written into a
spec. Pure: Secrets and fields are
read by the caller's callbacks (:mod:`.runs`), never from here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from shared.analysis import fields, redaction
from shared.analysis.measurements import format_value
from shared.analysis.model import Arg, Template
from shared.models import InvalidSpec

MASK = redaction.MASK
"""What a secret value is shown as (Argo's redaction)."""
TAG = re.compile(r"\{\{\s*args\.([^{}\s]+)\s*\}\}")
"""``{{args.NAME}}`` (spaces allowed inside the braces); group 1 is the name."""


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

    @cached_property
    def redactor(self) -> redaction.Redactor:
        """Masks the secret values in any text, in every form a source may echo them."""
        return redaction.Redactor(self.values[n] for n in self.secret_names if n in self.values)

    def redact(self, text: str) -> str:
        """``text`` with every secret value, in every form, replaced by :data:`MASK`."""
        return self.redactor.redact(text)

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
    spec: dict[str, Any] = {"metrics": [fields.json_copy(m) for m in template.metric_specs]}
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
            return TAG.sub(substitute, node)
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
        return set(TAG.findall(value))
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
