"""A condition's text: how it is written, and where each part of the tree stands in it.

The names (``true``/``false``/``nil``) and operator symbols of the language, the translation of
expr-lang's ``&&``, ``||`` and ``!`` (on tokens, so string literals stay intact) with a map of
every offset back to the text as written, and error messages that quote the part at fault.
Text in, text out: nothing here checks or evaluates a tree.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.analysis.expressions.errors import ExpressionError, Failure

ALIASES: Mapping[str, Any] = {"true": True, "false": False, "nil": None}
"""The constants a condition may name, expr-lang's spelling (Python's works too)."""

OPERATOR_SYMBOLS: Mapping[type[ast.AST], str] = {
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
"""How each operator is written, for messages about it."""


@dataclass(frozen=True)
class Source:
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
        return "" if position is None else f': "{cut(text)}" at position {position}'


def cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def translate(original: str) -> Source:
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
    return Source(original, translated[padding:], tuple(origin[padding:]))


def runtime_error(source: Source, failure: Failure) -> ExpressionError:
    reason, position = failure.reason, None
    if failure.node is not None:
        fragment, position = source.fragment(failure.node)
        if position is not None:
            reason = f'{reason}, in "{cut(fragment)}"'
    return ExpressionError(source.original, reason, position=position, evaluating=True)
