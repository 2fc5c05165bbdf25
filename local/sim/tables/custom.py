"""The columns of a custom resource, from its CRD version's ``additionalPrinterColumns``.

Each printer column becomes a :class:`~local.sim.tables.columns.Column` whose cell selects the
column's ``jsonPath`` (with ``shared.jsonpath``, which refuses what it cannot evaluate safely)
and converts the value as the apiextensions table convertor does (``cellForJSONValue``),
including Go's printing of numbers. It never evaluates an expression and never looks at a
built-in kind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from local.sim.tables.columns import AGE_DESCRIPTION, NAME, Column, Printer, Row
from local.sim.tables.durations import parse_time, since
from local.sim.tables.fields import as_int
from shared import jsonpath


def go_text(value: Any) -> str:
    """A JSON value printed as kubectl's JSONPath prints it (Go ``fmt.Print`` or JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    number = Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    power = len(text) - 1 + exponent
    if -4 <= power < 6:
        return format(number, "f")
    mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"


def custom_cell(column_type: str, value: Any, now: float) -> Any:
    """``cellForJSONValue`` of the apiextensions table convertor."""
    if value is None:
        return None
    if column_type == "string":
        return go_text(value)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if column_type == "integer":
        return int(value) if is_number and math.isfinite(value) else None
    if column_type == "number":
        return float(value) if is_number else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date":
        if not isinstance(value, str):
            return None
        if value == "":
            return "<unknown>"
        return since(value, now) if parse_time(value) is not None else "<invalid>"
    return None


_AGE_PRINTER_COLUMN: Mapping[str, Any] = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": AGE_DESCRIPTION,
}


def _selected(column_type: str, path: jsonpath.JsonPath) -> Any:
    def cell(row: Row) -> Any:
        found = path.select(row.obj)
        return custom_cell(column_type, found[0] if found else None, row.now)

    return cell


def custom_printer(printer_columns: Sequence[Mapping[str, Any]]) -> Printer:
    """Name plus the CRD's ``additionalPrinterColumns`` (just Age when it lists none).

    Raises ValueError for a column JSONPath ``shared.jsonpath`` does not support.
    """
    specs = list(printer_columns) or [_AGE_PRINTER_COLUMN]
    paths = [jsonpath.parse(str(spec.get("jsonPath", ""))) for spec in specs]
    columns = [NAME]
    for spec, path in zip(specs, paths, strict=True):
        description = spec.get("description") or (
            f"Custom resource definition column (in JSONPath format): {spec.get('jsonPath')}"
        )
        columns.append(
            Column(
                str(spec.get("name", "")),
                str(spec.get("type", "string")),
                str(description),
                _selected(str(spec.get("type", "string")), path),
                format=str(spec.get("format", "")),
                priority=as_int(spec.get("priority")),
            )
        )
    return Printer(tuple(columns))
