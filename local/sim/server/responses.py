"""Encoding replies: JSON bodies, Status bodies for errors, and Tables for ``kubectl get``.

Reads the current request only to learn whether it asked for a Table and with which
``includeObject``; never touches the store beyond reading its clock for the Tables' ages.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from local.sim import errors, tables
from local.sim.objects import Obj
from local.sim.resources import ResourceType
from local.sim.store import Store

JSON = "application/json"


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as compact JSON."""
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype=JSON)


def error_response(exc: errors.ApiError) -> Response:
    """The Status body of an API error, with its HTTP code."""
    return json_response(exc.status(), exc.code)


def wants_table() -> bool:
    """Whether the request asked for a ``meta.k8s.io/v1`` Table (as ``kubectl get`` does)."""
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept


def table(
    store: Store,
    rt: ResourceType,
    items: list[Obj],
    metadata: dict[str, Any],
    *,
    include: str | None = None,  # read from the request unless given (watch streams)
) -> Obj:
    """``items`` as a Table; 400 for an unknown ``includeObject`` or an unusable column path."""
    try:
        return tables.to_table(
            rt.kind,
            items,
            printer_columns=list(rt.printer_columns) if rt.crd else None,
            now=store.clock.now(),
            include_object=include or request.args.get("includeObject", "Metadata"),
            list_metadata=metadata,
        )
    except ValueError as exc:  # an unknown includeObject or an unusable column JSONPath
        raise errors.bad_request(str(exc)) from None
