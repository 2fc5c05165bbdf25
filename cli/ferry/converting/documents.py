"""Reading the input: multi-document YAML (or JSON), each object with the line of every field.

A document is kept with the line each of its fields starts on, so the report can say where a
field that was not carried is written (``rollout.yaml:27``). A file that is not YAML is an
:class:`InputError` at the line and column the parser stopped on; so is a document that is not a
Kubernetes object (a mapping with ``apiVersion`` and ``kind``). An empty document is skipped, and
the items of a ``kind: List`` are read as documents of their own. Pure: text in, documents out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]
"""Where a field is in its object: keys and list indexes (``("spec", "steps", 2)``)."""
MERGE_TAG = "tag:yaml.org,2002:merge"


class InputError(Exception):
    """The input cannot be read: ``file:line`` says where."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass
class Document:
    """One object of the input, as written."""

    file: str
    line: int
    """The line its first field is on (1-based)."""
    obj: dict[str, Any]
    lines: dict[Path, int] = field(default_factory=dict)
    """The line of each field, by its path."""

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of the nearest field above it that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return self.line

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("name") or "") if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("namespace") or "") if isinstance(meta, dict) else ""


def read(file: str, text: str) -> list[Document]:
    """The objects of ``text`` (the content of ``file``, ``<stdin>`` for standard input)."""
    loader = yaml.SafeLoader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            obj = loader.construct_document(node)
            lines: dict[Path, int] = {}
            _lines(loader, node, (), lines)
            documents.extend(_objects(file, node.start_mark.line + 1, obj, lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        where = f" (column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else str(problem)
        raise InputError(file, line, f"not valid YAML{where}: {detail}") from None
    finally:
        loader.dispose()
    return documents


def _objects(file: str, line: int, obj: Any, lines: dict[Path, int]) -> list[Document]:
    if obj is None:
        return []
    if not isinstance(obj, dict):
        raise InputError(
            file,
            line,
            "a document must be a Kubernetes object (a mapping with apiVersion and kind)",
        )
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise InputError(file, line, f"this object has no {key}: it is not a Kubernetes object")
    if obj["kind"] == "List" and isinstance(obj.get("items"), list):
        found: list[Document] = []
        for i, item in enumerate(obj["items"]):
            prefix: Path = ("items", i)
            inner = {p[2:]: n for p, n in lines.items() if p[:2] == prefix}
            found.extend(_objects(file, lines.get(prefix, line), item, inner))
        return found
    return [Document(file, line, obj, lines)]


def _lines(loader: yaml.SafeLoader, node: Node, path: Path, out: dict[Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, str | int) and not isinstance(key, bool):
                out[(*path, key)] = key_node.start_mark.line + 1
                _lines_below(loader, value_node, (*path, key), out)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _lines(loader, item, (*path, i), out)


def _lines_below(loader: yaml.SafeLoader, node: Node, path: Path, out: dict[Path, int]) -> None:
    """The lines under a mapping's value (the key's own line is already recorded)."""
    line = out[path]
    _lines(loader, node, path, out)
    out[path] = line
