"""What the simulator stores: Kubernetes objects as plain JSON dicts, and how to copy them.

Every layer (store, server, patching, controllers) passes objects as ``Obj`` and copies them
with :func:`clone` before changing anything it did not create. Holds no object and does no I/O.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
"""A Kubernetes object (or any JSON object) as decoded from JSON."""
CollectionKey = tuple[str, str]
"""A resource type's ``(group, plural)``: all versions of it share one collection."""
ObjectKey = tuple[str, str]
"""An object's ``(namespace, name)`` in its collection (namespace ``""`` if cluster-scoped)."""


def clone(value: Any) -> Any:
    """A deep copy of a JSON-like value that never shares sub-objects (much faster than
    ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value
