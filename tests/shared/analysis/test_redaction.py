"""Redaction of secret arguments: every form a source may echo a secret in is masked, ordinary
text around it is kept, short secrets do not eat words, excerpts never show part of a secret,
and log records made while a provider works are masked.

Covers: each form (whole, percent-escaped in every flavour, JSON and Go escapes, Python
escapes, character references, escaped twice) of long, medium, short and non-ASCII secrets;
Basic credentials at every byte alignment, in both base64 alphabets; fragments of 8 characters
and more (Prometheus quoting the identifier it choked on, a truncated echo), and not fewer;
short secrets only where they stand alone; overlapping finds as one mask; the excerpt (redacted
before it is cut, one line, a text cut at ``SCAN`` shows no part of a secret cut in two); log
records; a Redactor's repr; and properties over random secrets, forms and surrounding words.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.analysis import arguments, redaction
from shared.analysis.redaction import MASK, Redactor
from tests.shared.analysis import leaks

TOKEN = 'Zq8-hunter2+Kx/9=ab é"<q>&'
"""A long secret with every character that escapes differently (made up, as all here)."""
PASSWORD = "Bq7vT2mLx9Rk4Wn8"
PIN = "Wx7Qz"
ASTRAL = "ключ-🔑-Schlüssel"
SHORT = "k9"


def redact(text: str, *secrets: str) -> str:
    """``text`` redacted as a run with these secret arguments redacts it."""
    values = {f"secret{i}": secret for i, secret in enumerate(secrets)}
    return arguments.ResolvedArgs(values, frozenset(values)).redact(text)


@pytest.mark.parametrize(
    "secret",
    [TOKEN, PASSWORD, PIN, ASTRAL, SHORT],
    ids=["long", "alphanumeric", "medium", "astral", "short"],
)
def test_every_form_of_a_secret_is_masked(secret: str) -> None:
    redacted = {
        form: redact(f"x={encode(secret)}; end", secret) for form, encode in leaks.ENCODERS.items()
    }

    assert {
        form: leaks.shown(secret, text)
        for form, text in redacted.items()
        if leaks.shown(secret, text)
    } == {}
    assert all(text.startswith("x=") and text.endswith("; end") for text in redacted.values())


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "ferry"], ids=lambda u: f"user{len(u)}")
def test_basic_credentials_are_masked_at_every_alignment(user: str) -> None:
    credentials = f"{user}:{PASSWORD}".encode()
    standard = base64.b64encode(credentials).decode()
    url_safe = base64.urlsafe_b64encode(credentials).decode()

    assert redact(f"Authorization: Basic {standard}\r\n", PASSWORD) == (
        f"Authorization: Basic {MASK}\r\n"
    )
    assert redact(f"auth={url_safe}&x=1", PASSWORD) == f"auth={MASK}&x=1"


def test_fragments_of_eight_characters_and_more_are_masked() -> None:
    secret = "Zq8hunter2Kx9ab-x/y+z=w"
    prometheus = '1:14: parse error: unexpected identifier "Zq8hunter2Kx9ab"'
    truncated = f"GET /api/v1/query?query={quote(secret, safe='')[:12]}"
    credentials = base64.b64encode(f"user:{secret}".encode()).decode()

    assert redact(prometheus, secret) == f'1:14: parse error: unexpected identifier "{MASK}"'
    assert redact(truncated, secret) == f"GET /api/v1/query?query={MASK}"
    assert redact(f"Basic {credentials[:20]}...", secret) == f"Basic {MASK}..."
    assert redact("near Zq8hunt here", secret) == "near Zq8hunt here"  # 7: below the rule


def test_short_secrets_are_masked_only_where_they_stand_alone() -> None:
    text = "HTTP 401 from /v40/x?pin=40&n=1400 (40)"

    assert redact(text, "40") == f"HTTP 401 from /v40/x?pin={MASK}&n=1400 ({MASK})"


def test_secrets_of_four_to_seven_characters_are_masked_inside_words() -> None:
    assert redact(f"abc{PIN}def abc{quote(PIN.lower())}x", PIN) == f"abc{MASK}def abc{PIN.lower()}x"
    assert redact("abc%57x7Qzdef", PIN) == f"abc{MASK}def"


def test_overlapping_finds_of_several_secrets_are_one_mask() -> None:
    assert redact("key=abcdefghijklmnop;", "abcdefghij", "ghijklmnop") == f"key={MASK};"


WORDS = st.lists(
    st.sampled_from(
        [
            "Prometheus",
            "answered",
            "HTTP",
            "400",
            "Bad",
            "Request,",
            "bad_data:",
            "1:14:",
            "parse",
            "error:",
            "unexpected",
            "identifier",
            "GET",
            "http://127.0.0.1:9090/api/v1/query",
            "x-token:",
            "(",
            ")",
        ]
    ),
    max_size=6,
).map(" ".join)
SECRETS = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Co", "Cn", "Zs", "Zl", "Zp"]),
    min_size=1,
    max_size=30,
).filter(lambda secret: "*" not in secret)


@settings(max_examples=300, deadline=None, database=None)
@given(secret=SECRETS, form=st.sampled_from(sorted(leaks.ENCODERS)), before=WORDS, after=WORDS)
def test_a_secret_in_any_form_is_masked_and_the_words_around_it_are_kept(
    secret: str, form: str, before: str, after: str
) -> None:
    assume(not leaks.shown(secret, f"{before} {after}"))
    text = f"{before} {leaks.ENCODERS[form](secret)} {after}"

    redacted = redact(text, secret)

    assert leaks.shown(secret, redacted) == []
    assert redacted.startswith(f"{before} ") and redacted.endswith(f" {after}")


@settings(max_examples=200, deadline=None, database=None)
@given(
    secret=st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=3),
    words=st.lists(st.tuples(st.sampled_from("xyz7"), st.sampled_from("pq8")), min_size=1),
)
def test_short_secrets_leave_the_words_and_numbers_that_hold_them(
    secret: str, words: list[tuple[str, str]]
) -> None:
    text = " ".join(f"{head}{secret}{tail}" for head, tail in words)

    assert redact(text, secret) == text


@settings(max_examples=200, deadline=None, database=None)
@given(secret=SECRETS.filter(lambda s: len(s) >= leaks.ALONE), at=st.integers(0, 400))
def test_an_excerpt_is_redacted_before_it_is_cut(secret: str, at: int) -> None:
    text = "x" * at + secret + " y" * 200

    redactor = Redactor([secret])
    excerpt = redactor.excerpt(text, limit=120)

    assert len(excerpt) <= 120 and excerpt.endswith("…")
    assert redactor.excerpt(text, limit=len(text)).startswith(excerpt.removesuffix("…"))
    assert leaks.shown(secret, excerpt.removesuffix("…")) == []


def test_an_excerpt_is_one_line_of_printable_text() -> None:
    text = f"line one\r\n\tline\x1b[31m two\u202e {TOKEN}\x00 end"

    assert Redactor([TOKEN]).excerpt(text) == f"line one line [31m two {MASK} end"
    assert Redactor().excerpt("a  b\n" * 100, limit=10) == "a b a b a…"


def test_an_excerpt_of_a_long_text_shows_no_part_of_a_secret_cut_at_the_end() -> None:
    secret = "Hq3-Xv9T-Lm2R-Wp5Zk"
    assert redaction.SCAN % len(secret) < leaks.FRAGMENT
    text = secret * (redaction.SCAN // len(secret) + 3)

    assert Redactor([secret]).excerpt(text[: redaction.SCAN + 1]) == f"{MASK}…"


def test_log_records_are_masked_while_hidden(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("urllib3.connectionpool")
    url = f"/api/v1/query?query=up+{quote(TOKEN)}"

    with redaction.hidden_from_logs(Redactor([TOKEN])):
        log.debug(
            '%s://%s:%s "%s %s %s" %s %s',
            "http",
            "127.0.0.1",
            9090,
            "GET",
            url,
            "HTTP/1.1",
            400,
            99,
        )
        try:
            raise ValueError(f"cannot read {TOKEN!r}")
        except ValueError:
            log.exception("request failed")
    log.debug("after: %s", "kept as it is")

    assert leaks.shown(TOKEN, caplog.text) == []
    assert f"/api/v1/query?query=up+{MASK}" in caplog.text
    assert "after: kept as it is" in caplog.text


def test_a_redactor_never_shows_its_secrets() -> None:
    redactor = Redactor([TOKEN, PIN, ""])

    assert repr(redactor) == "Redactor(2 secrets)" and bool(redactor)
    assert not Redactor([""]) and Redactor().redact(TOKEN) == TOKEN
