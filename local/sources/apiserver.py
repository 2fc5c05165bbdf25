"""Emulator of Knative's ApiServerSource: the same CloudEvents for the same API changes, locally.

:class:`ApiServerSourceEmulator` reads a ``sources.knative.dev/v1`` ApiServerSource manifest,
finds each resource's plural through API discovery, and list+watches it with the official
``kubernetes`` client (relisting on 410 Gone, reconnecting with backoff, resuming from the last
resourceVersion). Each change becomes one CloudEvent shaped as upstream's adapter makes it:

- type ``dev.knative.apiserver.resource.add|update|delete`` (``.ref.`` in Reference mode, the
  upstream default), source = the API server URL, a new ``id`` on every send;
- subject ``/apis/<apiVersion>/namespaces/<ns>/<plural>/<name>``: ``/apis/`` even for the core
  group (``/apis/v1/...``) and the plural *guessed* from the kind as upstream's
  ``createSelfLink`` does (``meta.UnsafeGuessKindToResource``);
- extensions ``kind``, ``name``, ``namespace``, ``apiversion``, plus ``ceOverrides``;
- data = the whole object (Resource mode) or ``{kind, namespace, name, apiVersion}``.

Upstream's adapter feeds a bare reflector into a store whose ``Replace`` does nothing: objects
that exist when it starts, or that changed while a relist was needed, produce NO event. That is
the default here too; ``emit_existing=True`` instead sends ``add`` for every listed object and,
after a relist, add/update/delete for what changed in the gap (what an informer would report).

This module must not log event data (only type, subject and id) and must not write to the API:
it only reads (discovery, list, watch).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from local.sources.sink import OnEvent, Sender, ce_overrides

log = logging.getLogger(__name__)

MAX_BACKOFF = 5.0
NOT_SERVED_BACKOFF = 1.0
"""How often discovery is asked again for a kind not served yet (a cheap GET)."""
"""Longest wait between two attempts to reach the API after errors."""
WATCH_TIMEOUT = 300
"""``timeoutSeconds`` asked of each watch; it is then resumed from the last resourceVersion."""


def guess_plural(kind: str) -> str:
    """The resource name upstream guesses from a kind (``UnsafeGuessKindToResource``):
    lowercase, then ``s`` -> ``ses``, ``y`` -> ``ies``, else ``+s``; ``endpoints`` stays."""
    singular = kind.lower()
    if not singular or singular.endswith("endpoints"):
        return singular
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


def self_link(api_version: str, kind: str, namespace: str, name: str) -> str:
    """The ``subject`` of an ApiServerSource event, exactly as upstream's createSelfLink."""
    version = api_version
    if "." in version and "/" not in version:
        version += "/versionUnknown"
    return f"/apis/{version}/namespaces/{namespace}/{guess_plural(kind)}/{name}"


def resource_event(
    verb: str,
    obj: Mapping[str, Any],
    source: str,
    *,
    reference: bool = False,
    overrides: Mapping[str, str] | None = None,
) -> CloudEvent:
    """The CloudEvent ApiServerSource sends for ``verb`` (add, update, delete) of ``obj``."""
    meta = obj.get("metadata") or {}
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    attributes: dict[str, Any] = {
        "type": f"dev.knative.apiserver.{'ref' if reference else 'resource'}.{verb}",
        "source": source,
        "subject": self_link(api_version, kind, namespace, name),
        "id": str(uuid.uuid4()),
        "time": datetime.now(UTC),
        "datacontenttype": "application/json",
        "kind": kind,
        "name": name,
        "namespace": namespace,
        "apiversion": api_version,
        **(overrides or {}),
    }
    data: dict[str, Any]
    if reference:
        data = {"kind": kind, "namespace": namespace, "name": name, "apiVersion": api_version}
        data = {k: v for k, v in data.items() if v}  # omitempty, as Go's ObjectReference
    else:
        data = dict(obj)
    return CloudEvent(attributes, data)


