"""The model of a printed table: columns, each knowing how to compute its cell from an object.

A :class:`Column` is data: its name, OpenAPI type, description, ``format`` and ``priority``
(``1``: shown only with ``-o wide``), and the function from a :class:`Row` to the cell. A
:class:`Printer` is a kind's tuple of columns. This module also holds the cells every kind
shares (Name, Age) and small factories for cells that just read a field. It must not know any
particular kind: the per-kind column tables are in ``builtin`` and ``custom``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from local.sim.tables.durations import since
from local.sim.tables.fields import as_int, dig, meta

_T = TypeVar("_T")

NAME_DESCRIPTION = "Name of the object, unique within its namespace (metadata.name)."
AGE_DESCRIPTION = "Time since the object was created (metadata.creationTimestamp)."


class Row:
    """One object being printed, the time it is printed at, and what its cells derive from it."""

    __slots__ = ("_derived", "now", "obj")

    def __init__(self, obj: Mapping[str, Any], now: float) -> None:
        self.obj = obj
        self.now = now
        self._derived: dict[Callable[[Row], Any], Any] = {}

    def derived(self, compute: Callable[[Row], _T]) -> _T:
        """``compute(self)``, computed once per row however many cells read it."""
        if compute not in self._derived:
            self._derived[compute] = compute(self)
        return cast(_T, self._derived[compute])


Cell = Callable[[Row], Any]
"""How a column computes its cell from a row."""


@dataclass(frozen=True)
class Column:
    """One column of a kind's table."""

    name: str
    type: str
    description: str
    cell: Cell
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        """The ``columnDefinitions`` entry of this column."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


Conditions = Callable[[Row], list[dict[str, str]] | None]
"""The row conditions of an object (kubectl greys out a ``Completed`` row), if any."""


@dataclass(frozen=True)
class Printer:
    """A kind's columns, in order, and the conditions its rows carry."""

    columns: tuple[Column, ...]
    conditions: Conditions | None = None

    def row(self, obj: Mapping[str, Any], now: float) -> dict[str, Any]:
        """The Table row of ``obj``: its cells and, when there are any, its conditions."""
        printed = Row(obj, now)
        row: dict[str, Any] = {"cells": [column.cell(printed) for column in self.columns]}
        conditions = self.conditions(printed) if self.conditions is not None else None
        if conditions:
            row["conditions"] = conditions
        return row


# --------------------------------------------------------------------------- shared cells


def name(row: Row) -> str:
    """``metadata.name``."""
    return str(meta(row.obj).get("name", ""))


def age(row: Row) -> str:
    """The time since ``metadata.creationTimestamp``."""
    return since(meta(row.obj).get("creationTimestamp"), row.now)


def count(*path: str, default: int = 0) -> Cell:
    """A cell printing the integer at ``path`` (``default`` when there is none)."""
    return lambda row: as_int(dig(row.obj, *path), default)


def or_none(*path: str) -> Cell:
    """A cell printing the value at ``path``, ``<none>`` when it is empty."""
    return lambda row: dig(row.obj, *path) or "<none>"


NAME = Column("Name", "string", NAME_DESCRIPTION, name, format="name")
AGE = Column("Age", "string", AGE_DESCRIPTION, age)
DEFAULT = Printer((NAME, AGE))
"""The printer of a kind this package knows no columns for."""
