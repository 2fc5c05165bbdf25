"""The ``prometheus`` provider: one instant PromQL query through ``prometheus-api-client``.

Config (Argo Rollouts' field names): ``address``, ``query``, ``timeout`` (a duration such as
``10s``, or seconds; default 10 s, sent to Prometheus as the evaluation timeout and used as the
HTTP timeout), ``insecure`` (skip TLS verification), ``headers`` (``[{key, value}]``, e.g. an
Authorization header).

What a result becomes: an instant vector -> ``list[float]`` (ordered by label set, or in the
query's own order when it uses ``sort``/``sort_desc``); a scalar -> ``float``; a string ->
``str``; an empty vector -> no data. NaN and ±Inf stay floats. A range vector (matrix) is
refused: it is not one measurement. Unreachable server, timeout, a rejected query and other
non-2xx answers raise :class:`ProviderError`: the status and Prometheus' ``errorType`` in
Ferry's words (``Prometheus at http://host:9090 answered HTTP 400 Bad Request, bad_data``),
Prometheus' own ``error`` (``parse error: ...``, which may quote the query) or the body as its
``detail``, never cut or quoted here (the analysis redacts and shortens it). Warnings are the
observation's message, as Prometheus wrote them.

This module only queries; it never decides whether the value is good, and sends exactly one
request (the client's retry-with-backoff is switched off).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util import Retry

from shared.analysis.providers import Capability, Deps, MeasurementRef, Observation, ProviderError
from shared.analysis.providers import _http as _http

_SORTED = re.compile(r"\bsort(?:_desc|_by_label|_by_label_desc)?\s*\(")
"""Queries whose result order is the user's choice, kept as Prometheus returns it."""
_ERROR_TYPE = re.compile(r"[a-z][a-z_]{0,31}")
"""What Prometheus' ``errorType`` looks like (``bad_data``, ``timeout``): anything else is not
repeated in Ferry's words."""


_ONCE = Retry(total=0, read=False)
"""One attempt. The client's default retries with backoff (seconds of sleeping); read=False
keeps a read timeout a Timeout instead of a ConnectionError wrapping it."""


CAPABILITIES = frozenset({Capability.VALUE})


def create(deps: Deps) -> PrometheusProvider:
    return PrometheusProvider()


class PrometheusProvider:
    def measure(self, config: Mapping[str, Any], ref: MeasurementRef) -> Observation:
        address = str(config.get("address") or "").rstrip("/")
        query = str(config.get("query") or "").strip()
        if not address.startswith(("http://", "https://")):
            raise ProviderError("prometheus: address must be an http:// or https:// URL")
        if not query:
            raise ProviderError("prometheus: query is required")
        seconds = _http.timeout(config.get("timeout"))
        headers, insecure = _http.headers(config), _http.insecure(config)
        where = f"Prometheus at {_http.safe_url(address)}"

        # custom_query() returns only data.result: it drops resultType (which tells a scalar from
        # a string) and hides the error JSON in its exception's text. The session records the
        # raw answer so that both can be read from it.
        answers: list[requests.Response] = []
        session = requests.Session()
        session.verify = not insecure  # the client ignores disable_ssl when given a session
        session.hooks["response"].append(lambda response, *args, **kwargs: answers.append(response))
        try:
            with PrometheusConnect(
                url=address, headers=headers, session=session, retry=_ONCE, timeout=seconds
            ) as prometheus:
                prometheus.custom_query(query, params={"timeout": f"{seconds:g}"})
        except requests.JSONDecodeError:
            raise _rejected(where, answers[-1] if answers else None) from None
        except requests.RequestException as exc:
            raise _http.failure(exc, where, seconds) from None
        except (PrometheusApiClientException, ValueError, KeyError, TypeError):
            raise _rejected(where, answers[-1] if answers else None) from None
        return _observation(_body(where, answers[-1]), query)


def _body(where: str, response: requests.Response) -> dict[str, Any]:
    """The answer's JSON, checked to be a Prometheus query result."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise _rejected(where, response)
    if "resultType" not in body["data"] or "result" not in body["data"]:
        raise _rejected(where, response)
    return body


def _observation(body: Mapping[str, Any], query: str) -> Observation:
    data = body["data"]
    kind, result = data["resultType"], data["result"]
    warnings = "; ".join(str(w) for w in [*body.get("warnings", []), *body.get("infos", [])])
    if kind == "scalar":
        return Observation(_number(result[1]), message=warnings)
    if kind == "string":
        return Observation(str(result[1]), message=warnings)
    if kind == "matrix":
        raise ProviderError(
            "the query returns a range vector (matrix), which is not one measurement: "
            "aggregate it over the range, e.g. rate(x[5m]) instead of x[5m]"
        )
    if kind != "vector":
        raise ProviderError("Prometheus returned an unknown result type", str(kind))
    if not result:
        return Observation(None, message="no data" + (f" ({warnings})" if warnings else ""))
    if not _SORTED.search(query):
        result = sorted(result, key=lambda sample: sorted(sample.get("metric", {}).items()))
    values: list[float] = []
    for sample in result:
        if "value" not in sample:
            raise ProviderError(
                "the query returns native histogram samples: reduce them to numbers, "
                "e.g. with histogram_quantile() or histogram_count()"
            )
        values.append(_number(sample["value"][1]))
    return Observation(values, message=warnings)


def _number(text: Any) -> float:
    return float(text)  # Prometheus writes "NaN", "+Inf", "-Inf", which float() reads


def _rejected(where: str, response: requests.Response | None) -> ProviderError:
    """Prometheus refusing the query: the status and ``errorType``, with Prometheus' own
    ``error`` as the detail; for an answer that is not Prometheus' JSON, the body."""
    if response is None:
        return ProviderError(f"{where} gave no usable answer")
    status = f"{where} answered {_http.status(response.status_code)}"
    try:
        body = response.json()
    except ValueError:
        body = None
    error, kind = (body.get("error"), body.get("errorType")) if isinstance(body, dict) else ("", "")
    if isinstance(error, str) and error:
        shown = f", {kind}" if isinstance(kind, str) and _ERROR_TYPE.fullmatch(kind) else ""
        return ProviderError(status + shown, error)
    if response.ok:
        return ProviderError(f"{status} but not with Prometheus' JSON", response.text)
    return ProviderError(status, response.text)
