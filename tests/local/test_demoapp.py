"""The demo app a live Pod runs: its tag's behaviours, and the real process over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from local.demoapp import behaviour


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ferry/demo-app:1.0.0", behaviour.Behaviour("1.0.0")),
        ("ferry/demo-app:2.0.0-errors50", behaviour.Behaviour("2.0.0", error_percent=50)),
        ("ferry/demo-app:3-slow300", behaviour.Behaviour("3", delay=0.3)),
        ("ferry/demo-app:4-crash", behaviour.Behaviour("4", crash=True)),
        (
            "registry.local:5000/ferry/demo-app:2.1-errors10-slow200",
            behaviour.Behaviour("2.1", error_percent=10, delay=0.2),
        ),
        ("ghcr.io/stefanprodan/podinfo:6.5.1", behaviour.Behaviour("6.5.1")),
        ("podinfo:2", behaviour.Behaviour("2")),
        ("ferry/demo-app", behaviour.Behaviour("latest")),
        ("ferry/demo-app:1-errors250", behaviour.Behaviour("1", error_percent=100)),
    ],
)
def test_the_tag_says_the_version_and_behaviour(image: str, expected: behaviour.Behaviour) -> None:
    assert behaviour.of(image) == expected
    assert behaviour.runs_demo_app(image)


@pytest.mark.parametrize(
    "image", ["nginx:1.27", "argoproj/rollouts-demo:blue", "ferry/demo-apps:1", "demo:purple"]
)
def test_other_images_keep_simulated_pods(image: str) -> None:
    assert not behaviour.runs_demo_app(image)


@given(percent=st.integers(min_value=0, max_value=100), start=st.integers(0, 10_000))
def test_errors_are_exactly_their_share_of_every_hundred(percent: int, start: int) -> None:
    found = behaviour.Behaviour("1", error_percent=percent)
    assert sum(found.fails(n) for n in range(start * 100, start * 100 + 100)) == percent


class Pod:
    """The demo app as the local kubelet runs it: a process on a free loopback port."""

    def __init__(self, image: str, tmp: Path, message: str = "") -> None:
        config = tmp / "config"
        config.mkdir(exist_ok=True)
        (config / "greeting").write_text("hello")
        env = dict(os.environ, PODINFO_UI_MESSAGE=message)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.demoapp",
                "--image",
                image,
                "--pod",
                "pod-1",
                "--config",
                str(config),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("listening on "), line
        self.url = f"http://127.0.0.1:{int(line.split()[-1])}"

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[list[Pod]]:
    started: list[Pod] = []
    yield started
    for pod in started:
        if pod.process.poll() is None:
            pod.process.kill()
            pod.process.wait()


def test_a_healthy_release_answers_with_its_version_pod_and_config(
    tmp_path: Path, pods: list[Pod]
) -> None:
    pod = Pod("ferry/demo-app:1.2.0", tmp_path, message="from env")
    pods.append(pod)
    answer = requests.get(f"{pod.url}/", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {
        "hostname": "pod-1",
        "version": "1.2.0",
        "message": "from env",
        "config": {"greeting": "hello"},
    }
    assert requests.get(f"{pod.url}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{pod.url}/healthz", timeout=5).status_code == 200
    assert pod.stop() == 0  # SIGTERM ends it (a deleted Pod's process)


def test_errors50_fails_half_and_its_metrics_say_so(tmp_path: Path, pods: list[Pod]) -> None:
    pod = Pod("ferry/demo-app:2.0.0-errors50", tmp_path)
    pods.append(pod)
    with requests.Session() as http:
        codes = [http.get(f"{pod.url}/api/info", timeout=5).status_code for _ in range(200)]
        metrics = http.get(f"{pod.url}/metrics", timeout=5).text
    assert codes.count(500) == 100 and codes.count(200) == 100
    served = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total"
    }
    assert served == {"200": 100.0, "500": 100.0}
    buckets = [
        s
        for family in text_string_to_metric_families(metrics)
        if family.name == "http_request_duration_seconds"
        for s in family.samples
        if s.name.endswith("_count")
    ]
    assert sum(s.value for s in buckets) == 200
    assert all(s.labels["path"] == "/api" for s in buckets)


def test_slow_adds_its_delay_and_crash_never_gets_ready(tmp_path: Path, pods: list[Pod]) -> None:
    slow = Pod("ferry/demo-app:3-slow300", tmp_path)
    pods.append(slow)
    started = time.monotonic()
    assert requests.get(f"{slow.url}/", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3
    crash = Pod("ferry/demo-app:4-crash", tmp_path)
    pods.append(crash)
    assert requests.get(f"{crash.url}/readyz", timeout=5).status_code == 503
    assert requests.get(f"{crash.url}/healthz", timeout=5).status_code == 200
