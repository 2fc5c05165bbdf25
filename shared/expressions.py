"""Metric conditions: a ``successCondition`` / ``failureCondition`` checked once, then evaluated.

Users write conditions over a measurement's ``result`` in Python expression syntax, plus what
Argo Rollouts users bring along: the expr-lang operators ``&&``, ``||`` and ``!``, the names
``true`` / ``false`` / ``nil`` and the functions ``isNaN``, ``isInf``, ``isNil``, ``default``,
``asInt`` and ``asFloat``. :func:`parse` checks a condition when the template is read and refuses
anything outside a small whitelist with a readable :class:`ExpressionError`;
:meth:`Expression.evaluate` then interprets the checked tree against one result, within fixed
bounds on work and on the size of every number, string and list it builds.

What is allowed (everything else is refused by :func:`parse`):

- literals: numbers, strings, ``true``/``false``/``nil`` (or ``True``/``False``/``None``),
  lists ``[...]`` and tuples ``(...)``; the name ``result``;
- ``and or not`` (or ``&& || !``), ``+ - * / // % **``, unary ``- +``, comparisons
  ``== != < <= > >= in not in is is not`` (chained too), ``a if cond else b``;
- ``x[i]``, ``x[a:b:c]``, ``x["key"]`` and ``x.key`` (a key of a map; a missing key is ``nil``,
  as in expr-lang; keys starting with ``_`` are refused);
- ``[e for v in xs if c]`` and ``(e for v in xs)``, with at most two ``for`` clauses (a
  generator is built in full, like a list: ``any(...)`` does not stop early);
- calls of :data:`FUNCTIONS`, positional arguments only.

``isNaN(x)`` / ``isInf(x)`` take one number, as Argo's do: on a list they raise an error that
suggests ``any(isNaN(r) for r in result)``. ``isNil(x)`` and ``default(x, d)`` look at their
argument (Argo's look at ``result`` whatever the argument; for ``isNil(result)`` and
``default(result, d)`` the two agree).

Never compiles, evals or execs user text: Python's ``ast`` module is only the parser, and this
module walks the tree itself. No I/O, and no attribute lookup on Python objects: ``x.key``
reads a map and nothing else.
"""

from __future__ import annotations

import ast
import io
import math
import operator
import reprlib
import tokenize
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_LENGTH = 1000
"""Longest condition text, in characters."""
MAX_DEPTH = 50
"""Deepest nesting of the parsed tree."""
MAX_NODES = 400
"""Most parts (names, literals, operators...) a condition may have."""
MAX_FOR_CLAUSES = 2
"""Most ``for`` clauses in one comprehension."""
MAX_STEPS = 1_000_000
"""Work budget of one evaluation: one step per part evaluated, per item iterated, compared,
summed or searched, and per element or character of every list or string built."""
MAX_SIZE = 100_000
"""Longest string or list an expression may build."""
MAX_EXPONENT = 100
"""Largest magnitude of the right-hand side of ``**`` (and of ``round``'s digits)."""
MAX_INT_BITS = 4096
"""Largest integer an expression may build, in bits (about 1233 decimal digits)."""
MAX_NUMBER_TEXT = 100
"""Longest string ``int()`` / ``asInt()`` will parse."""

_ALIASES: Mapping[str, Any] = {"true": True, "false": False, "nil": None}

