"""Fixtures for end-to-end rollout tests: the whole local runtime, driven over HTTP.

``runtime`` is ``ferry up`` on a fresh simulator and Redis, with fast Pods, fault injection
armed-able and no periodic tick (tests call ``runtime.tick()``). ``kube`` talks to its cluster.
``Demo`` creates the usual objects (Deployment, Ingress, Rollout) and waits on the state.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cloudevents.core.v1.event import CloudEvent

from local import demo
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from local.slack_api import SlackApi
from shared import commands, configs, events, models, sink, subscriptions
from shared.events import RolloutRef
from shared.kube import Kube, Transient
from shared.state import RolloutState, Stage

FAST = SimSettings(pod_ready_delay=0.1, job_run_seconds=0.1, tick=0.01)
REF = RolloutRef(demo.NAMESPACE, demo.NAME)


def fast_options(**overrides: Any) -> Options:
    options = Options(tick=3600.0, sim_settings=FAST, fault_injection=True)
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime(fast_options()) as started:
        yield started


@pytest.fixture
def kube(runtime: Runtime) -> Kube:
    assert runtime.sim is not None
    return Kube(runtime.sim.api_client())


class JsonEndpoint:
    """A small real HTTP endpoint for web metrics: answers ``answer()`` as JSON to every GET
    (``by_path``: the answer to each request's path), counting the requests and keeping the
    headers and the path each came with."""

    def __init__(
        self,
        answer: Callable[[], Any] = dict,
        path: str = "/check",
        *,
        by_path: Callable[[str], Any] | None = None,
    ) -> None:
        self.hits = 0
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.hits += 1
                endpoint.headers.append(dict(self.headers.items()))
                endpoint.paths.append(self.path)
                found = by_path(self.path) if by_path is not None else answer()
                body = json.dumps(found).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Check:
    """A web metric's endpoint: answers ok until told otherwise; knows the tokens it got."""

    def __init__(self) -> None:
        self.ok = True
        self.endpoint = JsonEndpoint(lambda: {"ok": 1 if self.ok else 0})
        self.url = self.endpoint.url

    @property
    def tokens(self) -> set[str]:
        return {h.get("X-Token", "") for h in self.endpoint.headers}


@pytest.fixture
def check() -> Iterator[Check]:
    found = Check()
    try:
        yield found
    finally:
        found.endpoint.stop()


def let_analyses_read_secrets(kube: Kube, namespace: str = demo.NAMESPACE) -> None:
    """What a namespace does to let Ferry's analyses read its Secrets (knative/rbac.yaml)."""
    bind_reader(
        kube, "ferry-analysis-secrets", "ferry-analysis-secret-reader", "ferry-analysis", namespace
    )


def bind_reader(
    kube: Kube, name: str, role: str, account: str, namespace: str = demo.NAMESPACE
) -> None:
    """A namespace's RoleBinding of one of Ferry's Secret readers to its ServiceAccount."""
    kube.request(
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        body={
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "ferry-system"}],
        },
    )


def publish(runtime: Runtime, event: CloudEvent) -> None:
    """Send ``event`` to the Broker as a component of Ferry (with its token), as timers and the
    tick do."""
    sink.send(runtime.broker_url, event, token=lambda: runtime.token(runtime.audience()))


def post_to(runtime: Runtime, function: str, event: CloudEvent) -> int:
    """POST ``event`` straight to a function as the Broker would (with a token for the
    function's audience); the HTTP status."""
    headers, body = events.to_http(event)
    headers["Authorization"] = f"Bearer {runtime.token(runtime.audience(function))}"
    url = runtime.function_url(function)
    return requests.post(url, data=body, headers=headers, timeout=30).status_code