def label_selector(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector (matchLabels, matchExpressions) as the ``labelSelector`` query
    string."""
    if not selector:
        return ""
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
        else:
            raise ValueError(f"unknown label selector operator {op!r}")
    return ",".join(terms)


class NotServed(LookupError):
    """The API does not serve the kind (its CRD is not installed, or not yet)."""


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): relist."""


@dataclass(frozen=True)
class _Stream:
    """One list+watch: a resource type, in one namespace or in all."""

    api_version: str
    kind: str
    path: str
    selector: str


class ApiServerSourceEmulator:
    """Watches what an ApiServerSource manifest names and sends its CloudEvents to
    ``sink_url``."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        api_client: Any,
        sink_url: str,
        *,
        emit_existing: bool = False,
        # False is upstream's behaviour (see the module docstring); True reports listed objects.
        watch_timeout: int = WATCH_TIMEOUT,
        on_event: OnEvent | None = None,
        token: Callable[[], str] | None = None,
        # the source's OIDC token for its sink, with Knative's sender identity
    ) -> None:
        meta = manifest.get("metadata") or {}
        self.name = str(meta.get("name", "apiserversource"))
        self.namespace = str(meta.get("namespace") or "default")
        self.spec: Mapping[str, Any] = manifest.get("spec") or {}
        if not self.spec.get("resources"):
            raise ValueError(f"ApiServerSource {self.name}: spec.resources is required")
        mode = self.spec.get("mode") or "Reference"
        if mode not in ("Resource", "Reference"):
            raise ValueError(f"ApiServerSource {self.name}: mode must be Resource or Reference")
        self.reference = mode == "Reference"
        self.overrides = ce_overrides(self.spec)
        self.api = api_client
        self.source = str(api_client.configuration.host)
        self.emit_existing = emit_existing
        self.watch_timeout = watch_timeout
        self._stopped = threading.Event()
        self._sender = Sender(sink_url, self._stopped, on_event, token)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._responses: set[Any] = set()
        self._opening: set[int] = set()
        self._unsynced = 0
        self._synced = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ApiServerSourceEmulator:
        self._stopped.clear()
        resources = list(self.spec["resources"])
        self._unsynced = len(resources)
        for i, resource in enumerate(resources):
            self._spawn(self._run_resource, (resource,), f"apiserversource-{self.name}-{i}")
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stopped.set()
        with self._lock:
            responses = list(self._responses)
        for response in responses:
            # A watch blocked in a read returns at once (its connection may be gone already).
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()
        # A watch still waiting for its response headers cannot be interrupted; it notices the
        # stop as soon as they arrive and sends nothing, so only the other threads are awaited.
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            with self._lock:
                busy = [t for t in self._threads if t.is_alive() and t.ident not in self._opening]
            if not busy:
                break
            busy[0].join(timeout=min(0.05, left))
        self._sender.close()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for every thread of a stopped emulator to end (a watch that was waiting for its
        response headers ends once the API is gone)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> ApiServerSourceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_synced(self, timeout: float = 5.0) -> bool:
        """True once every watched type was discovered and listed once (from then on every
        change is reported)."""
        return self._synced.wait(timeout)

    def _spawn(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _streams_synced(self, delta: int) -> None:
        with self._lock:
            self._unsynced += delta
            if self._unsynced <= 0:
                self._synced.set()

    # ------------------------------------------------------------------ API access

    def _get(self, path: str, query: list[tuple[str, Any]], *, stream: bool = False) -> Any:
        """GET ``path`` with the official client; the urllib3 response (unread)."""
        params = self.api.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        read_timeout = self.watch_timeout + 30 if stream else 30
        return self.api.call_api(*params, _request_timeout=(10, read_timeout)).response

    def _get_json(self, path: str, query: list[tuple[str, Any]]) -> Any:
        response = self._get(path, query)
        body = response.data
        if response.status == 410:
            raise _Gone()
        if response.status != 200:
            raise OSError(f"GET {path}: HTTP {response.status}: {body[:200]!r}")
        return json.loads(body)

    def _retrying(self, what: str, action: Callable[[], Any]) -> Any:
        """``action()`` until it succeeds or the emulator stops (None then). A kind the API
        does not serve (yet: its CRD may come later) is said once, at INFO."""
        backoff, said = 0.1, False
        while not self._stopped.is_set():
            try:
                return action()
            except NotServed as exc:
                if not said:
                    log.info("%s: %s; looking again until it is", what, exc)
                    said = True
                backoff = min(backoff, NOT_SERVED_BACKOFF / 2)  # a CRD may arrive any moment
            except Exception as exc:  # unreachable API, ...
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, backoff)
            self._stopped.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        return None

    def _discover(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of ``kind`` from the API's discovery document."""
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        try:
            document = self._get_json(base, [])
        except OSError as exc:
            if "HTTP 404" in str(exc):  # the group-version is not served at all
                raise NotServed(f"the API serves no {api_version}") from None
            raise
        for res in document.get("resources", []):
            if res.get("kind") == kind and "/" not in res.get("name", ""):
                return str(res["name"]), bool(res.get("namespaced"))
        raise NotServed(f"the API serves no {kind} in {api_version}")

    def _namespaces(self) -> list[str | None]:
        """Where to watch: the source's namespace, every namespace (an empty
        ``namespaceSelector``) or those its selector picks (resolved once, at start)."""
        if "namespaceSelector" not in self.spec:
            return [self.namespace]
        selector = self.spec.get("namespaceSelector") or {}
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            return [None]
        found = self._get_json("/api/v1/namespaces", [("labelSelector", label_selector(selector))])
        return sorted(item["metadata"]["name"] for item in found.get("items", []))

    # ------------------------------------------------------------------ watching

    def _run_resource(self, resource: Mapping[str, Any]) -> None:
        api_version, kind = str(resource["apiVersion"]), str(resource["kind"])
        found = self._retrying(f"discovery of {kind}", lambda: self._discover(api_version, kind))
        if found is None:
            return
        plural, namespaced = found
        targets: list[str | None] | None = [None]
        if namespaced:
            targets = self._retrying("listing namespaces", self._namespaces)
        if targets is None:
            return
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        selector = label_selector(resource.get("selector"))
        streams = [
            _Stream(
                api_version,
                kind,
                f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}",
                selector,
            )
            for ns in targets
        ]
        self._streams_synced(len(streams) - 1)
        for i, stream in enumerate(streams[1:]):
            self._spawn(self._run_stream, (stream,), f"apiserversource-{self.name}-{plural}-{i}")
        if streams:
            self._run_stream(streams[0])

    def _run_stream(self, stream: _Stream) -> None:
        known: dict[str, dict[str, Any]] = {}
        version: str | None = None
        first = True
        backoff = 0.1
        while not self._stopped.is_set():
            try:
                if version is None:
                    version = self._relist(stream, known, first)
                    if first:
                        first = False
                        self._streams_synced(-1)
                version = self._watch(stream, version, known)
                backoff = 0.1
            except _Gone:
                log.info("watch of %s expired (410 Gone): relisting", stream.path)
                version = None
            except Exception as exc:  # a long-running watcher must outlive any error
                if self._stopped.is_set():
                    break
                log.warning("watch of %s failed (%s); retrying in %.1fs", stream.path, exc, backoff)
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _query(self, stream: _Stream) -> list[tuple[str, Any]]:
        return [("labelSelector", stream.selector)] if stream.selector else []

    def _relist(self, stream: _Stream, known: dict[str, dict[str, Any]], first: bool) -> str:
        listing = self._get_json(stream.path, self._query(stream))
        items = [self._complete(stream, item) for item in listing.get("items", [])]
        if self.emit_existing:
            listed = {item["metadata"].get("uid", ""): item for item in items}
            for uid, item in listed.items():
                before = known.get(uid)
                if before is None:
                    self._emit("add", item)
                elif before["metadata"].get("resourceVersion") != item["metadata"].get(
                    "resourceVersion"
                ):
                    self._emit("update", item)
            for uid, item in known.items():
                if uid not in listed:
                    self._emit("delete", item)
            known.clear()
            known.update(listed)
        elif not first:
            log.info("relisted %s: changes during the gap are not reported", stream.path)
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    def _complete(self, stream: _Stream, item: dict[str, Any]) -> dict[str, Any]:
        """List items may omit apiVersion/kind; events always carry them."""
        return {"apiVersion": stream.api_version, "kind": stream.kind, **item}

    def _watch(self, stream: _Stream, version: str, known: dict[str, dict[str, Any]]) -> str:
        query = [
            *self._query(stream),
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", self.watch_timeout),
        ]
        me = threading.get_ident()
        with self._lock:
            self._opening.add(me)
        try:
            response = self._get(stream.path, query, stream=True)
        finally:
            with self._lock:
                self._opening.discard(me)
        with self._lock:
            self._responses.add(response)
        try:
            if self._stopped.is_set():
                return version
            if response.status == 410:
                raise _Gone()
            if response.status != 200:
                raise OSError(f"watch {stream.path}: HTTP {response.status}")
            for line in _lines(response):
                if self._stopped.is_set():
                    break
                change = json.loads(line)
                kind, obj = change.get("type"), change.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise OSError(f"watch {stream.path}: {obj.get('message', obj)}")
                version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                if kind == "BOOKMARK":
                    continue
                obj = self._complete(stream, obj)
                uid = obj["metadata"].get("uid", "")
                if kind == "DELETED":
                    known.pop(uid, None)
                    self._emit("delete", obj)
                elif kind in ("ADDED", "MODIFIED"):
                    if self.emit_existing:
                        known[uid] = obj
                    self._emit("add" if kind == "ADDED" else "update", obj)
        finally:
            with self._lock:
                self._responses.discard(response)
            response.close()  # a watch connection is not reused (it may be half shut)
            response.release_conn()
        return version

    def _emit(self, verb: str, obj: Mapping[str, Any]) -> None:
        owner = self.spec.get("owner")
        if owner and not _controlled_by(obj, owner):
            return
        event = resource_event(
            verb, obj, self.source, reference=self.reference, overrides=self.overrides
        )
        log.debug("%s %s id=%s", event.get_type(), event.get_subject(), event.get_id())
        self._sender.send(event)


def _controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Upstream's ``spec.owner`` filter: the object's controller is of that apiVersion and
    kind."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return bool(
                ref.get("apiVersion") == owner.get("apiVersion")
                and ref.get("kind") == owner.get("kind")
            )
    return False


def _lines(response: Any) -> Iterator[bytes]:
    """Newline-delimited JSON from a streaming (chunked) urllib3 response."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending
