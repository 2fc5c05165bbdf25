"""Applying the three Kubernetes patch types to a JSON object.

- ``merge_patch``: JSON merge patch (RFC 7386, ``application/merge-patch+json``), in ``merge``.
- ``json_patch``: JSON patch (RFC 6902, ``application/json-patch+json``), via ``jsonpatch``,
  in ``operations``.
- ``strategic_merge_patch``: Kubernetes strategic merge patch
  (``application/strategic-merge-patch+json``) for built-in kinds, in ``strategic``. Which lists
  merge, and by which key, is written down as data in ``merge_keys`` (``OBJECT_META``,
  ``POD_SPEC``, ``POD_TEMPLATE_AT`` and ``KIND_LISTS``); every list found in none of them is
  replaced by the patch's list.

Purely data-manipulative: functions take plain dicts/lists, return new ones and never mutate their
inputs. No I/O, no storage, no HTTP: which status code a ``PatchError`` becomes (400, 415, 422) is
the server's business, as is validating the patched object.
"""

from __future__ import annotations

from local.sim.patching.errors import PatchError, StrategicMergeUnsupported
from local.sim.patching.merge import merge_patch
from local.sim.patching.merge_keys import (
    BUILTIN_GROUPS,
    KIND_LISTS,
    OBJECT_META,
    POD_SPEC,
    POD_TEMPLATE_AT,
    UNION,
    merge_keys_for,
    supports_strategic_merge,
)
from local.sim.patching.operations import json_patch
from local.sim.patching.strategic import strategic_merge_patch

__all__ = [
    "BUILTIN_GROUPS",
    "KIND_LISTS",
    "OBJECT_META",
    "POD_SPEC",
    "POD_TEMPLATE_AT",
    "UNION",
    "PatchError",
    "StrategicMergeUnsupported",
    "json_patch",
    "merge_keys_for",
    "merge_patch",
    "strategic_merge_patch",
    "supports_strategic_merge",
]
