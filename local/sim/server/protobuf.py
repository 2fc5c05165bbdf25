"""Decoding the few protobuf request bodies the simulator accepts: the ones ``kubectl auth``
and ``kubectl create token|serviceaccount`` send.

kubectl's typed clients send built-in kinds as Kubernetes protobuf (``k8s\\0`` then a
``runtime.Unknown`` wrapping the object's message). For SelfSubjectReview,
SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview, TokenReview, TokenRequest
and ServiceAccount this module decodes that body into the JSON object the rest of the server
handles, field numbers as in Kubernetes' ``generated.proto``; any other kind stays unsupported
(the caller answers 415). Pure functions of bytes; replies are always JSON.
"""

from __future__ import annotations

from typing import Any, Union

from local.sim.objects import Obj

MAGIC = b"k8s\x00"

Field = Union[str, "Schema"]
Schema = dict[int, tuple[str, Field]]
"""Field number -> (JSON name, "string" | "int" | "bool" | "strings" | "map" | a message)."""


def _strings(*names: str) -> Schema:
    """A message of string fields numbered from 1."""
    return {number: (name, "string") for number, name in enumerate(names, 1)}


_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
}
_RESOURCE = _strings("namespace", "verb", "group", "version", "resource", "subresource", "name")
_NONRESOURCE = _strings("path", "verb")
_ACCESS: Schema = {1: ("resourceAttributes", _RESOURCE), 2: ("nonResourceAttributes", _NONRESOURCE)}
_SUBJECT: Schema = {
    **_ACCESS,
    3: ("user", "string"),
    4: ("groups", "strings"),
    6: ("uid", "string"),
}
_BOUND = _strings("kind", "apiVersion", "name", "uid")
_KINDS: dict[tuple[str, str], Schema] = {
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {1: ("metadata", _META)},
    ("authentication.k8s.io/v1", "TokenReview"): {
        1: ("metadata", _META),
        2: ("spec", {1: ("token", "string"), 2: ("audiences", "strings")}),
    },
    ("authentication.k8s.io/v1", "TokenRequest"): {
        1: ("metadata", _META),
        2: (
            "spec",
            {
                1: ("audiences", "strings"),
                3: ("boundObjectRef", _BOUND),
                4: ("expirationSeconds", "int"),
            },
        ),
    },
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", _META),
        2: ("spec", _ACCESS),
    },
    ("authorization.k8s.io/v1", "SubjectAccessReview"): {
        1: ("metadata", _META),
        2: ("spec", _SUBJECT),
    },
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {
        1: ("metadata", _META),
        2: ("spec", {1: ("namespace", "string")}),
    },
    ("v1", "ServiceAccount"): {1: ("metadata", _META)},
}


class Unsupported(ValueError):
    """A protobuf body the simulator cannot read."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise Unsupported("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """``(field number, value)`` pairs: an int for varints, bytes for length-delimited ones
    (fixed-width fields are skipped)."""
    out: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            out.append((number, value))
        elif wire == 2:
            size, at = _varint(data, at)
            out.append((number, data[at : at + size]))
            at += size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise Unsupported(f"wire type {wire}")
    return out


def _message(data: bytes, schema: Schema) -> Obj:
    out: Obj = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            out[name] = _message(_bytes(value), kind)
        elif kind == "string":
            out[name] = _bytes(value).decode()
        elif kind == "strings":
            out.setdefault(name, []).append(_bytes(value).decode())
        elif kind == "map":
            entry = dict(_fields(_bytes(value)))
            out.setdefault(name, {})[_text(entry.get(1))] = _text(entry.get(2))
        elif kind in ("int", "bool") and isinstance(value, int):
            out[name] = bool(value) if kind == "bool" else value
    return out


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise Unsupported("a length-delimited field was expected")
    return value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else ""


def decode(body: bytes) -> Obj:
    """The JSON object a Kubernetes protobuf body carries (:class:`Unsupported` otherwise)."""
    if not body.startswith(MAGIC):
        raise Unsupported("not a Kubernetes protobuf message")
    unknown = dict(_fields(body[len(MAGIC) :]))
    type_meta = dict(_fields(_bytes(unknown.get(1, b""))))
    api_version, kind = _text(type_meta.get(1)), _text(type_meta.get(2))
    schema = _KINDS.get((api_version, kind))
    if schema is None:
        raise Unsupported(f"{api_version} {kind}")
    obj = _message(_bytes(unknown.get(2, b"")), schema)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
