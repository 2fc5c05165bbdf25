"""Redaction: the values of secret arguments kept out of what Ferry stores, shows and logs.

A measurement's message and value come from a metric's source (an error body, Prometheus' own
message, a Job's reason) or are built from the arguments (a URL, a condition), and either may
echo a secret: whole, percent-escaped (``quote``, ``quote_plus``, either case of hex digits),
backslash-escaped (JSON, Go, Python: ``\\"``, ``\\u00e9``), as HTML character references,
base64-encoded inside a Basic ``Authorization`` header, or only in part (Prometheus quotes the
identifier it choked on, an endpoint truncates its echo). :meth:`Redactor.redact` is the one
function that masks all of these; :meth:`Redactor.excerpt` is the same redaction made into one
short line, for a status; :func:`hidden_from_logs` applies it to every log record made while a
provider works (HTTP libraries log request URLs, query string included, at DEBUG).

The rules, for each secret value (``FRAGMENT`` = 8, ``ALONE`` = 4):

- 8 characters or more: every fragment of at least 8 characters is masked wherever it occurs,
  so a partial or truncated echo is masked as well as the whole value; 8 characters are too
  many for an ordinary word to match a fragment of a random value by chance;
- 4 to 7 characters: the whole value, wherever it occurs (inside words too);
- 1 to 3 characters: the whole value only where it stands alone, with no letter or digit right
  before or after it: values that short occur by chance inside ordinary words and numbers
  (``HTTP 401``), and masking every such occurrence would destroy the message while hiding
  next to nothing;
- in base64 (standard and URL-safe alphabets, at each of the three byte alignments, as
  ``user:password`` shifts it), the same: the value, or each fragment of 8 characters when it
  is longer, masks the whole base64 word that holds it (a Basic header becomes ``Basic *****``);
  the 1 to 3 characters of a short secret are not looked for there.

Each value is looked for in the text as it is and in the text decoded once or twice by each of
the decoders (percent escapes, with or without ``+`` as a space; backslash escapes; character
references), so an escape is recognised whichever characters the escaping tool chose to escape;
whatever is found is masked in the original text, overlapping or touching finds as one
:data:`MASK`.

What it must not do: keep a secret anywhere but in memory (a :class:`Redactor` shows only how
many it holds), do I/O or log. It knows nothing of where a text comes from: the analysis
(:mod:`.runs`, :mod:`.measurements`) decides what passes through it.
"""

from __future__ import annotations

import base64
import codecs
import html
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

MASK = "*****"
"""What a secret is shown as (Argo's redaction)."""
FRAGMENT = 8
"""Fragments of a secret this long or longer are masked wherever they occur."""
ALONE = 4
"""Secrets shorter than this are masked only where they stand alone."""
LINE = 256
"""The most characters :meth:`Redactor.excerpt` makes of a text by default."""
SCAN = 65536
"""How much of a text :meth:`Redactor.excerpt` reads: far more than an excerpt shows."""
DEPTH = 2
"""How many decoders are applied one over another (a JSON-escaped URL, a JSON value that
holds JSON)."""
_WIDEST = 80
"""The most characters one character of a secret becomes through ``DEPTH`` encodings
(an astral character as a JSON surrogate pair, JSON-escaped again: 72)."""
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_URL_SAFE = str.maketrans("+/", "-_")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+")
"""Whitespace, control and direction-changing characters: one space in an excerpt."""


