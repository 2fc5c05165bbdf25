"""Small helpers on JSON values shared by the three patch types: a sentinel and error wording.

No patch logic lives here, and nothing here mutates a value.
"""

from __future__ import annotations

import json
from typing import Any, Final

MISSING: Final = object()
"""Stands for an absent key or pointer target (``None`` is JSON ``null``)."""


def brief(value: Any, limit: int = 120) -> str:
    """JSON text of a value for an error message, cut short when long."""
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: Any) -> str:
    """What kind of JSON value ``value`` is, for an error message (``an array``, ``null``)."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