def run_cli(runtime: Runtime, *argv: str, stdin: str | None = None) -> str:
    """``kubectl ...`` (or ``kubectl ferry ...``) against the runtime, as a person runs it
    (``KUBECONFIG`` set, Ferry's plugin on ``PATH``); its output, or the test fails with its
    error."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = dict(os.environ, PATH=path, KUBECONFIG=runtime.kubeconfig)
    done = subprocess.run(
        list(argv), input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def eventually(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what or 'condition'} not met within {timeout}s (last: {value!r})")


class Demo:
    """The demo's podinfo objects in a runtime, and ways to wait on its rollout."""

    def __init__(self, runtime: Runtime, kube: Kube) -> None:
        assert runtime.store is not None
        self.runtime, self.kube, self.store = runtime, kube, runtime.store
        self._people: dict[str, Kube] = {}

    def person(self, user: str) -> Kube:
        """The API as ``user``, who authenticates with a token and may do anything."""
        if user not in self._people:
            assert self.runtime.sim is not None
            token = self.runtime.sim.add_user(user, ["system:masters"])
            self._people[user] = Kube(self.runtime.sim.api_client(token=token))
        return self._people[user]

    def create(
        self, steps: list[dict[str, Any]] | None = None, image: str = "podinfo:1", **spec: Any
    ) -> None:
        self.kube.create(demo.deployment(image))
        self.kube.create(demo.ingress())
        self.kube.create(demo.rollout(steps, **spec))

    def state(self) -> RolloutState:
        return self.store.load(REF)

    def wait(self, stage: Stage, timeout: float = 15.0, **fields: Any) -> RolloutState:
        """Wait until the committed state is ``stage`` with ``fields``, and until the function
        that committed it has answered: a function brings the traffic levels (weights,
        replicas) to its committed state before it replies, so after this they agree."""

        def reached() -> RolloutState | None:
            state = self.state()
            ok = state.stage == stage and all(getattr(state, k) == v for k, v in fields.items())
            return state if ok else None

        result: RolloutState = eventually(reached, timeout, f"stage {stage} {fields}")
        settle(self.runtime)
        return result

    def set_image(self, image: str) -> str:
        """Change the target's image; returns the new revision."""
        self.kube.merge_patch(
            "apps/v1",
            "deployments",
            demo.NAMESPACE,
            demo.NAME,
            {"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": image}]}}}},
        )
        target = self.kube.deployment(demo.NAMESPACE, demo.NAME)
        assert target is not None
        return configs.revision(self.kube, target, self.store.config_key())

    def weight(self) -> int | None:
        ingress = self.kube.get(
            "networking.k8s.io/v1", "ingresses", demo.NAMESPACE, f"{demo.NAME}-canary"
        )
        if ingress is None:
            return None
        value = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
        return int(value)

    def history(self) -> list[dict[str, Any]]:
        return self.store.history(REF)

    def command(
        self,
        action: str,
        user: str = "alice",
        *,
        full: bool = False,
        when: float | None = None,
        rollout: str = demo.NAME,
    ) -> CloudEvent:
        """Append a command to the Rollout's ``status.commands`` as ``kubectl ferry`` does (the
        API server is the door for people), and return the event that announces it (of the
        demo's rollout unless another is named)."""
        stamp = time.time() if when is None else when
        entry = {
            "id": f"c-{uuid.uuid4().hex[:12]}",
            "action": action,
            "user": user,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)),
            **({"full": True} if full else {}),
        }
        as_user = self.person(user)
        for _ in range(20):
            obj = as_user.rollout(demo.NAMESPACE, rollout)
            assert obj is not None
            listed = [*((obj.get("status") or {}).get("commands") or [])[-19:], entry]
            body = {
                "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "status": {"commands": listed},
            }
            try:
                as_user.merge_patch(
                    models.API_VERSION, models.PLURAL, demo.NAMESPACE, rollout, body, sub="status"
                )
            except Transient:
                continue
            return commands.Command(entry["id"], action, user, stamp, full).event(
                RolloutRef(demo.NAMESPACE, rollout)
            )
        raise AssertionError("the command could not be appended")


@pytest.fixture
def podinfo(runtime: Runtime, kube: Kube) -> Demo:
    return Demo(runtime, kube)


# -- appended: recording every version of an object ------------------------------------------


