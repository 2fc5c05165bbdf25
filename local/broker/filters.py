"""Trigger filters for the local Broker: which events a Trigger's subscriber is sent.

:func:`compile_filter` turns a Trigger ``spec`` into a predicate over an event's attributes, with
Knative's semantics: the legacy ``spec.filter.attributes`` (exact match, ``""`` = the attribute
is present) and the ``spec.filters`` dialects (exact, prefix, suffix, all, any, not), where a
non-empty ``filters`` wins over ``filter``. CESQL is refused when the manifest is compiled, so a
Trigger the broker cannot evaluate never starts routing.

This module must not look at event data: a filter sees context attributes and extensions only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from local.broker.manifests import ManifestError

Predicate = Callable[[Mapping[str, str]], bool]
"""A compiled Trigger filter over an event's attributes (as strings)."""

_DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


def attribute_strings(event: CloudEvent) -> dict[str, str]:
    """Every context attribute and extension of ``event`` as the string a filter compares."""
    out: dict[str, str] = {}
    for name, value in event.get_attributes().items():
        if value is None:
            continue
        if isinstance(value, datetime):
            text = value.isoformat()
            out[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
        else:
            out[name] = str(value)
    return out


def compile_filter(spec: Mapping[str, Any], where: str = "trigger") -> Predicate:
    """The predicate of a Trigger ``spec``: ``filters`` if non-empty, else
    ``filter.attributes``; an absent filter matches every event."""
    expressions = spec.get("filters")
    if expressions:
        if not isinstance(expressions, list):
            raise ManifestError(f"{where}: spec.filters must be a list")
        compiled = [_compile(e, f"{where}: spec.filters[{i}]") for i, e in enumerate(expressions)]
        return lambda attrs: all(p(attrs) for p in compiled)
    legacy = (spec.get("filter") or {}).get("attributes") or {}
    if not isinstance(legacy, dict):
        raise ManifestError(f"{where}: spec.filter.attributes must be a map")
    for name, value in legacy.items():
        if not isinstance(value, str):
            raise ManifestError(
                f"{where}: spec.filter.attributes.{name} must be a string (quote it), got {value!r}"
            )
    wanted = dict(legacy)

    def attributes_match(attrs: Mapping[str, str]) -> bool:
        # "" (TriggerAnyFilter) only asks that the attribute exists.
        return all(k in attrs and (v == "" or attrs[k] == v) for k, v in wanted.items())

    return attributes_match


def _compile(expr: Any, where: str) -> Predicate:
    if not isinstance(expr, dict):
        raise ManifestError(f"{where}: a filter expression must be a map")
    dialects = [k for k in expr if k in _DIALECTS]
    unknown = [k for k in expr if k not in _DIALECTS]
    if unknown or len(dialects) != 1:
        raise ManifestError(
            f"{where}: a filter expression needs exactly one of {', '.join(_DIALECTS)}; "
            f"got {', '.join(map(str, expr)) or 'nothing'}"
        )
    dialect = dialects[0]
    body = expr[dialect]
    if dialect == "cesql":
        raise ManifestError(
            f"{where}: CESQL filters are not supported by the local broker; "
            "use exact/prefix/suffix/all/any/not"
        )
    if dialect in ("exact", "prefix", "suffix"):
        pairs = _attribute_pairs(body, f"{where}.{dialect}")
        test: Callable[[str, str], bool] = {
            "exact": lambda got, want: got == want,
            "prefix": lambda got, want: got.startswith(want),
            "suffix": lambda got, want: got.endswith(want),
        }[dialect]
        return lambda attrs: all(k in attrs and test(attrs[k], v) for k, v in pairs.items())
    if dialect == "not":
        inner = _compile(body, f"{where}.not")
        return lambda attrs: not inner(attrs)
    if not isinstance(body, list) or not body:
        raise ManifestError(f"{where}.{dialect}: needs a non-empty list of filter expressions")
    nested = [_compile(e, f"{where}.{dialect}[{i}]") for i, e in enumerate(body)]
    if dialect == "all":
        return lambda attrs: all(p(attrs) for p in nested)
    return lambda attrs: any(p(attrs) for p in nested)


def _attribute_pairs(body: Any, where: str) -> dict[str, str]:
    if not isinstance(body, dict) or not body:
        raise ManifestError(f"{where}: needs a map of attribute name to value")
    for name, value in body.items():
        if not name or not isinstance(value, str) or not value:
            raise ManifestError(f"{where}: attribute names and values must be non-empty strings")
    return dict(body)
