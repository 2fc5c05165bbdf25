"""Writes as admission sees them, and the hooks the store runs before it commits one.

:class:`Mutation` (defaulting and per-kind validation, ``local.sim.admission``) edits the object
about to be stored; a :class:`Validator` (validating admission policies) sees each
:class:`Write` whole, deletes included, and may only refuse it by raising an ``ApiError``. The
store calls both under its lock, in the thread of the request that writes. Describes hooks; runs
none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from local.sim.objects import Obj
from local.sim.resources import ResourceType

CREATE, UPDATE, DELETE = "CREATE", "UPDATE", "DELETE"


class Mutation(Protocol):
    """Defaulting and validation run before a write is committed (may raise ApiError)."""

    def __call__(self, rt: ResourceType, new: Obj, old: Obj | None) -> None: ...


@dataclass(frozen=True)
class Write:
    """A write about to be committed: ``obj`` is None for a delete, ``old`` for a create."""

    operation: str
    rt: ResourceType
    namespace: str
    name: str
    subresource: str
    obj: Obj | None
    old: Obj | None
    dry_run: bool

    @classmethod
    def of(
        cls,
        operation: str,
        rt: ResourceType,
        obj: Obj | None,
        old: Obj | None,
        subresource: str | None,
        dry_run: bool,
    ) -> Write:
        """The write of ``obj`` over ``old``, named by their metadata."""
        meta = (obj or old or {})["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        return cls(operation, rt, namespace, name, subresource or "", obj, old, dry_run)


class Validator(Protocol):
    """Sees every write before it is committed; refuses one by raising ApiError."""

    def __call__(self, write: Write) -> None: ...
