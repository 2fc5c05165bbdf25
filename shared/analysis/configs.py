"""Provider configs: what a metric's ``provider`` block may say, checked when a spec is read.

One check per provider (``job``, ``prometheus``, ``web``), each naming the field at fault, so a
template that would fail at its first measurement is refused before anything runs. Static
checks of plain data only: this module never imports or calls a provider (those live in
:mod:`.providers` and do the I/O), and it knows nothing of metrics beyond their block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared import jsonpath
from shared.analysis import fields

PROVIDERS = ("job", "prometheus", "web")
"""The keys a metric's ``provider`` block may use (exactly one)."""
_WEB_METHODS = ("GET", "POST", "PUT")


def _url(value: Any, where: str, problems: list[str]) -> None:
    text = fields.string(value, where, problems)
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
    if value is not None and not (fields.is_int(value) and value > 0):
        problems.append(f"{where}.{key} must be a positive integer, got {value!r}")


def _bool(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> None:
    if key in raw and not isinstance(raw[key], bool):
        problems.append(f"{where}.{key} must be true or false, got {raw[key]!r}")


def _prometheus(raw: Mapping[str, Any], where: str, problems: list[str]) -> None:
    fields.unknown_keys(
        raw, ("address", "query", "timeout", "insecure", "headers"), where, problems
    )
    _url(raw.get("address"), f"{where}.address", problems)
    fields.string(raw.get("query"), f"{where}.query", problems)
    _positive_int(raw, "timeout", where, problems)
    _bool(raw, "insecure", where, problems)
    _headers(raw.get("headers"), f"{where}.headers", problems)


def _web(raw: Mapping[str, Any], where: str, problems: list[str]) -> None:
    known = ("url", "method", "headers", "body", "jsonPath", "timeoutSeconds", "insecure")
    fields.unknown_keys(raw, known, where, problems)
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
        path = fields.string(raw["jsonPath"], f"{where}.jsonPath", problems)
        if path:
            try:
                jsonpath.parse(path)
            except jsonpath.JsonPathError as exc:
                problems.append(f"{where}.jsonPath: {exc}")
    _positive_int(raw, "timeoutSeconds", where, problems)
    _bool(raw, "insecure", where, problems)


def _job(raw: Mapping[str, Any], where: str, problems: list[str]) -> None:
    fields.unknown_keys(raw, ("metadata", "spec"), where, problems)
    spec = raw.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("template"), Mapping):
        problems.append(f"{where}.spec must be a Job spec with a pod template")
    meta = raw.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, Mapping):
        problems.append(f"{where}.metadata must be an object")
        return
    fields.unknown_keys(meta, ("labels", "annotations"), f"{where}.metadata", problems)
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


def check(raw: Any, where: str, problems: list[str]) -> tuple[str, Mapping[str, Any]]:
    """The provider a metric's ``provider`` block names and its config, checked; ``("", {})``
    with a problem when the block does not name exactly one known provider."""
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
