"""JSONPath, the subset Kubernetes uses, for picking values out of parsed JSON.

CRD ``additionalPrinterColumns`` (the simulator's server-side printing) and the web metric
provider (a metric's ``jsonPath`` applied to an HTTP response) select values with the same small
language. :func:`parse` turns a path into a :class:`JsonPath` once, :meth:`JsonPath.select`
applies it to plain data (dicts, lists, scalars); :func:`evaluate_jsonpath` does both.

Pure data: no I/O, and a path is interpreted step by step, never evaluated as code. Anything
outside the subset raises :class:`JsonPathError` rather than being guessed at.

A generic leaf, shared by the web provider (``shared.analysis.providers.web``, its path
checked when a template is read) and the simulator's printer columns (``local.sim.tables``):
it lives here rather than in ``shared.analysis`` because the simulator stands in for a cluster
and must not depend on Ferry's analysis. It imports nothing from Ferry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class JsonPathError(ValueError):
    """The path is not in the supported subset; the message says where and why."""


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None
    single: bool  # ``[3]`` rather than ``[3:4]``


@dataclass(frozen=True)
class _Filter:
    left: tuple[_Step, ...] | None  # ``@...`` path, or None when the side is a literal
    left_literal: Any
    operator: str | None  # None: existence test ``[?(@.x)]``
    right: tuple[_Step, ...] | None
    right_literal: Any


@dataclass(frozen=True)
class _Descend:
    then: _Step


_Step = _Field | _Wildcard | _Slice | _Filter | _Descend

_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")


@dataclass(frozen=True)
class JsonPath:
    """A parsed path: ``select`` it against as many documents as needed."""

    text: str
    steps: tuple[_Step, ...] = field(repr=False, compare=False)

    def select(self, obj: Any) -> list[Any]:
        """Every value the path selects in ``obj``, in document order; missing keys select
        nothing (an empty list, never an error)."""
        return _run(self.steps, [obj])


def evaluate_jsonpath(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` selects in ``obj``: ``parse(path).select(obj)``."""
    return parse(path).select(obj)


def parse(path: str) -> JsonPath:
    """Parse ``path``, or raise :class:`JsonPathError`.

    The subset kubectl and CRD ``additionalPrinterColumns`` use: ``.a.b`` (``\\.`` escapes a dot
    in a key), ``['x.y/z']``, ``[0]``, ``[-1]``, ``[1:3]``, ``[*]``, ``.*``, ``..name`` and
    filters ``[?(@.type=="Ready")]`` with ``== != < <= > >=`` or a bare ``@.x`` existence test.
    An optional ``{...}`` around the path and a leading ``$`` are accepted. Unions, ``range``
    templates and functions are not.
    """
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    if text in ("", "."):
        return JsonPath(path, ())
    if text[0] not in ".[":
        raise JsonPathError(f"unsupported JSONPath {path!r}: must start with '.' or '['")
    return JsonPath(path, _Parser(text, path).steps())


class _Parser:
    """A small recursive-descent parser over one JSONPath expression."""

    def __init__(self, text: str, original: str) -> None:
        self.text = text
        self.pos = 0
        self.original = original

    def fail(self, why: str) -> JsonPathError:
        return JsonPathError(f"unsupported JSONPath {self.original!r} at {self.pos}: {why}")

    def steps(self) -> tuple[_Step, ...]:
        out: list[_Step] = []
        while self.pos < len(self.text):
            out.append(self.step())
        return tuple(out)

    def step(self) -> _Step:
        text = self.text
        if text.startswith("...", self.pos):
            # a descent of a descent selects every node once per ancestor, per level: refused
            raise self.fail("'...' is not a step (use '..' once)")
        if text.startswith("..", self.pos):
            self.pos += 1  # leave one '.' (or a following '[') for the step that follows
            if self.pos + 1 < len(text) and text[self.pos + 1] == "[":
                self.pos += 1
            return _Descend(self.step())
        if text[self.pos] == ".":
            self.pos += 1
            if text.startswith("*", self.pos):
                self.pos += 1
                return _Wildcard()
            return _Field(self.name())
        if text[self.pos] == "[":
            return self.bracket()
        raise self.fail(f"unexpected {text[self.pos]!r}")

    def name(self) -> str:
        chars: list[str] = []
        text = self.text
        while self.pos < len(text) and text[self.pos] not in ".[":
            if text[self.pos] == "\\" and self.pos + 1 < len(text):
                self.pos += 1
            elif text[self.pos] in "]()'\"=!<> ,{}":
                raise self.fail(f"unexpected {text[self.pos]!r} in a field name")
            chars.append(text[self.pos])
            self.pos += 1
        if not chars:
            raise self.fail("empty field name")
        return "".join(chars)

    def bracket(self) -> _Step:
        end = self.closing_bracket()
        inner = self.text[self.pos + 1 : end].strip()
        self.pos = end + 1
        if inner == "*":
            return _Wildcard()
        if inner.startswith("?"):
            return self.filter(inner)
        if inner[:1] in ("'", '"'):
            value, rest = _quoted(inner, self.fail)
            if rest.strip():
                raise self.fail("unions of keys are not supported")
            return _Field(value)
        if "," in inner:
            raise self.fail("unions are not supported")
        return self.slice(inner)

    def closing_bracket(self) -> int:
        depth = 0
        for i in _unquoted(self.text, self.pos):
            if self.text[i] == "[":
                depth += 1
            elif self.text[i] == "]":
                depth -= 1
                if depth == 0:
                    return i
        raise self.fail("unclosed '['")

    def slice(self, inner: str) -> _Slice:
        parts = inner.split(":")
        if len(parts) > 3 or not inner:
            raise self.fail(f"bad index {inner!r}")
        try:
            numbers = [int(p) if p.strip() else None for p in parts]
        except ValueError:
            raise self.fail(f"bad index {inner!r}") from None
        if len(parts) == 1:
            return _Slice(numbers[0], None, None, single=True)
        step = numbers[2] if len(parts) == 3 else None
        if step == 0:
            raise self.fail("slice step must not be 0")
        return _Slice(numbers[0], numbers[1], step, single=False)

    def filter(self, inner: str) -> _Filter:
        body = inner[1:].strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise self.fail("a filter must look like ?(...)")
        body = body[1:-1].strip()
        split = _split_operator(body)
        if split is None:
            left, left_literal = self.operand(body)
            if left is None:
                raise self.fail("an existence filter needs an @ path")
            return _Filter(left, None, None, None, None)
        left_text, operator, right_text = split
        left, left_literal = self.operand(left_text)
        right, right_literal = self.operand(right_text)
        return _Filter(left, left_literal, operator, right, right_literal)

    def operand(self, text: str) -> tuple[tuple[_Step, ...] | None, Any]:
        text = text.strip()
        if text.startswith("@"):
            rest = text[1:]
            if rest and rest[0] not in ".[":
                raise self.fail(f"bad filter operand {text!r}")
            return (_Parser(rest, self.original).steps() if rest else ()), None
        if text[:1] in ("'", '"'):
            value, rest = _quoted(text, self.fail)
            if rest.strip():
                raise self.fail(f"bad filter operand {text!r}")
            return None, value
        if text in ("true", "false"):
            return None, text == "true"
        try:
            return None, int(text)
        except ValueError:
            pass
        try:
            return None, float(text)
        except ValueError:
            raise self.fail(f"bad filter operand {text!r}") from None


