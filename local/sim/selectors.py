"""Label and field selectors: parsing, matching and rendering, with Kubernetes' syntax and rules.

- Label selectors come as a string (``?labelSelector=app=web,tier in (a,b)``, parsed by
  ``parse_label_selector``) or as a metav1.LabelSelector object (``matchLabels`` /
  ``matchExpressions``, read by ``label_selector_from_object``). Both give a ``LabelSelector``.
- Field selectors (``?fieldSelector=metadata.name=x,status.phase!=Running``) give a
  ``FieldSelector`` that compares dotted paths into an object, a missing field reading as "".

Purely data-manipulative: no I/O, nothing about HTTP or storage. Which fields a kind allows in a
field selector is the server's business (``FieldSelector.requirements`` lists them).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "label_selector_from_object",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A selector that cannot be parsed or is invalid; the message says what is wrong."""


# --- Label keys and values ---------------------------------------------------------------------

_NAME: Final = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN: Final = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_NAME_MAX: Final = 63
_PREFIX_MAX: Final = 253
_NAME_RULE: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)


def _key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key (``[prefix/]name``), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and "/" in prefix:
        return "a label key may contain at most one '/'"
    if slash and not prefix:
        return "prefix part must be non-empty"
    if len(prefix) > _PREFIX_MAX:
        return f"prefix part must be no more than {_PREFIX_MAX} characters"
    if prefix and not _DNS_SUBDOMAIN.fullmatch(prefix):
        return "prefix part must be a lowercase DNS subdomain (e.g. 'example.com')"
    if not name:
        return "name part must be non-empty"
    if len(name) > _NAME_MAX:
        return f"name part must be no more than {_NAME_MAX} characters"
    if not _NAME.fullmatch(name):
        return f"name part {_NAME_RULE}"
    return None


def _value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if len(value) > _NAME_MAX:
        return f"must be no more than {_NAME_MAX} characters"
    if value and not _NAME.fullmatch(value):
        return f"must be empty or {_NAME_RULE.removeprefix('must ')}"
    return None


# --- Label selectors ---------------------------------------------------------------------------


class Operator(enum.StrEnum):
    """A label requirement's operator; the value is its spelling in the string syntax."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = ">"
    LESS_THAN = "<"


_SINGLE_VALUE: Final = frozenset(
    {Operator.EQUALS, Operator.NOT_EQUALS, Operator.GREATER_THAN, Operator.LESS_THAN}
)
_SET_VALUES: Final = frozenset({Operator.IN, Operator.NOT_IN})

_OBJECT_OPERATORS: Final[Mapping[str, Operator]] = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}
"""matchExpressions operators of a metav1.LabelSelector."""


@dataclass(frozen=True)
class Requirement:
    """One condition on one label; validated on creation, values kept sorted and unique."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(sorted(set(self.values))))
        problem = _requirement_problem(self)
        if problem is not None:
            raise SelectorError(f"unable to parse requirement: {problem}")

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or value not in self.values
            case Operator.GREATER_THAN | Operator.LESS_THAN:
                number = _integer(value) if present else None
                if number is None:
                    return False
                bound = int(self.values[0])
                return number > bound if self.operator is Operator.GREATER_THAN else number < bound
        raise AssertionError(self.operator)  # pragma: no cover - the match is exhaustive

    def __str__(self) -> str:
        match self.operator:
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return f"!{self.key}"
            case Operator.IN | Operator.NOT_IN:
                return f"{self.key} {self.operator.value} ({','.join(self.values)})"
            case _:
                return f"{self.key}{self.operator.value}{self.values[0]}"


def _requirement_problem(requirement: Requirement) -> str | None:
    key, operator, values = requirement.key, requirement.operator, requirement.values
    problem = _key_problem(key)
    if problem is not None:
        return f"invalid label key {key!r}: {problem}"
    if operator in _SET_VALUES and not values:
        return f"for 'in', 'notin' operators, values set can't be empty (key {key!r})"
    if operator in _SINGLE_VALUE and len(values) != 1:
        return f"operator {operator.value!r} needs exactly one value (key {key!r})"
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        return f"values set must be empty for exists and does not exist (key {key!r})"
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN) and _integer(values[0]) is None:
        return f"for '>', '<' operators, the value must be an integer (key {key!r})"
    for value in values:
        problem = _value_problem(value)
        if problem is not None:
            return f"invalid label value {value!r} for key {key!r}: {problem}"
    return None


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class LabelSelector:
    """All of its requirements must hold (kept sorted by key); empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.requirements, key=lambda requirement: requirement.key))
        object.__setattr__(self, "requirements", ordered)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the string form (``a=b,c!=d,e in (x,y),f notin (z),g,!h,n>1``); "" or None: all."""
    if not text or not text.strip():
        return LabelSelector()
    return LabelSelector(tuple(_LabelParser(text).requirements()))


def label_selector_from_object(sel: Mapping[str, Any] | None) -> LabelSelector:
    """Read a metav1.LabelSelector (``matchLabels`` and ``matchExpressions``).

    None gives the empty selector, which matches everything. Where the API treats a missing
    selector as selecting nothing (e.g. a Service without ``spec.selector`` selects no pods), the
    caller must check for None itself.
    """
    if sel is None:
        return LabelSelector()
    if not isinstance(sel, Mapping):
        raise SelectorError(f"a label selector must be an object, not {type(sel).__name__}")
    requirements = []
    match_labels = sel.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be an object of label keys to values")
    for key, value in match_labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError(f"matchLabels: {key!r}: {value!r} must map a string to a string")
        requirements.append(Requirement(key, Operator.EQUALS, (value,)))
    expressions = sel.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    requirements.extend(_expression_requirement(expression) for expression in expressions)
    return LabelSelector(tuple(requirements))


