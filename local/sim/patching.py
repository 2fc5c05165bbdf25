"""Applying the three Kubernetes patch types to a JSON object.

- ``merge_patch``: JSON merge patch (RFC 7386, ``application/merge-patch+json``).
- ``json_patch``: JSON patch (RFC 6902, ``application/json-patch+json``), via ``jsonpatch``.
- ``strategic_merge_patch``: Kubernetes strategic merge patch
  (``application/strategic-merge-patch+json``) for built-in kinds. Which lists merge, and by
  which key, is written down as data in ``OBJECT_META``, ``POD_SPEC``, ``POD_TEMPLATE_AT`` and
  ``KIND_LISTS``; every list found in none of them is replaced by the patch's list.

Purely data-manipulative: functions take plain dicts/lists, return new ones and never mutate their
inputs. No I/O, no storage, no HTTP: which status code a ``PatchError`` becomes (400, 415, 422) is
the server's business, as is validating the patched object.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import jsonpatch
import jsonpointer

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


class PatchError(ValueError):
    """A patch that cannot be applied; the message says what is wrong, for the API caller."""


class StrategicMergeUnsupported(PatchError):
    """Strategic merge patch sent for a kind that only accepts JSON and merge patches (415)."""


_MISSING: Final = object()


def _copy_json(value: Any) -> Any:
    """Deep copy of a JSON value that never shares sub-objects (unlike ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


def _brief(value: Any, limit: int = 120) -> str:
    """JSON text of a value for an error message, cut short when long."""
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- JSON merge patch (RFC 7386) ---------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch: objects merge recursively, ``null`` deletes, all else replaces.

    A patch that is not an object replaces the target entirely (as the RFC says); whether such a
    result is acceptable is for the caller to decide.
    """
    if not isinstance(patch, dict):
        return _copy_json(patch)
    return _merge_objects(_copy_json(target) if isinstance(target, dict) else {}, patch)


def _merge_objects(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 on a private copy of the target; patch values are copied in."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_objects(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = _copy_json(value)
    return target


# --- JSON patch (RFC 6902) ---------------------------------------------------------------------

_OPERATIONS: Final = ("add", "remove", "replace", "move", "copy", "test")
_NEEDS_VALUE: Final = frozenset({"add", "replace", "test"})
_NEEDS_FROM: Final = frozenset({"move", "copy"})
_WRITES_NEW_PATH: Final = frozenset({"add", "move", "copy"})  # only the parent must exist


def json_patch(target: Any, ops: Any) -> Any:
    """Apply a JSON patch (a list of operations) and return the patched copy of ``target``."""
    operations = _validated_operations(ops)
    document = _copy_json(target)
    for operation in operations:
        document = _apply_operation(document, operation)
    return document


def _validated_operations(ops: Any) -> list[dict[str, Any]]:
    if not isinstance(ops, list):
        raise PatchError(
            f"json patch: the patch must be a JSON array of operations, not {_json_type(ops)}"
        )
    for index, op in enumerate(ops):
        where = f"json patch: operations[{index}]"
        if not isinstance(op, dict):
            raise PatchError(f"{where} must be an object, not {_json_type(op)}")
        name = op.get("op")
        if name not in _OPERATIONS:
            expected = ", ".join(_OPERATIONS)
            raise PatchError(f"{where}: unknown op {_brief(name)}; expected one of {expected}")
        pointer_fields = ("from", "path") if name in _NEEDS_FROM else ("path",)
        for field in pointer_fields:
            _check_pointer(where, field, op.get(field, _MISSING))
        if name in _NEEDS_VALUE and "value" not in op:
            raise PatchError(f'{where}: "{name}" operation is missing "value"')
    copied: list[dict[str, Any]] = _copy_json(ops)
    return copied


def _check_pointer(where: str, field: str, pointer: Any) -> None:
    if pointer is _MISSING:
        raise PatchError(f'{where} is missing "{field}"')
    if not isinstance(pointer, str):
        raise PatchError(f'{where}: "{field}" must be a string, not {_json_type(pointer)}')
    try:
        jsonpointer.JsonPointer(pointer)
    except jsonpointer.JsonPointerException as exc:
        raise PatchError(
            f'{where}: "{field}" {_brief(pointer)} is not a JSON pointer: {exc}'
        ) from None


def _apply_operation(document: Any, op: dict[str, Any]) -> Any:
    try:
        return jsonpatch.JsonPatch([op]).apply(document, in_place=True)
    except jsonpatch.JsonPatchTestFailed:
        raise PatchError(_test_failure(document, op)) from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(_operation_failure(document, op, exc)) from None


def _test_failure(document: Any, op: dict[str, Any]) -> str:
    path = op["path"]
    actual = jsonpointer.JsonPointer(path).resolve(document, _MISSING)
    if actual is _MISSING:
        return f"json patch: test operation failed: path {path} does not exist"
    return (
        f"json patch: test operation failed: value at {path} is {_brief(actual)}, "
        f"expected {_brief(op['value'])}"
    )


def _operation_failure(document: Any, op: dict[str, Any], exc: Exception) -> str:
    name, path = op["op"], op["path"]
    checks = [(op["from"], False)] if name in _NEEDS_FROM else []
    checks.append((path, name in _WRITES_NEW_PATH))
    for pointer, parent_only in checks:
        missing = _first_missing(document, pointer, parent_only=parent_only)
        if missing is not None:
            return f"json patch: {name} operation failed: path {missing} does not exist"
    return f"json patch: {name} operation on {path} failed: {str(exc)[:200]}"


def _first_missing(document: Any, pointer: str, *, parent_only: bool) -> str | None:
    """The shortest prefix of ``pointer`` that does not resolve in ``document``, if any."""
    parts = jsonpointer.JsonPointer(pointer).parts
    if parent_only:
        parts = parts[:-1]
    for end in range(1, len(parts) + 1):
        prefix = jsonpointer.JsonPointer.from_parts(parts[:end])
        if prefix.resolve(document, _MISSING) is _MISSING:
            return str(prefix.path)
    return None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


# --- Strategic merge patch: which lists merge, and by which key --------------------------------
#
# Paths are dotted field names from the object's root; ``[]`` steps into the items of a list.
# The value is the list's merge key, or UNION for a list of primitive values merged as a set.

UNION: Final = ""
"""Merge key marking a list of primitives merged as a set (e.g. ``metadata.finalizers``)."""

OBJECT_META: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ownerReferences": "uid",
        "finalizers": UNION,
    }
)
"""Merging lists of an ObjectMeta (``metadata``, and the metadata of pod templates)."""

_CONTAINER: Final[Mapping[str, str]] = {
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    # envFrom, command, args, resizePolicy...: replaced
}

POD_SPEC: Final[Mapping[str, str]] = MappingProxyType(
    {
        "containers": "name",
        "initContainers": "name",
        "ephemeralContainers": "name",
        "volumes": "name",
        "imagePullSecrets": "name",
        "hostAliases": "ip",
        "topologySpreadConstraints": "topologyKey",
        "schedulingGates": "name",
        "resourceClaims": "name",
        # tolerations, readinessGates...: replaced
        **{
            f"{containers}[].{field}": key
            for containers in ("containers", "initContainers", "ephemeralContainers")
            for field, key in _CONTAINER.items()
        },
    }
)
"""Merging lists of a PodSpec, relative to the pod spec."""

POD_TEMPLATE_AT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Pod": "",  # a Pod is its own template: metadata and spec at the root
        "PodTemplate": "template",
        "ReplicationController": "spec.template",
        "Deployment": "spec.template",
        "ReplicaSet": "spec.template",
        "StatefulSet": "spec.template",
        "DaemonSet": "spec.template",
        "Job": "spec.template",
        "CronJob": "spec.jobTemplate.spec.template",
    }
)
"""Where each workload kind keeps its pod template (``metadata`` + ``spec``)."""

_CONDITIONS: Final[Mapping[str, str]] = {"status.conditions": "type"}

KIND_LISTS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "Pod": {**_CONDITIONS, "status.podIPs": "ip", "status.hostIPs": "ip"},
        "Deployment": _CONDITIONS,
        "ReplicaSet": _CONDITIONS,
        "StatefulSet": _CONDITIONS,
        "DaemonSet": _CONDITIONS,
        "ReplicationController": _CONDITIONS,
        "Job": _CONDITIONS,
        "Node": {**_CONDITIONS, "status.addresses": "type", "spec.podCIDRs": UNION},
        "Namespace": _CONDITIONS,
        "PersistentVolumeClaim": _CONDITIONS,
        "Service": {**_CONDITIONS, "spec.ports": "port"},
        "HorizontalPodAutoscaler": _CONDITIONS,
        "PodDisruptionBudget": _CONDITIONS,
        # Ingress, ConfigMap, Secret, Role, Lease, Event...: no merging lists beyond metadata
    }
)
"""Each kind's own merging lists, from the object's root."""

BUILTIN_GROUPS: Final = frozenset(
    {
        "",  # core
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "coordination.k8s.io",
        "rbac.authorization.k8s.io",
        "events.k8s.io",
        "discovery.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "node.k8s.io",
        "certificates.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "flowcontrol.apiserver.k8s.io",
    }
)
"""API groups compiled into the API server; custom resources live elsewhere and get a 415."""

_UNSUPPORTED_MESSAGE: Final = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _mount(at: str, table: Mapping[str, str]) -> dict[str, str]:
    return {_join(at, path): key for path, key in table.items()}


def supports_strategic_merge(api_version: str, kind: str) -> bool:
    """Whether the API server accepts a strategic merge patch for this kind (built-ins only)."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return bool(kind) and group in BUILTIN_GROUPS


@functools.lru_cache(maxsize=64)
def merge_keys_for(kind: str) -> Mapping[str, str]:
    """Every merging list of ``kind``: path pattern from the root -> merge key (or UNION)."""
    table = _mount("metadata", OBJECT_META)
    template = POD_TEMPLATE_AT.get(kind)
    if template is not None:
        table |= _mount(_join(template, "metadata"), OBJECT_META)
        table |= _mount(_join(template, "spec"), POD_SPEC)
    table |= KIND_LISTS.get(kind, {})
    return MappingProxyType(table)


# --- Strategic merge patch: the algorithm ------------------------------------------------------

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
            f"strategic merge patch: the patch must be a JSON object, not {_json_type(patch)}"
        )
    if patch.get(_PATCH) == "delete":
        raise PatchError('strategic merge patch: "$patch: delete" cannot delete the whole object')
    original = _copy_json(target) if isinstance(target, dict) else {}
    return _StrategicMerge(merge_keys_for(kind)).merge_map(original, _copy_json(patch), "")


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
                f"strategic merge patch: unknown $patch directive {_brief(directive)} at "
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
                original[key] = self.merge_value(original.get(key), value, _join(path, key))
        for key, order in patch.items():
            if key.startswith(_SET_ORDER):
                field = key[len(_SET_ORDER) :]
                live = live_lists[key]
                self._set_element_order(
                    original, field, order, patch.get(field), live, _join(path, field)
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
                    f"must be objects, found {_brief(item)}"
                )
        live, items = list(original), []  # live: the server's items once deletions are done
        for item in patch:
            directive = item.get(_PATCH, _MISSING)
            if directive is _MISSING:
                items.append(item)
            elif directive == "delete":
                value = _merge_key_of(item, merge_key, path)
                live = [entry for entry in live if entry.get(merge_key, _MISSING) != value]
            elif directive == "replace":
                live = []  # the list becomes the patch's items
            elif directive != "merge":
                raise PatchError(
                    f"strategic merge patch: unknown $patch directive {_brief(directive)} in "
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
            return entry.get(merge_key, _MISSING)

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
                    f"but not in its $retainKeys list {_brief(retained)}"
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
                    f"or not in the order of, {directive} {_brief(order)}"
                )
        live_keys = [key_of(item) for item in live] if isinstance(live, list) else []
        original[field] = _enforce_order(current, wanted, live_keys, key_of)


def _is_directive_item(item: Any) -> bool:
    return isinstance(item, dict) and _PATCH in item


def _merge_key_of(item: dict[str, Any], merge_key: str, path: str) -> Any:
    if merge_key not in item:
        raise PatchError(
            f"strategic merge patch: {_brief(item)} in {path} does not contain its merge key "
            f"{merge_key!r}"
        )
    return item[merge_key]


def _key_or_missing(item: Any, *, merge_key: str) -> Any:
    return item.get(merge_key, _MISSING) if isinstance(item, dict) else _identity(item)


def _index_by_key(items: list[dict[str, Any]], merge_key: str, value: Any) -> int:
    for index, item in enumerate(items):
        if item.get(merge_key, _MISSING) == value:
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