def _quoted(text: str, fail: Callable[[str], JsonPathError]) -> tuple[str, str]:
    """The string literal opening ``text`` (backslash escapes), and what follows it."""
    quote = text[0]
    chars: list[str] = []
    i = 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            i += 1
            chars.append(text[i])
        elif char == quote:
            return "".join(chars), text[i + 1 :]
        else:
            chars.append(char)
        i += 1
    raise fail("unclosed quote")


def _unquoted(text: str, start: int) -> Iterator[int]:
    """The positions from ``start`` on that are outside single- or double-quoted strings."""
    quote = ""
    i = start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        else:
            yield i
        i += 1


def _split_operator(body: str) -> tuple[str, str, str] | None:
    for i in _unquoted(body, 0):
        for operator in _OPERATORS:
            if body.startswith(operator, i):
                return body[:i], operator, body[i + len(operator) :]
    return None


def _run(steps: Sequence[_Step], values: list[Any]) -> list[Any]:
    for step in steps:
        values = [out for value in values for out in _apply(step, value)]
    return values


def _apply(step: _Step, value: Any) -> list[Any]:
    if isinstance(step, _Field):
        if isinstance(value, Mapping) and step.name in value:
            return [value[step.name]]
        return []
    if isinstance(step, _Wildcard):
        if isinstance(value, Mapping):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    if isinstance(step, _Slice):
        if not isinstance(value, list):
            return []
        if step.single:
            index = step.start or 0
            return [value[index]] if -len(value) <= index < len(value) else []
        return value[step.start : step.stop : step.step]
    if isinstance(step, _Filter):
        if not isinstance(value, list):
            return []
        return [item for item in value if _matches(step, item)]
    return [found for node in _descendants(value) for found in _apply(step.then, node)]


def _descendants(value: Any) -> list[Any]:
    """``value`` and everything below it, parents before children."""
    out = [value]
    if isinstance(value, Mapping):
        children: list[Any] = list(value.values())
    else:
        children = value if isinstance(value, list) else []
    for child in children:
        out.extend(_descendants(child))
    return out


def _matches(step: _Filter, item: Any) -> bool:
    lefts = _run(step.left, [item]) if step.left is not None else [step.left_literal]
    if step.operator is None:
        return bool(lefts)
    rights = _run(step.right, [item]) if step.right is not None else [step.right_literal]
    if len(lefts) != 1 or len(rights) != 1:
        return False
    return _compare(lefts[0], step.operator, rights[0])


def _compare(left: Any, operator: str, right: Any) -> bool:
    numbers = (int, float)
    same_kind = (
        isinstance(left, bool) == isinstance(right, bool)
        and isinstance(left, numbers) == isinstance(right, numbers)
        and isinstance(left, str) == isinstance(right, str)
    )
    if operator == "==":
        return same_kind and left == right
    if operator == "!=":
        return same_kind and left != right
    ordered = same_kind and (
        isinstance(left, str) or (isinstance(left, numbers) and not isinstance(left, bool))
    )
    if not ordered:
        return False
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    if operator == ">":
        return bool(left > right)
    return bool(left >= right)
