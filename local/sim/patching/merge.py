"""JSON merge patch (RFC 7386, ``application/merge-patch+json``).

Objects merge recursively, ``null`` deletes a key, everything else (lists included) replaces.
Never mutates its inputs and knows nothing of Kubernetes kinds.
"""

from __future__ import annotations

from typing import Any

from local.sim.objects import clone


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch: objects merge recursively, ``null`` deletes, all else replaces.

    A patch that is not an object replaces the target entirely (as the RFC says); whether such a
    result is acceptable is for the caller to decide.
    """
    if not isinstance(patch, dict):
        return clone(patch)
    return _merge_objects(clone(target) if isinstance(target, dict) else {}, patch)


def _merge_objects(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 on a private copy of the target; patch values are copied in."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_objects(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = clone(value)
    return target
