"""Fixtures for simulator tests: a fresh simulator per test, reached over HTTP or in-process.

``sim`` is started with fast workload settings; ``api`` is the official client bound to it;
``kubectl`` runs the real kubectl binary against it with a kubeconfig written for the test.
``quiet`` runs no controllers (``bare`` is its client). ``cluster`` and ``frozen`` are for
tests that drive the controllers through the store: ``cluster`` with faster settings still,
``frozen`` on a clock that moves only when the test advances it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from local.sim.clock import ManualClock
from local.sim.cluster import Simulator
from local.sim.controllers import Settings

FAST = Settings(pod_ready_delay=0.1, job_run_seconds=0.1, tick=0.01)
QUICK = Settings(pod_ready_delay=0.05, job_run_seconds=0.05, tick=0.01)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(settings=FAST) as simulator:
        yield simulator


@pytest.fixture
def cluster() -> Iterator[Simulator]:
    with Simulator(settings=QUICK) as simulator:
        yield simulator


@pytest.fixture
def frozen() -> Iterator[tuple[Simulator, ManualClock]]:
    """A simulator whose clock only moves when the test says so."""
    clock = ManualClock()
    with Simulator(
        settings=Settings(pod_ready_delay=1, job_run_seconds=1, tick=0.01), clock=clock
    ) as simulator:
        yield simulator, clock


@pytest.fixture
def quiet() -> Iterator[Simulator]:
    """A simulator without controllers: nobody writes but the test."""
    with Simulator(settings=FAST, controllers=False) as simulator:
        yield simulator


@pytest.fixture
def bare(quiet: Simulator) -> Iterator[client.ApiClient]:
    """A client of :func:`quiet`, for workload objects no controller should touch."""
    with quiet.api_client() as api:
        yield api


@pytest.fixture
def api(sim: Simulator) -> Iterator[client.ApiClient]:
    api_client = sim.api_client()
    try:
        yield api_client
    finally:
        api_client.close()


class Kubectl:
    """Runs the real ``kubectl`` against the simulator."""

    def __init__(self, kubeconfig: Path) -> None:
        binary = shutil.which("kubectl")
        if binary is None:
            pytest.fail("kubectl is not on PATH: the simulator tests need the real binary")
        self.binary = binary
        self.kubeconfig = kubeconfig

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def kubectl(sim: Simulator, tmp_path: Path) -> Kubectl:
    return Kubectl(sim.write_kubeconfig(tmp_path / "kubeconfig"))


def eventually(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate`` returns something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