_OPERATOR_SYMBOLS: Mapping[type[ast.AST], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Not: "not",
    ast.UAdd: "+",
    ast.USub: "-",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_UNARY = (ast.Not, ast.UAdd, ast.USub)

_REFUSED_NAMES: Mapping[type[ast.AST], str] = {
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Dict: "a map literal",
    ast.Set: "a set literal",
    ast.DictComp: "a map comprehension",
    ast.SetComp: "a set comprehension",
    ast.Starred: "unpacking (*)",
    ast.Slice: "a slice (a:b) anywhere but directly in [...]",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class ExpressionError(ValueError):
    """A condition that cannot be parsed, is not allowed, or failed on one result.

    ``text`` is the condition, ``reason`` what is wrong, ``position`` the offset in ``text``
    of the part at fault (None when it is the whole or unknown), ``evaluating`` whether it
    came from :meth:`Expression.evaluate` (the condition was fine, the result did not fit).
    """

    def __init__(
        self, text: str, reason: str, *, position: int | None = None, evaluating: bool = False
    ) -> None:
        shown = text if len(text) <= 200 else text[:200] + "..."
        verb = "cannot evaluate" if evaluating else "invalid"
        super().__init__(f'{verb} condition "{shown}": {reason}')
        self.text = text
        self.reason = reason
        self.position = position
        self.evaluating = evaluating

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only arguments: pickle needs help
        return _rebuild_error, (self.text, self.reason, self.position, self.evaluating)


def _rebuild_error(
    text: str, reason: str, position: int | None, evaluating: bool
) -> ExpressionError:
    return ExpressionError(text, reason, position=position, evaluating=evaluating)


class _Failure(Exception):
    """Raised inside the interpreter; becomes an ExpressionError with the condition's text."""

    def __init__(self, reason: str, node: ast.AST | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.node = node


# --------------------------------------------------------------------------- source


@dataclass(frozen=True)
class _Source:
    """The condition as written and as handed to ``ast`` (expr-lang operators translated)."""

    original: str
    translated: str
    origin: tuple[int, ...]  # original offset of every translated character, plus the end

    def offset(self, node: ast.AST) -> tuple[int, int]:
        """Original (start, end) offsets of ``node``."""
        encoded = self.translated.encode()
        start = len(encoded[: getattr(node, "col_offset", 0)].decode(errors="ignore"))
        end_col = getattr(node, "end_col_offset", None)
        end = len(encoded[:end_col].decode(errors="ignore")) if end_col is not None else start
        return self.origin[start], self.origin[max(start, end)]

    def fragment(self, node: ast.AST) -> tuple[str, int | None]:
        """The original text of ``node`` and its offset; offset None when it is everything."""
        start, end = self.offset(node)
        text = self.original[start:end].strip() or self.original
        if text == self.original.strip():
            return text, None
        return text, start

    def where(self, node: ast.AST) -> str:
        """``: "<fragment>" at position N``, or nothing when the node is the whole condition."""
        text, position = self.fragment(node)
        return "" if position is None else f': "{_cut(text)}" at position {position}'


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _translate(original: str) -> _Source:
    """``&&`` -> ``and``, ``||`` -> ``or``, ``!x`` -> ``not x``, outside string literals.

    Works on tokens, so ``"a&&b"`` and ``!=`` stay as they are. A tokenizer error (say, an
    unclosed bracket) ends the translation there; ``ast`` then reports the syntax error. Line
    breaks and tabs become spaces (a multi-line YAML string is one expression) and the ends are
    trimmed, as ``ast`` wants; ``origin`` maps every offset back to ``original``.
    """
    flat = original.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    leading = len(flat) - len(flat.lstrip())
    text = flat.strip()
    tokens: list[tokenize.TokenInfo] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if tokenize.tok_name[token.type] == "FSTRING_START":  # Python 3.12+
                position = token.start[1] + leading
                raise ExpressionError(original, "an f-string is not allowed", position=position)
            tokens.append(token)
    except (tokenize.TokenError, SyntaxError):
        pass
    replacements: list[tuple[int, int, str]] = []  # (start, end, new text), original offsets
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        start = token.start[1]
        if (
            token.string in ("&", "|")
            and following is not None
            and following.string == token.string
            and following.start == token.end
        ):
            replacements.append((start, start + 2, " and " if token.string == "&" else " or "))
            index += 2
            continue
        if token.string == "!":
            replacements.append((start, start + 1, " not "))
        index += 1
    pieces: list[str] = []
    origin: list[int] = []
    cursor = 0
    for start, end, new in replacements:
        pieces.append(text[cursor:start])
        origin.extend(range(leading + cursor, leading + start))
        pieces.append(new)
        origin.extend([leading + start] * len(new))
        cursor = end
    pieces.append(text[cursor:])
    origin.extend(range(leading + cursor, leading + len(text) + 1))
    translated = "".join(pieces)
    padding = len(translated) - len(translated.lstrip())  # "!x" became " not x"
    return _Source(original, translated[padding:], tuple(origin[padding:]))


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Expression:
    """A checked condition. Build it with :func:`parse`; evaluate it as often as needed."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)
    _source: _Source = field(repr=False, compare=False)

    def evaluate(self, result: Any) -> Any:
        """The condition's value for ``result`` (plain data: numbers, strings, lists, maps).

        Raises :class:`ExpressionError` for anything that goes wrong: an index out of range,
        operands of the wrong type, division by zero, a bound exceeded.
        """
        env = {"result": result, **_ALIASES}
        interpreter = _Interpreter()
        try:
            return interpreter.run(self.tree.body, env)
        except _Failure as failure:
            raise _runtime_error(self._source, failure) from None
        except RecursionError:
            raise ExpressionError(
                self.text, "the result is nested too deeply", evaluating=True
            ) from None

    def evaluate_bool(self, result: Any) -> bool:
        """:meth:`evaluate`, which must give ``true`` or ``false`` (anything else is an error)."""
        value = self.evaluate(result)
        if not isinstance(value, bool):
            raise ExpressionError(
                self.text,
                f"the condition must give true or false, not {_describe(value)}",
                evaluating=True,
            )
        return value


def _runtime_error(source: _Source, failure: _Failure) -> ExpressionError:
    reason, position = failure.reason, None
    if failure.node is not None:
        fragment, position = source.fragment(failure.node)
        if position is not None:
            reason = f'{reason}, in "{_cut(fragment)}"'
    return ExpressionError(source.original, reason, position=position, evaluating=True)


def parse(text: str) -> Expression:
    """Check ``text`` and return it as an :class:`Expression`, or raise :class:`ExpressionError`.

    Refused here, before any result exists: syntax errors, anything outside the whitelist in the
    module docstring (with the offending part and its position), a text longer than
    :data:`MAX_LENGTH`, a tree deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_NODES`,
    and constant parts that cannot be evaluated (``9**9**9``, ``'a' * 10**9``, ``1/0``).
    """
    if not isinstance(text, str):
        raise ExpressionError(repr(text), f"a condition must be a string, not {_kind(text)}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(text, f"too long ({len(text)} characters, at most {MAX_LENGTH})")
    if not text.strip():
        raise ExpressionError(text, "the condition is empty")
    source = _translate(text)
    tree = _parse_tree(source)
    _check_size(source, tree)
    _Checker(source).check(tree.body, frozenset())
    _fold(source, tree.body, _Interpreter())
    return Expression(text, tree, source)


def _parse_tree(source: _Source) -> ast.Expression:
    text = source.original
    try:
        return ast.parse(source.translated, mode="eval")
    except SyntaxError as error:
        offset = error.offset or 0
        message = error.msg or "invalid syntax"
        if (error.lineno or 1) > 1 or offset <= 0 or offset > len(source.translated):
            if message == "invalid syntax" or "EOF" in message:
                raise ExpressionError(text, "unexpected end of expression") from None
            raise ExpressionError(text, message) from None
        position = source.origin[offset - 1]
        rest = _cut(text[position:].strip(), 20)
        where = f': "{rest}"' if rest else ""
        raise ExpressionError(
            text, f"{message} at position {position}{where}", position=position
        ) from None
    except (ValueError, RecursionError, MemoryError):  # null bytes; nesting beyond the parser
        raise ExpressionError(text, "cannot be parsed (nested too deeply?)") from None


def _children(node: ast.AST) -> list[ast.AST]:
    return [c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.expr_context)]


def _check_size(source: _Source, tree: ast.Expression) -> None:
    """Depth and node count, without recursion (the tree may be deeper than Python's stack)."""
    count = 0
    pending: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while pending:
        node, depth = pending.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ExpressionError(
                source.original, f"nested too deeply (more than {MAX_DEPTH} levels)"
            )
        if count > MAX_NODES:
            raise ExpressionError(source.original, f"too complex (more than {MAX_NODES} parts)")
        pending.extend((child, depth + 1) for child in _children(node))


class _Checker:
    """The whitelist: every node type that may appear, and what each may contain."""

    def __init__(self, source: _Source) -> None:
        self.source = source

    def refuse(self, node: ast.AST, reason: str) -> ExpressionError:
        _, position = self.source.fragment(node)
        return ExpressionError(
            self.source.original, reason + self.source.where(node), position=position
        )

    def check(self, node: ast.AST, scope: frozenset[str]) -> None:
        if isinstance(node, ast.Constant):
            if node.value is not None and not isinstance(node.value, (bool, int, float, str)):
                raise self.refuse(node, f"a {type(node.value).__name__} literal is not allowed")
        elif isinstance(node, ast.Name):
            self.check_name(node, scope)
        elif isinstance(node, ast.BoolOp):
            self.check_all(node.values, scope)
        elif isinstance(node, ast.UnaryOp):
            self.check_operator(node, node.op, _UNARY)
            self.check(node.operand, scope)
        elif isinstance(node, ast.BinOp):
            self.check_operator(node, node.op, _BINARY)
            self.check_all([node.left, node.right], scope)
        elif isinstance(node, ast.Compare):
            self.check_all([node.left, *node.comparators], scope)
        elif isinstance(node, ast.IfExp):
            self.check_all([node.test, node.body, node.orelse], scope)
        elif isinstance(node, ast.Subscript):
            self.check(node.value, scope)
            if isinstance(node.slice, ast.Slice):
                parts = (node.slice.lower, node.slice.upper, node.slice.step)
                self.check_all([p for p in parts if p is not None], scope)
            else:
                self.check(node.slice, scope)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise self.refuse(
                    node,
                    f'attribute "{node.attr}" is not allowed '
                    '(x.key reads a key of a map; keys starting with "_" are refused)',
                )
            self.check(node.value, scope)
        elif isinstance(node, (ast.List, ast.Tuple)):
            self.check_all(node.elts, scope)
        elif isinstance(node, ast.Call):
            self.check_call(node, scope)
        elif isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            self.check_comprehension(node, scope)
        else:
            what = _REFUSED_NAMES.get(type(node), type(node).__name__)
            raise self.refuse(node, f"{what} is not allowed")

    def check_all(self, nodes: Sequence[ast.AST], scope: frozenset[str]) -> None:
        for node in nodes:
            self.check(node, scope)

    def check_name(self, node: ast.Name, scope: frozenset[str]) -> None:
        if node.id in scope or node.id == "result" or node.id in _ALIASES:
            return
        if node.id in FUNCTIONS:
            raise self.refuse(node, f"{node.id} is a function: call it, as in {node.id}(...)")
        known = ", ".join(["result", *_ALIASES, *sorted(scope)])
        raise self.refuse(node, f'unknown name "{node.id}" (known: {known})')

    def check_operator(
        self, node: ast.AST, op: ast.AST, allowed: tuple[type[ast.AST], ...]
    ) -> None:
        if not isinstance(op, allowed):
            symbol = _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
            hint = (
                " (use && or and)" if symbol == "&" else " (use || or or)" if symbol == "|" else ""
            )
            raise self.refuse(node, f"operator {symbol} is not allowed{hint}")

    def check_call(self, node: ast.Call, scope: frozenset[str]) -> None:
        allowed = ", ".join(FUNCTIONS)
        if not isinstance(node.func, ast.Name):
            callee, _ = self.source.fragment(node.func)
            raise self.refuse(
                node, f"calling {_cut(callee, 40)} is not allowed (only {allowed} can be called)"
            )
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.refuse(node, f"calling {name} is not allowed (allowed: {allowed})")
        if node.keywords:
            raise self.refuse(node, f"{name}() takes no keyword arguments")
        function = FUNCTIONS[name]
        count = len(node.args)
        if not function.least <= count <= function.most:
            raise self.refuse(node, f"{name}() takes {function.arity()}, got {count}")
        self.check_all(node.args, scope)

    def check_comprehension(
        self, node: ast.ListComp | ast.GeneratorExp, scope: frozenset[str]
    ) -> None:
        if len(node.generators) > MAX_FOR_CLAUSES:
            raise self.refuse(node, f"at most {MAX_FOR_CLAUSES} 'for' clauses are allowed")
        inner = scope
        for clause in node.generators:
            if clause.is_async:
                raise self.refuse(node, "async comprehensions are not allowed")
            self.check(clause.iter, inner)
            inner = inner | self.bound_names(clause.target)
            self.check_all(clause.ifs, inner)
        self.check(node.elt, inner)

    def bound_names(self, target: ast.AST) -> frozenset[str]:
        names = target.elts if isinstance(target, ast.Tuple) else [target]
        bound: set[str] = set()
        for name in names:
            if not isinstance(name, ast.Name):
                raise self.refuse(target, "a 'for' variable must be a name or names: for x, y in")
            if name.id.startswith("_") or name.id in ("result", *_ALIASES, *FUNCTIONS):
                raise self.refuse(name, f"\"{name.id}\" cannot be a 'for' variable")
            bound.add(name.id)
        return frozenset(bound)


def _is_constant(node: ast.AST) -> bool:
    """Whether ``node`` reads no variable (so it can be evaluated before any result exists)."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name) and inner.id not in _ALIASES and inner.id not in FUNCTIONS:
            return False
    return True


def _fold(source: _Source, node: ast.AST, interpreter: _Interpreter) -> None:
    """Evaluate every largest constant part now, so ``9**9**9`` is refused by :func:`parse`."""
    try:
        if isinstance(node, ast.expr) and not isinstance(node, (ast.Constant, ast.Name, ast.Slice)):
            if _is_constant(node):
                interpreter.run(node, dict(_ALIASES))
                return
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Pow)
                and _is_constant(node.right)
            ):  # result ** 1000
                _check_exponent(interpreter.run(node.right, dict(_ALIASES)))
    except _Failure as failure:
        error = _runtime_error(source, failure)
        raise ExpressionError(source.original, error.reason, position=error.position) from None
    for child in _children(node):
        _fold(source, child, interpreter)


# --------------------------------------------------------------------------- values


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    return type(value).__name__


_REPR = reprlib.Repr()
_REPR.maxstring = 40
_REPR.maxother = 40
_REPR.maxlist = 6
_REPR.maxtuple = 6
_REPR.maxdict = 4
_REPR.maxlevel = 3


def _describe(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an int of {value.bit_length()} bits"
    return f"{_kind(value)} {_REPR.repr(value)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, Mapping)) else 1


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _Failure(f"number too large (more than {MAX_INT_BITS} bits)")
    if isinstance(value, complex):
        raise _Failure("the result would be a complex number")
    return value


def _check_exponent(exponent: Any) -> None:
    if _is_number(exponent) and not abs(exponent) <= MAX_EXPONENT:
        raise _Failure(f"exponent {_describe(exponent)} is too large (at most {MAX_EXPONENT})")


def _items(value: Any, what: str) -> Sequence[Any]:
    if isinstance(value, (list, tuple, str)):
        return value
    if isinstance(value, Mapping):
        return list(value)
    raise _Failure(f"{what} needs a list, string or map, not {_describe(value)}")


# --------------------------------------------------------------------------- the interpreter


class _Interpreter:
    """Evaluates a checked tree; counts its work against :data:`MAX_STEPS`."""

    def __init__(self) -> None:
        self.steps = 0

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise _Failure(f"too much work (more than {MAX_STEPS} steps)")

    def run(self, node: ast.AST, env: dict[str, Any]) -> Any:
        self.tick()
        method = _NODE_METHODS.get(type(node))
        if method is None:  # the checker lets no such node through
            raise _Failure(f"{type(node).__name__} cannot be evaluated", node)
        try:
            return method(self, node, env)
        except _Failure as failure:
            if failure.node is None:
                failure.node = node
            raise
        except (ArithmeticError, TypeError, ValueError, LookupError) as error:
            raise _Failure(f"{type(error).__name__}: {error}", node) from None

    def constant(self, node: ast.Constant, env: dict[str, Any]) -> Any:
        return node.value

    def name(self, node: ast.Name, env: dict[str, Any]) -> Any:
        return env[node.id]

    def bool_op(self, node: ast.BoolOp, env: dict[str, Any]) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.run(operand, env)
            if isinstance(node.op, ast.And) != bool(value):
                return value
        return value

    def unary_op(self, node: ast.UnaryOp, env: dict[str, Any]) -> Any:
        value = self.run(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not value
        if not _is_number(value):
            symbol = _OPERATOR_SYMBOLS[type(node.op)]
            raise _Failure(f"cannot apply unary {symbol} to {_describe(value)}")
        return -value if isinstance(node.op, ast.USub) else +value

    def bin_op(self, node: ast.BinOp, env: dict[str, Any]) -> Any:
        left = self.run(node.left, env)
        right = self.run(node.right, env)
        return self.arithmetic(node.op, left, right)

    def arithmetic(self, op: ast.operator, left: Any, right: Any) -> Any:
        symbol = _OPERATOR_SYMBOLS[type(op)]
        if _is_number(left) and _is_number(right):
            if isinstance(op, ast.Pow):
                _check_exponent(right)
            if isinstance(left, int) and isinstance(right, int):
                # the size of the integer before it is computed: bits of a product add up
                bits = 0
                if isinstance(op, ast.Pow) and right > 0:
                    bits = left.bit_length() * right
                elif isinstance(op, ast.Mult):
                    bits = left.bit_length() + right.bit_length()
                if bits > MAX_INT_BITS:
                    raise _Failure(f"number too large (more than {MAX_INT_BITS} bits)")
            try:
                return _check_int(_ARITHMETIC[type(op)](left, right))
            except ZeroDivisionError:
                raise _Failure("division by zero") from None
            except OverflowError:
                raise _Failure("number too large") from None
        sequences = (str, list, tuple)
        if isinstance(op, ast.Add) and isinstance(left, sequences) and type(left) is type(right):
            self.grow(len(left) + len(right))
            return operator.add(left, right)
        if isinstance(op, ast.Mult):
            times, sequence = (right, left) if isinstance(left, sequences) else (left, right)
            if isinstance(sequence, sequences) and isinstance(times, int):
                self.grow(len(sequence) * max(times, 0))
                return sequence * times
        raise _Failure(f"cannot apply {symbol} to {_describe(left)} and {_describe(right)}")

    def grow(self, size: int) -> None:
        if size > MAX_SIZE:
            raise _Failure(f"would build a string or list of {size} items (at most {MAX_SIZE})")
        self.tick(size)

    def compare(self, node: ast.Compare, env: dict[str, Any]) -> Any:
        left = self.run(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.run(comparator, env)
            if not self.compare_one(op, left, right):
                return False
            left = right
        return True

    def compare_one(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        symbol = _OPERATOR_SYMBOLS[type(op)]
        if isinstance(op, (ast.Is, ast.IsNot)):
            return (left is right) == isinstance(op, ast.Is)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (str, list, tuple, Mapping)):
                raise _Failure(f"'{symbol}' needs a list, string or map, not {_describe(right)}")
            if isinstance(right, str) and not isinstance(left, str):
                raise _Failure(f"'{symbol}' a string needs a string, not {_describe(left)}")
            self.tick(len(right))
            try:
                found = left in right
            except TypeError:  # an unhashable key looked up in a map
                found = False
            return bool(found) == isinstance(op, ast.In)
        self.tick(min(_sized(left), _sized(right)))
        if isinstance(op, (ast.Eq, ast.NotEq)):
            return bool(left == right) == isinstance(op, ast.Eq)
        try:
            return bool(_ORDERINGS[type(op)](left, right))
        except TypeError:
            raise _Failure(
                f"cannot compare {_describe(left)} {symbol} {_describe(right)}"
            ) from None

    def if_exp(self, node: ast.IfExp, env: dict[str, Any]) -> Any:
        return self.run(node.body if self.run(node.test, env) else node.orelse, env)

    def subscript(self, node: ast.Subscript, env: dict[str, Any]) -> Any:
        value = self.run(node.value, env)
        if isinstance(node.slice, ast.Slice):
            if not isinstance(value, (list, tuple, str)):
                raise _Failure(f"cannot slice {_describe(value)}")
            parts = [
                self.run(p, env) if p else None
                for p in (node.slice.lower, node.slice.upper, node.slice.step)
            ]
            if any(p is not None and not isinstance(p, int) for p in parts):
                raise _Failure("slice bounds must be whole numbers")
            if parts[2] == 0:
                raise _Failure("slice step cannot be zero")
            sliced = value[slice(*parts)]
            self.tick(len(sliced))
            return sliced
        key = self.run(node.slice, env)
        return self.lookup(value, key)

    def lookup(self, value: Any, key: Any) -> Any:
        if isinstance(value, Mapping):
            try:
                return value.get(key)  # a missing key is nil, as in expr-lang
            except TypeError:
                raise _Failure(f"a map cannot have the key {_describe(key)}") from None
        if isinstance(value, (list, tuple, str)):
            if not isinstance(key, int):
                raise _Failure(f"an index must be a whole number, not {_describe(key)}")
            if not -len(value) <= key < len(value):
                raise _Failure(f"index {key} is out of range ({_kind(value)} of {len(value)})")
            return value[key]
        raise _Failure(f"cannot index {_describe(value)} with [{_REPR.repr(key)}]")

    def attribute(self, node: ast.Attribute, env: dict[str, Any]) -> Any:
        value = self.run(node.value, env)
        if not isinstance(value, Mapping):
            raise _Failure(f".{node.attr} needs a map, not {_describe(value)}")
        return value.get(node.attr)

    def sequence(self, node: ast.List | ast.Tuple, env: dict[str, Any]) -> Any:
        values = [self.run(element, env) for element in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)

    def call(self, node: ast.Call, env: dict[str, Any]) -> Any:
        assert isinstance(node.func, ast.Name)  # the checker allows nothing else
        function = FUNCTIONS[node.func.id]
        args = [self.run(arg, env) for arg in node.args]
        return function.implementation(self, *args)

    def comprehension(self, node: ast.ListComp | ast.GeneratorExp, env: dict[str, Any]) -> Any:
        out: list[Any] = []
        self.generate(node, 0, env, out)
        return out

    def generate(
        self, node: ast.ListComp | ast.GeneratorExp, index: int, env: dict[str, Any], out: list[Any]
    ) -> None:
        clause = node.generators[index]
        for item in _items(self.run(clause.iter, env), "'for'"):
            self.tick()
            inner = dict(env)
            self.bind(clause.target, item, inner)
            if not all(self.run(condition, inner) for condition in clause.ifs):
                continue
            if index + 1 < len(node.generators):
                self.generate(node, index + 1, inner, out)
            else:
                out.append(self.run(node.elt, inner))
                if len(out) > MAX_SIZE:
                    raise _Failure(f"would build a list of more than {MAX_SIZE} items")

    def bind(self, target: ast.AST, item: Any, env: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = item
            return
        assert isinstance(target, ast.Tuple)
        names = [t.id for t in target.elts if isinstance(t, ast.Name)]
        if not isinstance(item, (list, tuple)) or len(item) != len(names):
            raise _Failure(f"cannot unpack {_describe(item)} into {len(names)} names")
        env.update(zip(names, item, strict=True))


_NODE_METHODS: Mapping[type[ast.AST], Callable[[_Interpreter, Any, dict[str, Any]], Any]] = {
    ast.Constant: _Interpreter.constant,
    ast.Name: _Interpreter.name,
    ast.BoolOp: _Interpreter.bool_op,
    ast.UnaryOp: _Interpreter.unary_op,
    ast.BinOp: _Interpreter.bin_op,
    ast.Compare: _Interpreter.compare,
    ast.IfExp: _Interpreter.if_exp,
    ast.Subscript: _Interpreter.subscript,
    ast.Attribute: _Interpreter.attribute,
    ast.List: _Interpreter.sequence,
    ast.Tuple: _Interpreter.sequence,
    ast.Call: _Interpreter.call,
    ast.ListComp: _Interpreter.comprehension,
    ast.GeneratorExp: _Interpreter.comprehension,
}

_ARITHMETIC: Mapping[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}

_ORDERINGS: Mapping[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class _Function:
    least: int
    most: int
    implementation: Callable[..., Any]

    def arity(self) -> str:
        if self.least == self.most:
            return f"{self.least} argument{'' if self.least == 1 else 's'}"
        if self.most >= MAX_NODES:
            return f"{self.least} or more arguments"
        return f"{self.least} or {self.most} arguments"


def _number(value: Any, name: str) -> Any:
    if not _is_number(value):
        raise _Failure(f"{name}() needs a number, not {_describe(value)}")
    return value


def _fn_len(run: _Interpreter, value: Any) -> int:
    return len(_items(value, "len()"))


def _fn_all(run: _Interpreter, value: Any) -> bool:
    items = _items(value, "all()")
    run.tick(len(items))
    return all(items)


def _fn_any(run: _Interpreter, value: Any) -> bool:
    items = _items(value, "any()")
    run.tick(len(items))
    return any(items)


def _extreme(run: _Interpreter, name: str, pick: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    items: Sequence[Any] = _items(args[0], f"{name}()") if len(args) == 1 else args
    if not items:
        raise _Failure(f"{name}() of an empty list")
    run.tick(len(items))
    try:
        return pick(items)
    except TypeError:
        kinds = sorted({_kind(item) for item in items})
        raise _Failure(f"{name}() cannot compare {' and '.join(kinds)}") from None


def _fn_min(run: _Interpreter, *args: Any) -> Any:
    return _extreme(run, "min", min, args)


def _fn_max(run: _Interpreter, *args: Any) -> Any:
    return _extreme(run, "max", max, args)


def _fn_sum(run: _Interpreter, value: Any) -> Any:
    items = _items(value, "sum()")
    run.tick(len(items))
    for item in items:
        _number(item, "sum")
    try:
        return _check_int(sum(items))
    except OverflowError:
        raise _Failure("number too large") from None


def _fn_abs(run: _Interpreter, value: Any) -> Any:
    return abs(_number(value, "abs"))


def _fn_round(run: _Interpreter, value: Any, digits: Any = None) -> Any:
    _number(value, "round")
    if digits is not None and (not isinstance(digits, int) or abs(digits) > MAX_EXPONENT):
        raise _Failure(f"round() digits must be a whole number up to {MAX_EXPONENT}")
    try:
        return round(value) if digits is None else round(value, digits)
    except (ValueError, OverflowError):
        raise _Failure(f"cannot round {_describe(value)}") from None


def _fn_float(run: _Interpreter, value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise _Failure(f"not a number: {_describe(value)}") from None
    try:
        return float(_number(value, "float"))
    except OverflowError:
        raise _Failure("number too large for a float") from None


def _fn_int(run: _Interpreter, value: Any) -> int:
    if isinstance(value, str):
        if len(value) > MAX_NUMBER_TEXT:
            raise _Failure(f"not a number: a string of {len(value)} characters")
        try:
            return int(value)
        except ValueError:
            raise _Failure(f"not a whole number: {_describe(value)}") from None
    try:
        return int(_number(value, "int"))
    except (ValueError, OverflowError):
        raise _Failure(f"cannot make a whole number of {_describe(value)}") from None


def _fn_is_nan(run: _Interpreter, value: Any) -> bool:
    if not _is_number(value):
        hint = " (for a list: any(isNaN(r) for r in result))" if isinstance(value, list) else ""
        raise _Failure(f"isNaN() needs a number, not {_describe(value)}{hint}")
    return isinstance(value, float) and math.isnan(value)


def _fn_is_inf(run: _Interpreter, value: Any) -> bool:
    if not _is_number(value):
        hint = " (for a list: any(isInf(r) for r in result))" if isinstance(value, list) else ""
        raise _Failure(f"isInf() needs a number, not {_describe(value)}{hint}")
    return isinstance(value, float) and math.isinf(value)


def _fn_is_nil(run: _Interpreter, value: Any) -> bool:
    return value is None


def _fn_default(run: _Interpreter, value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


FUNCTIONS: Mapping[str, _Function] = {
    "len": _Function(1, 1, _fn_len),
    "all": _Function(1, 1, _fn_all),
    "any": _Function(1, 1, _fn_any),
    "min": _Function(1, MAX_NODES, _fn_min),
    "max": _Function(1, MAX_NODES, _fn_max),
    "sum": _Function(1, 1, _fn_sum),
    "abs": _Function(1, 1, _fn_abs),
    "round": _Function(1, 2, _fn_round),
    "float": _Function(1, 1, _fn_float),
    "int": _Function(1, 1, _fn_int),
    "asFloat": _Function(1, 1, _fn_float),
    "asInt": _Function(1, 1, _fn_int),
    "isNaN": _Function(1, 1, _fn_is_nan),
    "isInf": _Function(1, 1, _fn_is_inf),
    "isNil": _Function(1, 1, _fn_is_nil),
    "default": _Function(2, 2, _fn_default),
}
"""Every function a condition may call, with how many arguments it takes."""
