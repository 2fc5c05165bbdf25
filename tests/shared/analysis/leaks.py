"""Where a secret shows in a text, in any form a source could echo it: the tests' own look-out,
written apart from :mod:`shared.analysis.redaction` (it encodes the secret, where the redaction
decodes the text) so that the one checks the other.

:data:`ENCODERS` are the forms (each encodes character by character, so the form of a fragment
is a substring of the form of the whole); :func:`shown` names the forms in which a secret shows
in a text between masks, following the redaction's rules (fragments of 8 characters and more of
a long secret, the whole of a shorter one, standing alone when under 4 characters; base64
found by decoding). It returns names only, never the text: test output must not carry a secret.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

from shared.analysis.arguments import MASK

FRAGMENT, ALONE = 8, 4


def _utf16_escapes(text: str) -> str:
    units = text.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(text, safe=""))


def _go_json(text: str) -> str:
    escaped = json.dumps(text, ensure_ascii=False)[1:-1]
    return escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


ENCODERS: dict[str, Callable[[str], str]] = {
    "raw": lambda text: text,
    "quote": quote,
    "quote-all": lambda text: quote(text, safe=""),
    "quote-plus": quote_plus,
    "lower-hex": _lower_hex,
    "json": lambda text: json.dumps(text)[1:-1],
    "json-utf8": lambda text: json.dumps(text, ensure_ascii=False)[1:-1],
    "go-json": _go_json,
    "json-twice": lambda text: json.dumps(json.dumps(text))[3:-3],
    "unicode-escapes": _utf16_escapes,
    "python-escapes": lambda text: text.encode("unicode_escape").decode(),
    "html": html.escape,
    "quote-twice": lambda text: quote(quote(text, safe=""), safe=""),
}
"""Forms of a text, by name."""


def pieces(secret: str) -> list[str]:
    """What of ``secret`` must never show: its fragments of 8 characters (the whole when
    shorter)."""
    if len(secret) < FRAGMENT:
        return [secret]
    return [secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)]


def shown(secret: str, text: str) -> list[str]:
    """The names of the forms in which ``secret`` shows in ``text`` outside masks."""
    forms, pattern, wanted = _look_out(secret)
    found: set[str] = set()
    for part in text.split(MASK):
        if len(secret) < ALONE:
            found |= {name for form, names in forms.items() if _alone(form, part) for name in names}
        else:
            found |= {name for match in pattern.finditer(part) for name in forms[match.group()]}
            if any(wanted.search(data) for word in _WORD.findall(part) for data in _decoded(word)):
                found.add("base64")
    return sorted(found)


_WORD = re.compile(r"[A-Za-z0-9+/_-]{6,}")
"""What may be base64 holding 4 bytes or more."""


@functools.cache
def _look_out(secret: str) -> tuple[dict[str, set[str]], re.Pattern[str], re.Pattern[bytes]]:
    """Each piece of ``secret`` in each form -> the forms' names; one pattern finding them all;
    one finding the pieces' bytes."""
    forms: dict[str, set[str]] = {}
    for name, encode in ENCODERS.items():
        for piece in pieces(secret):
            forms.setdefault(encode(piece), set()).add(name)
    longest = sorted(forms, key=len, reverse=True)
    wanted = b"|".join(re.escape(piece.encode()) for piece in pieces(secret))
    return forms, re.compile("|".join(map(re.escape, longest))), re.compile(wanted)


def _alone(form: str, text: str) -> bool:
    """Whether ``form`` occurs in ``text`` with no letter or digit right before or after."""
    start = text.find(form)
    while start != -1:
        end = start + len(form)
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if not (before.isalnum() or after.isalnum()):
            return True
        start = text.find(form, start + 1)
    return False


@functools.lru_cache(maxsize=65536)
def _decoded(word: str) -> tuple[bytes, ...]:
    """A base64 word decoded from each of its first four characters (either alphabet)."""
    word = word.replace("-", "+").replace("_", "/")
    out = []
    for offset in range(4):
        chunk = word[offset:]
        chunk = chunk[: len(chunk) - len(chunk) % 4] if len(chunk) % 4 == 1 else chunk
        try:
            out.append(base64.b64decode(chunk + "=" * (-len(chunk) % 4)))
        except (binascii.Error, ValueError):
            continue
    return tuple(out)
