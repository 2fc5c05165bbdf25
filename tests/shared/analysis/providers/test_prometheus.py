"""The ``prometheus`` provider against a real Prometheus scraping a real endpoint.

Covers: a vector query follows the counters the endpoint exposes (an error ratio), several
series come back ordered by labels unless the query sorts them, scalar / vector / string
results, NaN and Inf kept as floats, an empty vector is "no data", a range vector is refused,
bad PromQL carries Prometheus' own message, an unreachable or silent server is an error raised
at once (no retries), and configured headers are sent.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.analysis import providers
from shared.analysis.providers import MeasurementRef, Observation, ProviderError
from tests.prometheus import Metrics, Prometheus, eventually, free_port

REF = MeasurementRef(namespace="default", run="run-1", metric="error-rate", index=0)
ERRORS = "http_requests_total"


def measure(prometheus: Prometheus, query: str, **config: Any) -> Observation:
    provider = providers.get("prometheus")
    return provider.measure({"address": prometheus.url, "query": query, **config}, REF)


def test_error_ratio_follows_the_counters(prometheus: Prometheus, metrics: Metrics) -> None:
    metrics.set(ERRORS, 0, case="ratio", code="200")
    metrics.set(ERRORS, 0, case="ratio", code="500")
    eventually(lambda: len(prometheus.query(f'{ERRORS}{{case="ratio"}}')) == 2)
    metrics.add(ERRORS, 75, case="ratio", code="200")
    metrics.add(ERRORS, 25, case="ratio", code="500")
    query = (
        f'sum(increase({ERRORS}{{case="ratio",code="500"}}[1m]))'
        f' / sum(increase({ERRORS}{{case="ratio"}}[1m]))'
    )

    def ratio() -> Observation | None:
        seen = measure(prometheus, query)
        return seen if seen.value and seen.value[0] > 0 else None

    observation = eventually(ratio)
    assert observation.value == [pytest.approx(0.25)]
    assert observation.pending is False and observation.succeeded is None


def test_latency_gauge_is_read_as_set(prometheus: Prometheus, metrics: Metrics) -> None:
    metrics.set("request_latency_seconds", 0.125, case="latency")
    query = 'request_latency_seconds{case="latency"}'
    eventually(lambda: prometheus.query(query))

    assert measure(prometheus, query).value == [0.125]


def test_several_series_are_ordered_by_labels_unless_sorted(
    prometheus: Prometheus, metrics: Metrics
) -> None:
    metrics.set(ERRORS, 75, case="multi", code="200")
    metrics.set(ERRORS, 25, case="multi", code="500")
    selector = f'{ERRORS}{{case="multi"}}'
    eventually(lambda: len(prometheus.query(selector)) == 2)

    assert measure(prometheus, selector).value == [75.0, 25.0]
    assert measure(prometheus, f"sort({selector})").value == [25.0, 75.0]


def test_scalar_vector_and_string_results(prometheus: Prometheus) -> None:
    assert measure(prometheus, "1").value == 1.0
    assert measure(prometheus, "scalar(vector(2))").value == 2.0
    assert measure(prometheus, "vector(1)").value == [1.0]
    assert measure(prometheus, '"1"').value == "1"


def test_nan_and_inf_stay_floats(prometheus: Prometheus) -> None:
    (nan,) = measure(prometheus, "vector(0/0)").value
    assert math.isnan(nan)
    assert measure(prometheus, "1/0").value == math.inf
    assert measure(prometheus, "-1/0").value == -math.inf


def test_empty_vector_is_no_data(prometheus: Prometheus) -> None:
    observation = measure(prometheus, 'http_requests_total{case="never-exposed"}')

    assert observation.value is None
    assert observation.message == "no data"
    assert observation.pending is False


def test_range_vector_is_refused(prometheus: Prometheus) -> None:
    with pytest.raises(ProviderError, match=r"range vector \(matrix\)"):
        measure(prometheus, 'up{job="app"}[5s]')


def test_bad_promql_carries_prometheus_message(prometheus: Prometheus) -> None:
    with pytest.raises(ProviderError) as raised:
        measure(prometheus, "sum(rate(")

    error = raised.value
    assert str(error) == f"Prometheus at {prometheus.url} answered HTTP 400 Bad Request, bad_data"
    assert "parse error" in error.detail and error.report == f"{error}: {error.detail}"


def test_unreachable_address_fails_at_once() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ProviderError, match="Connection refused"):
        providers.get("prometheus").measure(
            {"address": f"http://127.0.0.1:{port}", "query": "up"}, REF
        )
    assert time.monotonic() - started < 1.0  # one attempt, no retry with backoff


def test_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ProviderError, match=r"did not answer within 0\.3s"):
            providers.get("prometheus").measure(
                {"address": f"http://127.0.0.1:{port}", "query": "up", "timeout": "300ms"}, REF
            )
        assert time.monotonic() - started < 2.0


@pytest.fixture
def guarded() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A server that answers like Prometheus only with the right Authorization header."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers.items()))
            if self.headers.get("Authorization") == "Bearer s3cret":
                status = 200
                body = b'{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}'
            else:
                status, body = 401, b"Unauthorized"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_headers_are_sent_and_never_reported(guarded: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = guarded
    provider = providers.get("prometheus")
    good = [{"key": "Authorization", "value": "Bearer s3cret"}]
    assert provider.measure({"address": url, "query": "x", "headers": good}, REF).value == 7.0
    assert seen[-1]["Authorization"] == "Bearer s3cret"

    wrong = [{"key": "Authorization", "value": "Bearer wrong-token"}]
    with pytest.raises(ProviderError) as raised:
        provider.measure({"address": url, "query": "x", "headers": wrong}, REF)
    assert raised.value.report.endswith("answered HTTP 401 Unauthorized: Unauthorized")
    assert "wrong-token" not in raised.value.report


def test_config_without_query_is_an_error(prometheus: Prometheus) -> None:
    with pytest.raises(ProviderError, match="query is required"):
        providers.get("prometheus").measure({"address": prometheus.url}, REF)
