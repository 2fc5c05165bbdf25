"""The ``web`` provider: one HTTP request, and a value picked out of its JSON answer.

Config (Argo Rollouts' field names): ``url``; ``method`` (GET, the default, POST or PUT);
``headers`` (``[{key, value}]``); ``body`` (a string sent as is, or an object/list sent as JSON;
``jsonBody`` is accepted too); ``timeoutSeconds`` (default 10); ``jsonPath`` (e.g.
``{$.data.ok}``, the Kubernetes subset of :mod:`shared.jsonpath`); ``insecure`` (skip TLS
verification).

What the answer becomes: with ``jsonPath``, one match -> that value, several -> a list, none ->
no data; without it, the whole JSON document, or the text when the answer is not JSON. A non-2xx
answer raises :class:`ProviderError` saying the status (``GET http://host/path answered HTTP 404
Not Found``) with the body as its ``detail``; so does a non-JSON answer that a ``jsonPath`` was
to read; connection failures and timeouts raise it too. Header values (tokens) never appear in
Ferry's words, and URLs are shown without credentials or query string; the body, which may
echo any of them, is never cut or quoted here (the analysis redacts and shortens it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from shared import jsonpath
from shared.analysis.providers import Capability, Deps, MeasurementRef, Observation, ProviderError
from shared.analysis.providers import _http as _http

METHODS = ("GET", "POST", "PUT")


CAPABILITIES = frozenset({Capability.VALUE})


def create(deps: Deps) -> WebProvider:
    return WebProvider(deps.session)


class WebProvider:
    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session
        """Sends the requests; None: a new session per measurement."""

    def measure(self, config: Mapping[str, Any], ref: MeasurementRef) -> Observation:
        url = str(config.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ProviderError("web: url must be an http:// or https:// URL")
        method = str(config.get("method") or "GET").upper()
        if method not in METHODS:
            raise ProviderError(f"web: method must be one of {', '.join(METHODS)}, not {method}")
        body = config.get("jsonBody", config.get("body"))
        if body is not None and method == "GET":
            raise ProviderError("web: a body can only be sent with POST or PUT")
        try:
            path = jsonpath.parse(config["jsonPath"]) if config.get("jsonPath") else None
        except jsonpath.JsonPathError as exc:
            raise ProviderError(f"web: {exc}") from None
        seconds = _http.timeout(config.get("timeoutSeconds"))
        where = f"{method} {_http.safe_url(url)}"

        session = self.session or requests.Session()
        try:
            response = session.request(
                method,
                url,
                headers=_http.headers(config),
                data=body if isinstance(body, str | bytes) else None,
                json=body if not isinstance(body, str | bytes) else None,
                timeout=seconds,
                verify=not _http.insecure(config),
            )
        except requests.RequestException as exc:
            raise _http.failure(exc, where, seconds) from None
        finally:
            if self.session is None:
                session.close()

        text = response.text
        if not 200 <= response.status_code < 300:
            raise ProviderError(f"{where} answered {_http.status(response.status_code)}", text)
        try:
            document = response.json()
        except ValueError:
            if path is not None:
                raise ProviderError(
                    f"{where} did not answer JSON, so jsonPath {path.text} cannot apply", text
                ) from None
            return Observation(text) if text else Observation(None, message="empty answer")
        if path is None:
            return Observation(document)
        found = path.select(document)
        if not found:
            return Observation(None, message=f"no data: jsonPath {path.text} selected nothing")
        return Observation(found[0] if len(found) == 1 else found)