class Recorder:
    """Every version of one object, in the order the API server wrote them.

    A watch from the resourceVersion of a list taken at :meth:`start`, read by a background
    thread: each write after that is recorded, however briefly it lasted, so a test can check
    what happened *along the way* without polling (and without timing luck). The first entry
    is the object as listed (absent if it did not exist yet); deleted objects are recorded as
    ``{"deleted": True, **object}``.
    """

    def __init__(
        self, kube: Kube, api_version: str, plural: str, name: str, namespace: str = demo.NAMESPACE
    ) -> None:
        self.kube, self.name = kube, name
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        self.path = f"{base}/namespaces/{namespace}/{plural}"
        self._versions: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Recorder:
        listed = self.kube.request("GET", self.path, query=self._selector())
        for item in listed.get("items", []):
            self._versions.append(item)
        version = str(listed["metadata"]["resourceVersion"])
        self._thread = threading.Thread(target=self._run, args=(version,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()  # a read blocked on the watch returns at once
        if self._thread is not None:
            self._thread.join(timeout=5)

    def versions(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._versions)

    def _selector(self) -> dict[str, str]:
        return {"fieldSelector": f"metadata.name={self.name}"}

    def _run(self, version: str) -> None:
        query = {
            **self._selector(),
            "watch": "true",
            "resourceVersion": version,
            "timeoutSeconds": "300",
        }
        params = self.kube.api.param_serialize(
            "GET",
            self.path,
            query_params=list(query.items()),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.kube.api.call_api(*params, _request_timeout=(10, 330)).response
        with self._lock:
            self._response = response
        pending = b""
        try:
            if self._stopped.is_set():
                return
            for chunk in response.stream(amt=None, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._record(json.loads(line))
        except Exception:  # the connection shut by stop(); anything else shows as missing
            if not self._stopped.is_set():
                raise
        finally:
            response.close()
            response.release_conn()

    def _record(self, change: dict[str, Any]) -> None:
        kind, obj = change.get("type"), change.get("object") or {}
        if kind == "ERROR":
            raise AssertionError(f"watch of {self.name} failed: {obj}")
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            with self._lock:
                self._versions.append({**obj, "deleted": True} if kind == "DELETED" else obj)


def distinct(values: list[Any]) -> list[Any]:
    """``values`` without consecutive repeats: the sequence of changes."""
    out: list[Any] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out


def is_subsequence(wanted: list[Any], seen: list[Any]) -> bool:
    """Every item of ``wanted`` occurs in ``seen``, in the same order."""
    remaining = iter(seen)
    return all(any(item == other for other in remaining) for item in wanted)


def settle(runtime: Runtime) -> None:
    """Wait until the Broker has no delivery queued, in flight or waiting for a retry."""
    assert runtime.broker is not None
    assert runtime.broker.wait_idle(timeout=15.0), "the broker did not become idle"


# -- edited copies of the manifests ---------------------------------------------------------
# The local broker routes only by knative/triggers.yaml, so a test changes routing the way an
# operator would: by running the runtime on an edited copy of the manifests folder.

Trigger = dict[str, Any]


def edited_manifests(dest: Any, edit: Callable[[list[Trigger]], list[Trigger]]) -> Any:
    """A copy of ``knative/`` in ``dest`` (a Path) whose triggers.yaml holds ``edit`` applied to
    its Triggers; pass it as ``fast_options(manifests=...)``."""
    import shutil

    import yaml

    from local.runtime import KNATIVE_DIR

    shutil.copytree(KNATIVE_DIR, dest)
    path = dest / "triggers.yaml"
    triggers = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    path.write_text(yaml.safe_dump_all(edit(triggers), sort_keys=False))
    return dest


# -- notifications: a local Slack Web API and the namespace's notification service ----------

SLACK_TOKEN = "xoxb-ferry-0123456789-notifications"
ONCALL = "<!subteam^S0ONCALL>"


@pytest.fixture
def slack() -> Iterator[SlackApi]:
    api = SlackApi({SLACK_TOKEN}, {"releases": "C0RELEASES", "ops": "C0OPS"})
    yield api
    api.stop()


def configure_notifications(
    kube: Kube, slack: SlackApi, *, token: str = "$slack-token", bind: bool = True
) -> None:
    """The namespace's notification service, its token in the Secret that the namespace lets
    Ferry's notifier read (unless not ``bind``)."""
    if bind:
        bind_reader(kube, "ferry-notify-secrets", "ferry-notify-secret-reader", "ferry-notify")
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": subscriptions.SECRET, "namespace": demo.NAMESPACE},
            "data": {"slack-token": base64.b64encode(SLACK_TOKEN.encode()).decode()},
        }
    )
    service = {"token": token, "apiURL": slack.url, "mentions": [ONCALL], "buttons": True}
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": subscriptions.CONFIG_MAP, "namespace": demo.NAMESPACE},
            "data": {"service.slack": yaml.safe_dump(service)},
        }
    )
