"""Decoding requests: the body (JSON or YAML; protobuf only for the kinds ``protobuf`` reads)
and the query parameters shared by several verbs (selectors, ``dryRun``, ``fieldValidation``,
delete options).

Every function reads the current Flask request and raises the API error the real server gives
for input it cannot accept; none of them reads or writes the store.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from flask import request

from local.sim import errors
from local.sim.objects import Obj, clone
from local.sim.resources import ResourceType
from local.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from local.sim.server import protobuf
from local.sim.server.responses import JSON
from shared import schemas


def read_body() -> Obj:
    """The request body as a JSON object (400 if it is not one, 415 for protobuf but the few
    kinds :mod:`~local.sim.server.protobuf` reads)."""
    ctype = (request.mimetype or JSON).lower()
    raw = request.get_data()
    if "protobuf" in ctype:
        try:
            return protobuf.decode(raw)
        except protobuf.Unsupported:
            pass
        raise errors.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types "
            f'include: application/json, application/yaml (got "{ctype}"); the Ferry '
            "simulator does not speak protobuf"
        )
    try:
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            body = yaml.safe_load(raw)
        else:
            body = json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the request body could not be decoded: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    return body


def checked_kind(rt: ResourceType, body: Obj) -> Obj:
    """The body's apiVersion and kind, when given, must be the URL's."""
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if (api_version and api_version != rt.api_version) or (kind and kind != rt.kind):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version})"
            if api_version != rt.api_version
            else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    return body


def strict_fields(rt: ResourceType, body: Obj) -> Obj:
    """``fieldValidation=Strict`` (kubectl's default) rejects fields a CRD's schema does not
    declare; otherwise they are pruned silently by admission, as the real server does."""
    if request.args.get("fieldValidation") == "Strict" and rt.schema is not None:
        unknown = schemas.prune(clone(body), rt.schema)
        if unknown:
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {listed}"
            )
    return body


def dry_run(options: dict[str, Any] | None = None) -> bool:
    """``?dryRun=All`` (or ``dryRun: [All]`` in DeleteOptions): validate, do not store."""
    values = request.args.getlist("dryRun") + list((options or {}).get("dryRun") or [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'dryRun: Unsupported value: "{value}": supported values: "All"'
            )
    return bool(values)


def delete_options() -> dict[str, Any]:
    """DeleteOptions from the body and the query (``propagationPolicy``, ``orphanDependents``)."""
    options: dict[str, Any] = {}
    if request.get_data():
        options = read_body()
    if "propagationPolicy" in request.args:
        options["propagationPolicy"] = request.args["propagationPolicy"]
    if request.args.get("orphanDependents") == "true" or options.get("orphanDependents"):
        options.setdefault("propagationPolicy", "Orphan")
    policy = options.get("propagationPolicy")
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise errors.bad_request(f"unknown propagationPolicy {policy!r}")
    return options


def selectors() -> tuple[LabelSelector | None, FieldSelector | None]:
    """The ``labelSelector`` and ``fieldSelector`` parameters, parsed (400 when malformed)."""
    try:
        labels = request.args.get("labelSelector")
        fields = request.args.get("fieldSelector")
        return (
            parse_label_selector(labels) if labels else None,
            parse_field_selector(fields) if fields else None,
        )
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from None
