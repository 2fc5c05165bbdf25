"""Kubernetes strategic merge patch (``application/strategic-merge-patch+json``), the algorithm.

Lists named in ``merge_keys`` merge item by item, others are replaced; the ``$patch``,
``$retainKeys``, ``$deleteFromPrimitiveList`` and ``$setElementOrder`` directives are honoured
and never left in the result; merged lists are ordered as the server orders them. Works on
private copies and never mutates its inputs; which lists merge is data in ``merge_keys``, not
knowledge of this module.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from local.sim.objects import clone
from local.sim.patching.errors import PatchError, StrategicMergeUnsupported
from local.sim.patching.merge_keys import UNION, join, merge_keys_for, supports_strategic_merge
from local.sim.patching.values import MISSING, brief, json_type

_UNSUPPORTED_MESSAGE: Final = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)

_PATCH: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_DELETE_FROM: Final = "$deleteFromPrimitiveList/"
_SET_ORDER: Final = "$setElementOrder/"


def _is_directive(key: str) -> bool:
    # Other "$" keys are data (e.g. "$ref" in a CRD's schema) and merge like any field.
    return key in (_PATCH, _RETAIN_KEYS) or key.startswith((_DELETE_FROM, _SET_ORDER))


def _where(path: str) -> str:
    return path or "the object's root"


def strategic_merge_patch(target: Any, patch: Any, api_version: str, kind: str) -> Any:
    """Apply a strategic merge patch to a built-in object, as the API server does.

    Lists listed in ``merge_keys_for(kind)`` merge item by item (by merge key, or as a set of
    primitives); other lists are replaced; ``null`` deletes a map key. Directives:
    ``$patch: replace`` (a map, or a list when found in one of its items), ``$patch: delete``
    (a map becomes ``{}`` as on the server; a list item is removed by its merge key),
    ``$patch: merge`` (the default, accepted anywhere), ``$retainKeys``,
    ``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>``. No directive is left in
    the result. Items added to a merging list come first unless ``$setElementOrder`` says
    otherwise, as on the server. Raises ``StrategicMergeUnsupported`` for kinds outside
    ``BUILTIN_GROUPS`` and ``PatchError`` for a malformed patch.
    """
    if not supports_strategic_merge(api_version, kind):
        raise StrategicMergeUnsupported(_UNSUPPORTED_MESSAGE)
    if not isinstance(patch, dict):
        raise PatchError(
            f"strategic merge patch: the patch must be a JSON object, not {json_type(patch)}"
        )
    if patch.get(_PATCH) == "delete":
        raise PatchError('strategic merge patch: "$patch: delete" cannot delete the whole object')
    original = clone(target) if isinstance(target, dict) else {}
    return _StrategicMerge(merge_keys_for(kind)).merge_map(original, clone(patch), "")


class _StrategicMerge:
    """One strategic merge, on private copies of the object and the patch (mutated freely)."""

    def __init__(self, merge_keys: Mapping[str, str]) -> None:
        self.merge_keys = merge_keys

    def merge_map(
        self, original: dict[str, Any], patch: dict[str, Any], path: str
    ) -> dict[str, Any]:
        directive = patch.get(_PATCH, "merge")
        if directive == "replace":
            return self.merge_map({}, {k: v for k, v in patch.items() if k != _PATCH}, path)
        if directive == "delete":
            return {}
        if directive != "merge":
            raise PatchError(
                f"strategic merge patch: unknown $patch directive {brief(directive)} at "
                f'{_where(path)}; expected "replace", "delete" or "merge"'
            )
        if _RETAIN_KEYS in patch:
            self._retain_keys(original, patch, path)
        for key, values in patch.items():
            if key.startswith(_DELETE_FROM):
                self._delete_from_primitive_list(original, key[len(_DELETE_FROM) :], values, path)
        live_lists = {key: original.get(key) for key in patch if key.startswith(_SET_ORDER)}
        for key, value in patch.items():
            if _is_directive(key):
                continue
            if value is None:
                original.pop(key, None)
            else:
                original[key] = self.merge_value(original.get(key), value, join(path, key))
        for key, order in patch.items():
            if key.startswith(_SET_ORDER):
                field = key[len(_SET_ORDER) :]
                live = live_lists[key]
                self._set_element_order(
                    original, field, order, patch.get(field), live, join(path, field)
                )
        return original

    def merge_value(self, current: Any, value: Any, path: str) -> Any:
        """Merge one patch value into the current value (absent or of another type: replaced)."""
        if isinstance(value, dict):
            return self.merge_map(current if isinstance(current, dict) else {}, value, path)
        if isinstance(value, list):
            return self.merge_list(current if isinstance(current, list) else [], value, path)
        return value

    def merge_list(self, original: list[Any], patch: list[Any], path: str) -> list[Any]:
        merge_key = self.merge_keys.get(path)
        if merge_key is None:  # replaced, minus any directive items
            items = (item for item in patch if not _is_directive_item(item))
            return [self.merge_value(None, item, path + "[]") for item in items]
        if merge_key == UNION or not any(isinstance(i, dict) for i in [*original, *patch]):
            return _merge_primitives(original, patch)
        return self._merge_by_key(original, patch, merge_key, path)

    def _merge_by_key(
        self, original: list[Any], patch: list[Any], merge_key: str, path: str
    ) -> list[Any]:
        for item in [*original, *patch]:
            if not isinstance(item, dict):
                raise PatchError(
                    f"strategic merge patch: {path} is merged by {merge_key!r}, so its items "
                    f"must be objects, found {brief(item)}"
                )
        live, items = list(original), []  # live: the server's items once deletions are done
        for item in patch:
            directive = item.get(_PATCH, MISSING)
            if directive is MISSING:
                items.append(item)
            elif directive == "delete":
                value = _merge_key_of(item, merge_key, path)
                live = [entry for entry in live if entry.get(merge_key, MISSING) != value]
            elif directive == "replace":
                live = []  # the list becomes the patch's items
            elif directive != "merge":
                raise PatchError(
                    f"strategic merge patch: unknown $patch directive {brief(directive)} in "
                    f'{path}; expected "replace", "delete" or "merge"'
                )
        merged = list(live)
        for item in items:
            value = _merge_key_of(item, merge_key, path)
            index = _index_by_key(merged, merge_key, value)
            if index < 0:
                merged.append(self.merge_map({}, item, path + "[]"))
            else:
                merged[index] = self.merge_map(merged[index], item, path + "[]")

        def key_of(entry: Any) -> Any:
            return entry.get(merge_key, MISSING)

        patch_order = [key_of(item) for item in items]
        return _enforce_order(merged, patch_order, [key_of(e) for e in live], key_of)

    def _retain_keys(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
        retained = patch[_RETAIN_KEYS]
        if not isinstance(retained, list) or not all(isinstance(k, str) for k in retained):
            raise PatchError(
                f"strategic merge patch: $retainKeys at {_where(path)} must be a list of "
                "field names"
            )
        for key, value in patch.items():
            if value is not None and not _is_directive(key) and key not in retained:
                raise PatchError(
                    f"strategic merge patch: field {key!r} at {_where(path)} is in the patch "
                    f"but not in its $retainKeys list {brief(retained)}"
                )
        for key in [k for k in original if k not in retained]:
            del original[key]

    def _delete_from_primitive_list(
        self, original: dict[str, Any], field: str, values: Any, path: str
    ) -> None:
        if not isinstance(values, list):
            raise PatchError(
                f"strategic merge patch: {_DELETE_FROM}{field} at {_where(path)} must be a list"
            )
        current = original.get(field)
        if isinstance(current, list):
            doomed = {_identity(value) for value in values}
            original[field] = [item for item in current if _identity(item) not in doomed]

    def _set_element_order(
        self,
        original: dict[str, Any],
        field: str,
        order: Any,
        patch_list: Any,
        live: Any,
        path: str,
    ) -> None:
        directive = f"{_SET_ORDER}{field}"
        if not isinstance(order, list):
            raise PatchError(f"strategic merge patch: {directive} at {path} must be a list")
        merge_key = self.merge_keys.get(path)
        current = original.get(field)
        if merge_key is None or not isinstance(current, list):
            return  # a replaced list already has the patch's order; nothing to order
        key_of: Callable[[Any], Any] = _identity
        if any(isinstance(item, dict) for item in [*current, *order]) and merge_key != UNION:
            key_of = functools.partial(_key_or_missing, merge_key=merge_key)
        wanted = [key_of(item) for item in order]
        if isinstance(patch_list, list):
            listed = [key_of(i) for i in patch_list if not _is_directive_item(i)]
            if not _is_subsequence(listed, wanted):
                raise PatchError(
                    f"strategic merge patch: the items of {field} at {path} are missing from, "
                    f"or not in the order of, {directive} {brief(order)}"
                )
        live_keys = [key_of(item) for item in live] if isinstance(live, list) else []
        original[field] = _enforce_order(current, wanted, live_keys, key_of)


def _is_directive_item(item: Any) -> bool:
    return isinstance(item, dict) and _PATCH in item


def _merge_key_of(item: dict[str, Any], merge_key: str, path: str) -> Any:
    if merge_key not in item:
        raise PatchError(
            f"strategic merge patch: {brief(item)} in {path} does not contain its merge key "
            f"{merge_key!r}"
        )
    return item[merge_key]


def _key_or_missing(item: Any, *, merge_key: str) -> Any:
    return item.get(merge_key, MISSING) if isinstance(item, dict) else _identity(item)


def _index_by_key(items: list[dict[str, Any]], merge_key: str, value: Any) -> int:
    for index, item in enumerate(items):
        if item.get(merge_key, MISSING) == value:
            return index
    return -1


def _identity(value: Any) -> str:
    """A hashable stand-in for a JSON value: its JSON text (so 1 and true stay different)."""
    return json.dumps(value, sort_keys=True)


def _merge_primitives(original: list[Any], patch: list[Any]) -> list[Any]:
    merged: list[Any] = []
    seen: set[Any] = set()
    for item in [*original, *patch]:
        if _identity(item) not in seen:
            seen.add(_identity(item))
            merged.append(item)
    patch_order = [_identity(item) for item in patch]
    return _enforce_order(merged, patch_order, [_identity(i) for i in original], _identity)


def _enforce_order(
    merged: list[Any], wanted: list[Any], live: list[Any], key_of: Callable[[Any], Any]
) -> list[Any]:
    """Order a merged list as the server does.

    Items named in ``wanted`` (the patch, or ``$setElementOrder``) follow that order; the other
    ("server-only") items keep their live order and are slotted in before the first named item
    that comes after them in the live list. Named items absent from the live list win ties, so
    items added by a patch land before server-only ones.
    """
    named = [item for item in merged if key_of(item) in wanted]
    named.sort(key=lambda item: wanted.index(key_of(item)))
    server_only = [item for item in merged if key_of(item) not in wanted]

    def rank(item: Any) -> int:
        key = key_of(item)
        return live.index(key) if key in live else -1

    server_only.sort(key=lambda item: (rank(item) < 0, rank(item)))
    ordered: list[Any] = []
    while named and server_only:
        left, right = rank(server_only[0]), rank(named[0])
        take_server = left >= 0 and right >= 0 and left < right
        ordered.append(server_only.pop(0) if take_server else named.pop(0))
    return ordered + server_only + named


def _is_subsequence(items: list[Any], sequence: list[Any]) -> bool:
    remaining = iter(sequence)
    return all(any(item == candidate for candidate in remaining) for item in items)
