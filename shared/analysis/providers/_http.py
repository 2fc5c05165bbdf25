"""What the HTTP-based providers (``prometheus``, ``web``) read from their config the same way.

Headers, timeouts, TLS verification, an HTTP status in Ferry's words, and turning a
``requests`` failure into a short message that names the host but never a header value, a
password or a query string. No requests are sent from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from shared.analysis.providers import ProviderError
from shared.models import parse_duration

DEFAULT_TIMEOUT = 10.0
"""Seconds a provider waits for an answer when the config does not say."""


def headers(config: Mapping[str, Any]) -> dict[str, str]:
    """``headers: [{key, value}, ...]`` (Argo's shape) or a plain mapping, as a dict."""
    raw = config.get("headers") or []
    if isinstance(raw, Mapping):
        return {str(key): str(value) for key, value in raw.items()}
    if not isinstance(raw, list):
        raise ProviderError("headers must be a list of {key, value}")
    result: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, Mapping) or not item.get("key"):
            raise ProviderError("every header needs a key and a value")
        result[str(item["key"])] = str(item.get("value", ""))
    return result


def timeout(value: Any) -> float:
    """Seconds from a duration (``10s``, ``500ms``) or a number; the default when absent."""
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value) if isinstance(value, float) else parse_duration(value)
    except ValueError as exc:
        raise ProviderError(f"invalid timeout: {exc}") from None
    if seconds <= 0:
        raise ProviderError(f"invalid timeout {value!r}: must be more than zero")
    return seconds


def insecure(config: Mapping[str, Any]) -> bool:
    """Whether TLS certificates are NOT to be verified (``insecure: true``)."""
    value = config.get("insecure", False)
    if not isinstance(value, bool):
        raise ProviderError("insecure must be true or false")
    return value


def safe_url(url: str) -> str:
    """``url`` without credentials, query string or fragment, for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def status(code: int) -> str:
    """``HTTP 404 Not Found``: the code and its standard phrase, never the reason phrase the
    server sent (it may put anything there, a secret it was sent included)."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def failure(exc: requests.RequestException, what: str, seconds: float) -> ProviderError:
    """A readable error for a request that got no answer. ``what`` names the target."""
    cause = _innermost(exc)
    if isinstance(exc, requests.ConnectTimeout) or (
        # urllib3's NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError
        isinstance(cause, ConnectTimeoutError) and not isinstance(cause, NewConnectionError)
    ):
        return ProviderError(f"{what}: could not connect within {seconds:g}s")
    if isinstance(exc, requests.Timeout) or isinstance(cause, TimeoutError | ReadTimeoutError):
        return ProviderError(f"{what} did not answer within {seconds:g}s")
    text = str(cause)
    if "Max retries exceeded" in text:
        text = type(cause).__name__  # that message is mostly the URL: say only the kind
    elif text.startswith("HTTP") and "): " in text:  # "HTTPConnection(host=..., port=...): ..."
        text = text.split("): ", 1)[1]
    return ProviderError(f"{what}: {text or type(cause).__name__}")


def _innermost(exc: BaseException) -> BaseException:
    """The root cause of a requests/urllib3 error (whose outer messages repeat the URL, and
    with it a query string that may hold a secret)."""
    cause = exc
    for _ in range(10):  # a few wrappers deep at most; the bound only guards against a cycle
        reason = getattr(cause, "reason", None)
        inner = [reason, *cause.args] if isinstance(reason, BaseException) else [*cause.args]
        nested = next((e for e in inner if isinstance(e, BaseException) and e is not cause), None)
        if nested is None:
            break
        cause = nested
    return cause
