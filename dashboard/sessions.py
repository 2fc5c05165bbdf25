"""Signed session cookies and CSRF tokens.

A session is Flask's cookie signed with the dashboard's secret (itsdangerous): it holds the
person (name, uid, groups), a CSRF token and when it was issued, never a credential. It is
``HttpOnly``, ``SameSite=Strict`` and ``Secure`` unless configured off for plain-HTTP local
use, and expires after :data:`MAX_AGE` whatever the browser keeps. Every state-changing
request carries the CSRF token (header ``X-CSRF-Token`` or form field ``csrf``) and, when the
browser sends one, an ``Origin`` of the dashboard's own.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Request, session

from dashboard.identity import Person

MAX_AGE = 8 * 3600
"""Seconds a sign-in lasts."""
CSRF_HEADER = "X-CSRF-Token"


def sign_in(person: Person) -> None:
    session.clear()
    session["person"] = person.as_dict()
    session["csrf"] = secrets.token_urlsafe(32)
    session["issued"] = time.time()
    session.permanent = True


def sign_out() -> None:
    session.clear()


def person() -> Person | None:
    """The signed-in person, or None (no session, or an expired one)."""
    issued = session.get("issued")
    if not isinstance(issued, (int, float)) or time.time() - issued > MAX_AGE:
        return None
    return Person.from_dict(session.get("person"))


def csrf_token() -> str:
    return str(session.get("csrf") or "")


def csrf_ok(request: Request) -> bool:
    """The request carries this session's CSRF token."""
    expected = csrf_token()
    given = request.headers.get(CSRF_HEADER) or request.form.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def same_origin(request: Request) -> bool:
    """No ``Origin`` header (not a browser's cross-site request), or the dashboard's own."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.host


def settings(secure: bool) -> dict[str, Any]:
    """The Flask configuration of the session cookie."""
    return {
        "SESSION_COOKIE_NAME": "ferry_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": MAX_AGE,
    }