class Redactor:
    """Masks the given secret values in any text (see the module's rules); empty when there
    are none, and then leaves text as it is."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {value for value in secrets if value}
        plain: set[str] = set()
        alone: set[str] = set()
        cores: set[str] = set()
        for value in values:
            if len(value) < ALONE:
                alone.add(value)
                continue
            pieces = [value[i : i + FRAGMENT] for i in range(len(value) - FRAGMENT + 1)]
            for piece in pieces or [value]:
                plain.add(piece)
                cores |= _base64_cores(piece)
        choices = [re.escape(p) for p in _longest_first(plain)] + [
            rf"(?<![^\W_]){re.escape(a)}(?![^\W_])" for a in _longest_first(alone)
        ]
        # a lookahead finds overlapping occurrences; the longest choice at a place comes first
        self._plain = re.compile(f"(?=({'|'.join(choices)}))") if choices else None
        self._base64 = (
            re.compile("|".join(map(re.escape, _longest_first(cores)))) if cores else None
        )
        self._count = len(values)
        self._reach = _WIDEST * max(map(len, plain | alone | cores), default=0)
        """How far past a cut a masked occurrence may reach back into the text before it."""

    def __bool__(self) -> bool:
        return self._count > 0

    def __repr__(self) -> str:
        return f"Redactor({self._count} secrets)"

    def redact(self, text: str) -> str:
        """``text`` with every secret, in every form, replaced by :data:`MASK`."""
        if not self:
            return text
        return _masked(text, self._found(text), len(text))

    def excerpt(self, text: str, limit: int = LINE) -> str:
        """``text`` redacted, then made one line (runs of whitespace and control characters
        become one space) of at most ``limit`` characters, its end marked with ``…``.

        Only the first :data:`SCAN` characters of a longer text are read, and of those only
        what lies clear of the cut: a secret cut in two is never shown in part."""
        cut = len(text) > SCAN
        if cut:
            text = text[:SCAN]
        stop = max(0, SCAN - self._reach) if cut else len(text)
        line = _UNSAFE.sub(" ", _masked(text, self._found(text), stop)).strip()
        if len(line) <= limit and not cut:
            return line
        end = limit - 1
        mask = line.rfind(MASK, 0, end + len(MASK) - 1)
        if mask != -1 and mask + len(MASK) > end:
            end = mask  # no mask cut in half: it would look like text
        return line[:end].rstrip() + "…"

    def _found(self, text: str) -> list[tuple[int, int]]:
        """Where in ``text`` the secrets are: sorted, disjoint ``(start, end)`` spans."""
        if not self:
            return []
        spans: list[tuple[int, int]] = []
        for view in _views(text):
            if self._plain is not None:
                for match in self._plain.finditer(view.text):
                    spans.append(view.span(*match.span(1)))
            if self._base64 is not None:
                for match in self._base64.finditer(view.text):
                    spans.append(view.span(*_word(view.text, *match.span())))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def _longest_first(texts: Iterable[str]) -> list[str]:
    return sorted(texts, key=lambda text: (-len(text), text))


def _masked(text: str, spans: list[tuple[int, int]], stop: int) -> str:
    """``text`` up to ``stop`` with each span replaced by :data:`MASK`."""
    out: list[str] = []
    last = 0
    for start, end in spans:
        if start >= stop:
            break
        out += [text[last:start], MASK]
        last = end
    if last < stop:
        out.append(text[last:stop])
    return "".join(out)


def _base64_cores(value: str) -> set[str]:
    """The base64 characters that depend on ``value``'s bytes alone, at each alignment (what
    any base64 text holding ``value`` contains), in both alphabets; none shorter than
    :data:`ALONE` (4 characters of a secret always give 4 or more)."""
    data = value.encode()
    cores: set[str] = set()
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + data).decode()
        core = encoded[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6]
        if len(core) >= ALONE:
            cores |= {core, core.translate(_URL_SAFE)}
    return cores


def _word(text: str, start: int, end: int) -> tuple[int, int]:
    """The base64 word around ``text[start:end]``, padding included."""
    while start > 0 and text[start - 1] in _BASE64:
        start -= 1
    while end < len(text) and (text[end] in _BASE64 or text[end] == "="):
        end += 1
    return start, end


# -- decoded views of a text ------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """A text decoded from the original one: its character ``i`` comes from the original's
    ``starts[i]:ends[i]``."""

    text: str
    starts: list[int]
    ends: list[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Where ``text[start:end]`` comes from in the original."""
        return self.starts[start], self.ends[end - 1]


_Piece = tuple[str, int, int]
"""Decoded characters, and the part of the match (start, end) they come from."""