def _expression_requirement(expression: Any) -> Requirement:
    if not isinstance(expression, Mapping):
        raise SelectorError(f"matchExpressions: {expression!r} must be an object")
    key, operator = expression.get("key"), expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(key, str):
        raise SelectorError(f"matchExpressions: {expression!r} needs a string key")
    if not isinstance(operator, str) or operator not in _OBJECT_OPERATORS:
        expected = ", ".join(_OBJECT_OPERATORS)
        raise SelectorError(
            f"{operator!r} is not a valid label selector operator (expected one of {expected})"
        )
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise SelectorError(f"matchExpressions: values of {key!r} must be a list of strings")
    return Requirement(key, _OBJECT_OPERATORS[operator], tuple(values))


# The string syntax, tokenised: identifiers are runs of anything but whitespace and the symbols.
_TOKEN: Final = re.compile(r"\s*(?:(?P<symbol>!=|==|[!=,()<>])|(?P<identifier>[^\s!=,()<>]+))")
_END: Final = "end of string"


class _LabelParser:
    """A recursive-descent parser over the tokens of one label selector string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(self._tokenise(text))
        self.position = 0

    @staticmethod
    def _tokenise(text: str) -> Iterator[tuple[str, str]]:
        position = 0
        while text[position:].strip():
            found = _TOKEN.match(text, position)
            if found is None:  # pragma: no cover - every non-blank character starts a token
                raise SelectorError(f"unable to parse label selector {text!r}")
            kind = "symbol" if found.group("symbol") else "identifier"
            yield kind, found.group(kind)
            position = found.end()

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", _END)

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def fail(self, found: str, expected: str) -> SelectorError:
        shown = found if found == _END else repr(found)
        return SelectorError(
            f"unable to parse label selector {self.text!r}: found {shown}, expected: {expected}"
        )

    def requirements(self) -> Iterator[Requirement]:
        while True:
            yield self.requirement()
            kind, text = self.take()
            if kind == "end":
                return
            if text != ",":
                raise self.fail(text, "',' or end of string")

    def requirement(self) -> Requirement:
        kind, text = self.take()
        if text == "!":
            return Requirement(self.identifier("label key"), Operator.DOES_NOT_EXIST)
        if kind != "identifier":
            raise self.fail(text, "'!' or label key")
        key = text
        kind, text = self.peek()
        if kind == "end" or text == ",":
            return Requirement(key, Operator.EXISTS)
        self.take()
        if text in ("=", "=="):
            return Requirement(key, Operator.EQUALS, (self.exact_value(),))
        if text in ("!=", "<", ">"):
            return Requirement(key, Operator(text), (self.exact_value(),))
        if kind == "identifier" and text in ("in", "notin"):
            return Requirement(key, Operator(text), self.value_set())
        raise self.fail(text, "'=', '==', '!=', '<', '>', 'in' or 'notin'")

    def identifier(self, what: str) -> str:
        kind, text = self.take()
        if kind != "identifier":
            raise self.fail(text, what)
        return text

    def exact_value(self) -> str:
        kind, text = self.peek()
        if kind == "end" or text == ",":
            return ""  # "a=" selects the empty value
        return self.identifier("label value")

    def value_set(self) -> tuple[str, ...]:
        kind, text = self.take()
        if text != "(" or kind != "symbol":
            raise self.fail(text, "'('")
        values = []
        while True:
            kind, text = self.peek()
            values.append(self.identifier("label value") if kind == "identifier" else "")
            kind, text = self.take()
            if text == ")":
                return tuple(values)
            if text != ",":
                raise self.fail(text, "',' or ')'")


# --- Field selectors ---------------------------------------------------------------------------

_FIELD_OPERATORS: Final = ("!=", "==", "=")  # the first one found in a term splits it
_ESCAPABLE: Final = frozenset("\\,=")


@dataclass(frozen=True)
class FieldRequirement:
    """``field=value`` or ``field!=value`` on a dotted path into an object."""

    field: str
    value: str
    negated: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (_field_text(obj, self.field) == self.value) != self.negated

    def __str__(self) -> str:
        escaped = "".join(f"\\{c}" if c in _ESCAPABLE else c for c in self.value)
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """All of its requirements must hold; empty matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(requirement.matches(obj) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(sorted(str(requirement) for requirement in self.requirements))


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse ``path=value,path==value,path!=value`` (values may escape ``\\`` ``,`` ``=``)."""
    requirements = []
    for term in _split_terms(text or ""):
        if not term.strip():
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid field selector {text!r}: can't understand {term!r}")
        path, operator, raw = split
        if not path.strip():
            raise SelectorError(f"invalid field selector {text!r}: {term!r} has no field name")
        value = _unescape(raw.strip(), text or "")
        requirements.append(FieldRequirement(path.strip(), value, negated=operator == "!="))
    return FieldSelector(tuple(requirements))


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped with a backslash."""
    terms, start, escaped = [], 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Field names know no escaping: the first operator in the term splits it."""
    for index in range(len(term)):
        for operator in _FIELD_OPERATORS:
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


def _unescape(raw: str, selector: str) -> str:
    chars, escaped = [], False
    for char in raw:
        if escaped:
            if char not in _ESCAPABLE:
                raise SelectorError(
                    f"invalid field selector {selector!r}: invalid escape sequence '\\{char}'"
                )
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(
                f"invalid field selector {selector!r}: unescaped {char!r} in value {raw!r}"
            )
        else:
            chars.append(char)
    if escaped:
        raise SelectorError(f"invalid field selector {selector!r}: value {raw!r} ends with '\\'")
    return "".join(chars)


def _field_text(obj: Mapping[str, Any], path: str) -> str:
    """The value at a dotted path as a field selector sees it: missing or non-scalar reads ""."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""
