"""A function in a process of its own (``local.served``): ``ferry serve`` as its ServiceAccount,
started again when it dies, its API token read again as it is renewed on disk."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests
import yaml

from local.runtime import Options, Runtime
from shared import events
from shared.events import RolloutRef, Type
from shared.kube import Kube
from tests.flow.conftest import eventually, post_to


def test_a_served_function_that_dies_is_started_again_and_checks_its_senders() -> None:
    with Runtime(Options(tick=3600.0, data_plane=True)) as runtime:
        load = runtime.served["load"]
        first = load.pid
        assert first is not None
        hint = events.new(Type.LOAD_REQUESTED, RolloutRef("default", "nothing"), event_id="x-1")
        assert post_to(runtime, "load", hint) == 202  # no such rollout: nothing to do
        headers, body = events.to_http(hint)
        unsigned = requests.post(load.url, data=body, headers=headers, timeout=10)
        assert unsigned.status_code == 401  # the Broker's token or nothing
        os.kill(first, signal.SIGKILL)
        eventually(lambda: load.pid not in (None, first), timeout=10, what="started again")
        load.wait_ready()
        assert post_to(runtime, "load", hint) == 202
        assert load.restarts == 1


def test_a_kubeconfig_token_file_is_read_again_before_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"tokenFile": str(token)}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    configuration = Kube.from_env().api.configuration

    def sent() -> str:  # what the client puts in the Authorization header of a request
        return str(configuration.auth_settings()["BearerToken"]["value"])

    assert sent() == "Bearer first"
    token.write_text("renewed\n")
    assert sent() == "Bearer renewed"
