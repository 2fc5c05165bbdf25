"""The ``meta.k8s.io/v1`` Table envelope: rows of one kind under its column definitions.

Chooses the printer (a CRD's columns, a built-in kind's, or Name and Age), renders each object
into a row with the object attached as ``includeObject`` asks, and copies the list metadata
kubectl pages and watches with. It computes no cell itself (see ``columns``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from local.sim.tables.builtin import PRINTERS
from local.sim.tables.columns import DEFAULT
from local.sim.tables.custom import custom_printer
from local.sim.tables.fields import meta

_LIST_META_KEYS = ("resourceVersion", "continue", "remainingItemCount", "selfLink")


def to_table(
    kind: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    printer_columns: Sequence[Mapping[str, Any]] | None,
    now: float,
    include_object: str = "Metadata",
    list_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``meta.k8s.io/v1`` Table for ``objects`` of one kind.

    ``printer_columns`` is the CRD version's ``additionalPrinterColumns`` for a custom resource
    (an empty sequence when the CRD lists none: then Name and Age), and None for a built-in
    kind, which gets its kubectl columns (or Name and Age when this package knows none).
    ``include_object`` is the ``includeObject`` parameter: ``Metadata`` (rows carry a
    ``PartialObjectMetadata``), ``Object`` (the whole object) or ``None``. ``now`` is epoch
    seconds, for ages. Raises ValueError for an unsupported column JSONPath or includeObject.
    """
    if include_object not in ("Metadata", "Object", "None"):
        raise ValueError(f"includeObject must be Metadata, Object or None, not {include_object!r}")
    if printer_columns is not None:
        printer = custom_printer(printer_columns)
    else:
        printer = PRINTERS.get(kind, DEFAULT)
    rows = []
    for obj in objects:
        row = printer.row(obj, now)
        if include_object == "Metadata":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": dict(meta(obj)),
            }
        elif include_object == "Object":
            row["object"] = obj
        rows.append(row)
    metadata = {k: v for k, v in (list_metadata or {}).items() if k in _LIST_META_KEYS}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [c.definition() for c in printer.columns],
        "rows": rows,
    }
