"""What Ferry stamps on the Kubernetes objects it makes: owner references and its label.

Pure helpers over object dicts as the API returns them; no I/O (``shared.kube`` writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MANAGED_BY = "app.kubernetes.io/managed-by"
"""The label on every object Ferry creates."""
FERRY = "ferry"
MANAGED_LABELS = {MANAGED_BY: FERRY}


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to ``owner``: deleting it deletes what it owns."""
    meta = owner.get("metadata") or {}
    if not (owner.get("apiVersion") and owner.get("kind") and meta.get("name") and meta.get("uid")):
        raise ValueError("the owner needs apiVersion, kind, metadata.name and metadata.uid")
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