def _percent(match: re.Match[str]) -> list[_Piece]:
    run = match.group()
    if run == "+":
        return [(" ", 0, 1)]
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pieces: list[_Piece] = []
    first = 0
    for at in range(0, len(run), 3):
        chars = decoder.decode(bytes.fromhex(run[at + 1 : at + 3]))
        if chars:
            pieces.append((chars, first, at + 3))
            first = at + 3
    rest = decoder.decode(b"", final=True)
    return [*pieces, (rest, first, len(run))] if rest else pieces


_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a", "0": "\0"}


def _backslash(match: re.Match[str]) -> list[_Piece]:
    escape = match.group()
    body = escape[1:]
    char = _SIMPLE.get(body, body)
    if len(body) == 11:  # a UTF-16 surrogate pair, \uD83D\uDE00
        high, low = int(body[1:5], 16), int(body[7:11], 16)
        char = chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    elif len(body) > 1 and int(body[1:], 16) <= 0x10FFFF:
        char = chr(int(body[1:], 16))
    return [(char, 0, len(escape))]


def _reference(match: re.Match[str]) -> list[_Piece]:
    reference = match.group()
    char = html.unescape(reference)
    if char == reference:  # not a reference html knows: the characters stay as they are
        return [(c, i, i + 1) for i, c in enumerate(reference)]
    return [(char, 0, len(reference))]


_DECODERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], list[_Piece]]], ...] = (
    (re.compile(r"(?:%[0-9A-Fa-f]{2})+"), _percent),
    (re.compile(r"(?:%[0-9A-Fa-f]{2})+|\+"), _percent),
    (
        re.compile(
            r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
            r"|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)",
            re.DOTALL,
        ),
        _backslash,
    ),
    (re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"), _reference),
)


def _decoded(
    view: _View, pattern: re.Pattern[str], pieces: Callable[[re.Match[str]], list[_Piece]]
) -> _View | None:
    """``view`` with every match of ``pattern`` decoded; None when nothing matched."""
    text, out, starts, ends = view.text, [], [], []
    last = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        out.append(text[last:start])
        starts += view.starts[last:start]
        ends += view.ends[last:start]
        for chars, first, after in pieces(match):
            out.append(chars)
            starts += [view.starts[start + first]] * len(chars)
            ends += [view.ends[start + after - 1]] * len(chars)
        last = end
    if not out:
        return None
    out.append(text[last:])
    return _View("".join(out), starts + view.starts[last:], ends + view.ends[last:])


def _views(text: str) -> Iterator[_View]:
    """``text`` as it is, then decoded by each decoder, then each of those decoded again."""
    layer = [_View(text, list(range(len(text))), list(range(1, len(text) + 1)))]
    yield layer[0]
    for _ in range(DEPTH):
        decoded = []
        for view in layer:
            for index, (pattern, pieces) in enumerate(_DECODERS):
                if index == 1 and "+" not in view.text:
                    continue  # the same as the first decoder's
                found = _decoded(view, pattern, pieces)
                if found is not None:
                    decoded.append(found)
                    yield found
        layer = decoded


# -- log records --------------------------------------------------------------------------------

_ACTIVE: ContextVar[Redactor | None] = ContextVar("ferry_redactor", default=None)
_INSTALLING = threading.Lock()
_installed = False


@contextmanager
def hidden_from_logs(redactor: Redactor) -> Iterator[None]:
    """Within the block, every log record made in this thread or task, by any logger, has
    ``redactor``'s secrets masked in its message, exception and stack text as it is made.

    Works through the logging module's record factory, wrapped once (the factory found then
    still makes the records)."""
    _install()
    token = _ACTIVE.set(redactor)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _install() -> None:
    global _installed
    with _INSTALLING:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redactor = _ACTIVE.get()
            if redactor:
                _scrub(record, redactor)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _scrub(record: logging.LogRecord, redactor: Redactor) -> None:
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: logging would report them raw
        message = f"{record.msg} (arguments not shown)"
    record.msg, record.args = redactor.redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redactor.redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
