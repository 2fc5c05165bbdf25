"""The command lines: ``ferry serve`` (a function as its Knative Service runs it), ``ferry
--version`` and ``kubectl ferry`` found by the real kubectl's plugin mechanism."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from kubernetes import client

from local.sim.cluster import Simulator
from shared import events
from shared.events import RolloutRef, Type

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


AUDIENCE = "ferry.dev/functions/detect"


@dataclass
class Served:
    url: str
    sim: Simulator
    proc: subprocess.Popen[bytes]

    def token(self, namespace: str, audience: str = AUDIENCE) -> str:
        """A token of a ServiceAccount of ``namespace`` (made if needed) for ``audience``."""
        core = client.CoreV1Api(self.sim.api_client())
        with contextlib.suppress(client.ApiException):
            core.create_namespace({"metadata": {"name": namespace}})
        with contextlib.suppress(client.ApiException):
            core.create_namespaced_service_account(namespace, {"metadata": {"name": "sender"}})
        return self.sim.service_account_token(namespace, "sender", [audience])


@pytest.fixture
def served(redis_server: str, tmp_path: Path) -> Iterator[Served]:
    """``ferry serve detect`` in a subprocess, configured only by its environment."""
    with Simulator(controllers=False) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        port = free_port()
        env = dict(
            os.environ,
            REDIS_URL=redis_server,
            FERRY_BROKER_URL="http://127.0.0.1:9/x",
            FERRY_AUDIENCE=AUDIENCE,
            KUBECONFIG=str(kubeconfig),
            PORT=str(port),
        )
        proc = subprocess.Popen(
            [str(BIN / "ferry"), "serve", "detect"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{url}/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            else:
                proc.kill()
                raise AssertionError(f"ferry serve did not start: {proc.communicate()[0]!r}")
            yield Served(url, sim, proc)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_serve_answers_cloudevents_like_a_knative_service(served: Served) -> None:
    trusted = {"Authorization": f"Bearer {served.token('ferry-system')}"}
    malformed = requests.post(
        f"{served.url}/",
        data=b"{}",
        headers={"content-type": "application/json", **trusted},
        timeout=5,
    )
    assert malformed.status_code == 400
    assert "not a CloudEvent" in malformed.text
    event = events.new(
        Type.RESOURCE_ADDED,
        RolloutRef("default", "nothing"),
        data={"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}},
    )
    headers, body = events.to_http(event)
    answer = requests.post(f"{served.url}/", data=body, headers={**headers, **trusted}, timeout=5)
    assert answer.status_code == 202  # no rollout cares about a ConfigMap: done, no reply


def test_serve_accepts_only_tokens_of_its_senders_for_its_audience(served: Served) -> None:
    """Knative's sender identity: a delivery carries a token of the sender's ServiceAccount
    for the function's audience; by default the function's own namespace may send."""
    config_map = {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}
    event = events.new(Type.RESOURCE_ADDED, RolloutRef("default", "x"), data=config_map)
    headers, body = events.to_http(event)

    def post(authorization: str | None) -> requests.Response:
        extra = {"Authorization": authorization} if authorization else {}
        return requests.post(f"{served.url}/", data=body, headers={**headers, **extra}, timeout=5)

    missing = post(None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert post("Bearer not-a-token").status_code == 401
    elsewhere = served.token("ferry-system", audience="ferry.dev/functions/step")
    assert post(f"Bearer {elsewhere}").status_code == 401  # issued for another function
    stranger = post(f"Bearer {served.token('team-a')}")
    assert stranger.status_code == 403
    assert "system:serviceaccount:team-a:sender may not send events here" in stranger.text
    assert post(f"Bearer {served.token('ferry-system')}").status_code in (200, 202)


def test_serve_logs_json_lines_at_info(served: Served) -> None:
    """A collector parses the logs: every line is one JSON object, INFO included."""
    event = events.new(Type.RESOURCE_ADDED, RolloutRef("default", "x"), data={"kind": "Pod"})
    headers, body = events.to_http(event)
    trusted = {"Authorization": f"Bearer {served.token('ferry-system')}"}
    requests.post(f"{served.url}/", data=body, headers={**headers, **trusted}, timeout=5)
    served.proc.terminate()
    output, _ = served.proc.communicate(timeout=10)
    lines = [json.loads(line) for line in output.decode().splitlines() if line.strip()]
    assert lines, "ferry serve logged nothing"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["level"] == "INFO" for line in lines)


def test_serve_refuses_to_start_without_an_audience(redis_server: str) -> None:
    env = dict(os.environ, REDIS_URL=redis_server, FERRY_BROKER_URL="http://127.0.0.1:9/x")
    env.pop("FERRY_AUDIENCE", None)
    proc = subprocess.run(
        [str(BIN / "ferry"), "serve", "detect"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and "FERRY_AUDIENCE must be set" in proc.stderr


def test_serve_without_configuration_says_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FERRY_BROKER_URL")}
    proc = subprocess.run(
        [str(BIN / "ferry"), "serve", "detect"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert "REDIS_URL and FERRY_BROKER_URL must be set" in proc.stderr


def test_serve_refuses_an_unknown_function() -> None:
    proc = subprocess.run(
        [str(BIN / "ferry"), "serve", "nope"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and "unknown function 'nope'" in proc.stderr


def test_kubectl_finds_the_plugin() -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl must be installed for the tests"
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        [kubectl, "ferry", "version"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("kubectl-ferry ")
