"""Reading a source object so that no field goes unmentioned.

A :class:`Node` wraps one mapping of the source. Every key a converter reads (``get``, ``node``,
``items``) is marked; ``drop`` and ``note`` mark a key and report it; ``finish`` reports every key
nobody looked at as not carried over. A converter calls ``finish`` on each mapping it walks, so a
field it does not know (a new Argo or Flagger field, a typo) is reported, never lost silently.
"""

from __future__ import annotations

from typing import Any

from cli.ferry.converting.documents import Path
from cli.ferry.converting.reports import Scope

UNKNOWN = "ferry convert does not know this field, so it is not in the output"


class Node:
    def __init__(self, scope: Scope, value: Any, path: Path = ()) -> None:
        self.scope, self.path = scope, path
        self.raw = value
        self.value: dict[str, Any] = value if isinstance(value, dict) else {}
        self.seen: set[str] = set()

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.raw, dict)

    def __contains__(self, key: str) -> bool:
        return key in self.value

    def at(self, *keys: str | int) -> Path:
        return (*self.path, *keys)

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.value.get(key, default)

    def node(self, key: str) -> Node:
        self.seen.add(key)
        return Node(self.scope, self.value.get(key), self.at(key))

    def items(self, key: str) -> list[Node]:
        """The items of the list at ``key`` (none when it is absent or not a list)."""
        self.seen.add(key)
        found = self.value.get(key)
        if not isinstance(found, list):
            if found is not None:
                self.scope.drop(self.at(key), f"must be a list, got {found!r}")
            return []
        return [Node(self.scope, item, self.at(key, i)) for i, item in enumerate(found)]

    def strings(self, key: str) -> list[str]:
        """The list of names or numbers at ``key`` as strings (a value of another shape is
        reported and taken as none)."""
        found = self.get(key)
        if found is None:
            return []
        if not isinstance(found, list) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in found
        ):
            self.scope.drop(self.at(key), f"must be a list of names, got {found!r}")
            return []
        return [str(v) for v in found]

    def mapping(self, key: str) -> dict[str, Any]:
        """The mapping at ``key`` (a value of another shape is reported and taken as none)."""
        found = self.get(key)
        if found is None:
            return {}
        if not isinstance(found, dict):
            self.scope.drop(self.at(key), f"must be a mapping, got {found!r}")
            return {}
        return found

    def drop(self, key: str, reason: str) -> None:
        """Report ``key`` (when present) as not carried over."""
        if key in self.value:
            self.seen.add(key)
            self.scope.drop(self.at(key), reason)

    def note(self, key: str, reason: str) -> None:
        if key in self.value:
            self.seen.add(key)
            self.scope.note(self.at(key), reason)

    def skip(self, *keys: str) -> None:
        """Mark ``keys`` as dealt with, without a word (e.g. ``apiVersion`` and ``kind``)."""
        self.seen.update(keys)

    def finish(self, reason: str = UNKNOWN) -> None:
        """Report every key not looked at as not carried over."""
        for key in self.value:
            if key not in self.seen:
                self.seen.add(key)
                self.scope.drop(self.at(key), reason)
