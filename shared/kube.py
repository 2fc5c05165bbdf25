"""Kubernetes access: the only module that talks to the Kubernetes API.

A thin layer over the official client's transport (configuration, auth, TLS) that speaks plain
dicts: get / list / create / merge-patch / delete by apiVersion and plural, the status and scale
subresources, and Events. Every write is level-based (``ensure`` converges an object to what is
wanted), so repeating it is harmless. Transient API failures raise :class:`Transient`; nothing
here decides what to write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Generator
from typing import Any

import yaml
from kubernetes import client, config
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import HTTPError

from shared import models

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Transient(Exception):
    """The API could not be reached or answered 5xx/429: try the event again later."""


class Conflict(Transient):
    """409: the object changed since it was read (or was created meanwhile)."""


class NotFound(Exception):
    """The object does not exist."""


class ApiError(Exception):
    """The API refused the request (4xx other than 404/429): retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _message(raw: bytes | None) -> str:
    try:
        return str(json.loads(raw or b"{}").get("message", ""))
    except ValueError:
        return (raw or b"")[:200].decode(errors="replace")


def _path(
    api_version: str,
    plural: str,
    namespace: str | None,
    name: str | None = None,
    sub: str | None = None,
) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    if name:
        base += f"/{name}"
    if sub:
        base += f"/{sub}"
    return base


class Kube:
    """Dict-speaking access to one cluster."""

    def __init__(
        self, api_client: client.ApiClient, impersonation: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.api = api_client
        self.impersonation = impersonation
        """Headers sent with every request (:meth:`acting_as`)."""

    def acting_as(self, user: str, groups: tuple[str, ...] = (), uid: str = "") -> Kube:
        """This client's connection asking the API server to run each request as ``user``
        (Kubernetes impersonation: the caller needs ``impersonate`` rights, and RBAC and
        admission then see ``user``). Each group is a header of its own, as the API server
        reads them."""
        headers = [("Impersonate-User", user), *(("Impersonate-Group", g) for g in groups)]
        if uid:
            headers.append(("Impersonate-Uid", uid))
        return Kube(self.api, tuple(headers))

    @classmethod
    def from_env(cls) -> Kube:
        """In-cluster config when running in a Pod, else ``$KUBECONFIG`` / ~/.kube/config."""
        configuration = client.Configuration()
        configuration.connection_pool_maxsize = 32  # one client serves concurrent requests
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            path = os.environ.get("KUBECONFIG")
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, client_configuration=configuration
            )
            _reread_token_file(configuration, path)
        return cls(client.ApiClient(configuration))

    # -- transport ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        try:
            method, url, headers, payload, _ = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            sent: Any = headers
            if self.impersonation:
                sent = HTTPHeaderDict(headers)  # a header may repeat (Impersonate-Group)
                for key, value in self.impersonation:
                    sent.add(key, value)
            response = self.api.call_api(
                method, url, header_params=sent, body=payload, _request_timeout=30
            )
            response.read()  # type: ignore[no-untyped-call]
        except HTTPError as exc:
            raise Transient(f"{method} {path}: {exc}") from None
        status, raw = response.status, response.data
        if status == 404:
            raise NotFound(path)
        if status == 409:  # changed meanwhile: re-read, retry
            raise Conflict(f"{method} {path}: {status} {_message(raw)}")
        if status == 429 or status >= 500:
            raise Transient(f"{method} {path}: {status} {_message(raw)}")
        if status >= 400:
            raise ApiError(status, f"{method} {path}: {status} {_message(raw)}")
        return json.loads(raw) if raw else {}

    def watch(
        self,
        api_version: str,
        plural: str,
        namespace: str | None,
        version: str,
        seconds: float,
        *,
        field_selector: str = "",
    ) -> Generator[tuple[str, Obj], None, None]:
        """One watch request from resourceVersion ``version``, lasting about ``seconds``: each
        change as (type, object), bookmarks included; ``ERROR`` objects as the server sends
        them (410: too old, list again). Ends when the server ends it or the read times out
        (watch again from the last version seen). 404 is NotFound, 429/5xx Transient, other
        refusals ApiError."""
        path = _path(api_version, plural, namespace)
        query = {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(max(1, math.ceil(seconds))),
        }
        if field_selector:
            query["fieldSelector"] = field_selector
        try:
            method, url, headers, _body, _ = self.api.param_serialize(
                method="GET",
                resource_path=path,
                query_params=list(query.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(
                method, url, header_params=headers, _request_timeout=(10, seconds + 10)
            ).response
        except HTTPError as exc:
            raise Transient(f"GET {path}: {exc}") from exc
        try:
            if response.status == 404:
                raise NotFound(path)
            if response.status >= 400:
                raw = response.read()
                if response.status == 429 or response.status >= 500:
                    raise Transient(f"GET {path}: {response.status} {_message(raw)}")
                raise ApiError(response.status, f"GET {path}: {response.status} {_message(raw)}")
            pending = b""
            try:
                while True:
                    chunk = response.read1(65536)
                    if not chunk:
                        return
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            change = json.loads(line)
                            yield str(change.get("type")), dict(change.get("object") or {})
            except HTTPError:
                return  # the read timed out or the server hung up: the caller watches again
        finally:
            response.release_conn()

    def allowed(
        self,
        user: str,
        groups: tuple[str, ...],
        verb: str,
        group: str,
        resource: str,
        namespace: str,
        name: str = "",
    ) -> bool:
        """Whether RBAC lets ``user`` (in ``groups``) ``verb`` the resource: a
        SubjectAccessReview."""
        attributes = {"verb": verb, "group": group, "resource": resource, "namespace": namespace}
        if name:
            attributes["name"] = name
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": list(groups), "resourceAttributes": attributes},
        }
        answer = self.request(
            "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=review
        )
        return bool((answer.get("status") or {}).get("allowed"))

    def review_token(self, token: str, audiences: tuple[str, ...] = ()) -> Obj:
        """The API server's TokenReview ``status`` of ``token`` (for ``audiences``, when
        given): ``authenticated``, ``user``, ``audiences``. The token is sent, never kept."""
        spec: Obj = {"token": token}
        if audiences:
            spec["audiences"] = list(audiences)
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        answer = self.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", body=review)
        status: Obj = answer.get("status") or {}
        return status

    # -- generic verbs ------------------------------------------------------------------------

    def get(self, api_version: str, plural: str, namespace: str | None, name: str) -> Obj | None:
        try:
            return self.request("GET", _path(api_version, plural, namespace, name))
        except NotFound:
            return None

    def list_of(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[Obj]:
        query = {"labelSelector": label_selector} if label_selector else None
        items: list[Obj] = self.request(
            "GET", _path(api_version, plural, namespace), query=query
        ).get("items", [])
        return items

    def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        return self.request(
            "POST",
            _path(obj["apiVersion"], _plural(obj["kind"]), meta.get("namespace")),
            body=obj,
        )

    def merge_patch(
        self,
        api_version: str,
        plural: str,
        namespace: str | None,
        name: str,
        patch: Obj,
        *,
        sub: str | None = None,
    ) -> Obj:
        return self.request(
            "PATCH",
            _path(api_version, plural, namespace, name, sub),
            body=patch,
            content_type="application/merge-patch+json",
        )

    def json_patch(
        self, api_version: str, plural: str, namespace: str | None, name: str, ops: list[Obj]
    ) -> Obj:
        """RFC 6902 operations (a ``test`` makes the write conditional on what was read)."""
        answer: Obj = self.request(
            "PATCH",
            _path(api_version, plural, namespace, name),
            body=ops,
            content_type="application/json-patch+json",
        )
        return answer

    def delete(self, api_version: str, plural: str, namespace: str | None, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.request(
                "DELETE",
                _path(api_version, plural, namespace, name),
                body={"propagationPolicy": "Background"},
            )

    def ensure(self, desired: Obj) -> Obj:
        """Create ``desired``, or merge-patch the existing object so every field given in
        ``desired`` has the given value (fields it does not name are left alone)."""
        meta = desired["metadata"]
        plural = _plural(desired["kind"])
        current = self.get(desired["apiVersion"], plural, meta.get("namespace"), meta["name"])
        if current is None:
            try:
                return self.create(desired)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                raise Transient(
                    f"{desired['kind']} {meta['name']} was created concurrently"
                ) from None
        patch = difference(current, desired)
        if not patch:
            return current
        return self.merge_patch(
            desired["apiVersion"], plural, meta.get("namespace"), meta["name"], patch
        )

    def fenced_patch(
        self,
        api_version: str,
        plural: str,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj | None],
        *,
        sub: str | None = None,
        attempts: int = 5,
        known: Obj | None = None,
    ) -> bool:
        """Read the object, ask ``change`` for the merge patch it needs (None: nothing to write)
        and write it conditionally on the resourceVersion read; on a conflict, read again.
        ``change`` is called after the read, so a fence it checks (e.g. that the state it
        derives the patch from is still the latest) holds for the write: anything written in
        between makes the write fail. False when the object does not exist. ``known`` is the
        object as the caller last read it, used for the first attempt instead of a read."""
        for attempt in range(attempts):
            current = known if attempt == 0 and known is not None else None
            current = current or self.get(api_version, plural, namespace, name)
            if current is None:
                return False
            patch = change(current)
            if not patch:
                return True
            meta = {**patch.get("metadata", {}), "resourceVersion": _rv(current)}
            try:
                self.merge_patch(
                    api_version, plural, namespace, name, {**patch, "metadata": meta}, sub=sub
                )
            except Conflict:
                continue
            except NotFound:
                return False
            return True
        raise Transient(f"{plural}/{name} in {namespace} kept changing; giving up for now")

    # -- workloads ---------------------------------------------------------------------------

    def deployment(self, namespace: str, name: str) -> Obj | None:
        return self.get("apps/v1", "deployments", namespace, name)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Level-based: the Deployment's scale becomes ``replicas`` (no write if it is)."""
        current = self.request("GET", _path("apps/v1", "deployments", namespace, name, "scale"))
        if (current.get("spec") or {}).get("replicas") == replicas:
            return
        self.merge_patch(
            "apps/v1",
            "deployments",
            namespace,
            name,
            {"spec": {"replicas": replicas}},
            sub="scale",
        )

    # -- rollouts ----------------------------------------------------------------------------

    def rollout(self, namespace: str, name: str) -> Obj | None:
        return self.get(models.API_VERSION, models.PLURAL, namespace, name)

    def rollouts(self, namespace: str | None = None) -> list[Obj]:
        return self.list_of(models.API_VERSION, models.PLURAL, namespace)

    def set_finalizer(self, rollout: Obj, name: str, *, present: bool) -> None:
        """Add or remove one finalizer on a Rollout (guarded by its resourceVersion)."""
        meta = rollout["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if (name in finalizers) == present:
            return
        wanted = [*finalizers, name] if present else [f for f in finalizers if f != name]
        try:
            self.merge_patch(
                models.API_VERSION,
                models.PLURAL,
                meta["namespace"],
                meta["name"],
                {"metadata": {"finalizers": wanted, "resourceVersion": meta["resourceVersion"]}},
            )
        except NotFound:
            if present:
                raise
            # removed already (a concurrent cleanup took the last finalizer): the Rollout is gone

    def record_event(
        self, rollout: Obj | None, reason: str, message: str, *, warning: bool = False
    ) -> None:
        """A Kubernetes Event on the Rollout (best effort: failures are logged, not raised).

        Level-based like every effect: the Event's name is derived from the Rollout's uid, the
        reason and the message, so a transition decided more than once (a redelivery, or
        concurrent deliveries of which one commits) records its fact once."""
        if not rollout:
            return
        meta = rollout["metadata"]
        fact = "\n".join([str(meta.get("uid", "")), reason, message])
        name = f"{meta['name']}.{hashlib.sha256(fact.encode()).hexdigest()[:16]}"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": models.API_VERSION,
                "kind": models.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "ferry"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "ferry",
        }
        try:
            self.create(event)
        except Conflict:
            return  # recorded already (AlreadyExists): the same fact, decided again
        except (ApiError, NotFound, Transient) as exc:
            log.warning("could not record event %s on %s: %s", reason, meta["name"], exc)


_PLURALS = {
    "Deployment": "deployments",
    "Service": "services",
    "Ingress": "ingresses",
    "TrafficSplit": "trafficsplits",
    "Event": "events",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Job": "jobs",
    "AnalysisTemplate": "analysistemplates",
    "ClusterAnalysisTemplate": "clusteranalysistemplates",
    "AnalysisRun": "analysisruns",
    models.EXPERIMENT_KIND: models.EXPERIMENT_PLURAL,
    "WebhookPolicy": "webhookpolicies",
    models.KIND: models.PLURAL,
}


def _plural(kind: str) -> str:
    try:
        return _PLURALS[kind]
    except KeyError:
        raise ValueError(f"Ferry does not manage objects of kind {kind}") from None


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def difference(current: Any, desired: Any) -> Any:
    """The merge patch that makes ``current`` carry every value ``desired`` names
    (lists are compared and replaced whole; label selectors too, extra keys removed). Empty
    dict when nothing differs."""
    if isinstance(desired, dict) and isinstance(current, dict):
        patch: dict[str, Any] = {}
        for key, value in desired.items():
            if key in ("status",) or (key == "metadata" and not isinstance(value, dict)):
                continue
            if key not in current:
                patch[key] = value
                continue
            if key in _WHOLE and isinstance(value, dict) and isinstance(current[key], dict):
                if current[key] != value:  # a selector that selects more is another selector
                    patch[key] = {**{k: None for k in current[key] if k not in value}, **value}
            elif isinstance(value, dict) and isinstance(current[key], dict):
                sub = difference(current[key], value)
                if sub:
                    patch[key] = sub
            elif not covers(current[key], value):
                patch[key] = value
        return patch
    return desired


_WHOLE = frozenset({"selector", "matchLabels"})
"""Maps compared whole: a label selector with one more key selects other Pods."""


def covers(current: Any, desired: Any) -> bool:
    """Whether ``current`` already carries everything ``desired`` says (the server may have
    added defaults, such as a Service port's protocol, which do not count as a difference)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            k in current and covers(current[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(current) == len(desired)
            and all(covers(c, d) for c, d in zip(current, desired, strict=True))
        )
    return bool(current == desired)


def _reread_token_file(configuration: client.Configuration, path: str | None) -> None:
    """A kubeconfig user with a ``tokenFile`` (a projected token, renewed on disk) is read
    again before each request, as the in-cluster configuration does with its token: the
    client library reads it once."""
    kubeconfig = path or os.path.expanduser("~/.kube/config")
    try:
        with open(kubeconfig) as f:
            found = yaml.safe_load(f) or {}
        current = found.get("current-context")
        context = next(c["context"] for c in found["contexts"] if c["name"] == current)
        user = next(u["user"] for u in found["users"] if u["name"] == context["user"])
        # a relative path is the kubeconfig's directory's, as kubectl reads it
        token_file = os.path.join(os.path.dirname(kubeconfig), str(user["tokenFile"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration):
        return

    def refresh(cfg: client.Configuration) -> None:
        try:
            with open(token_file) as f:
                # the key the loader set and the client sends (``authorization`` is its alias)
                cfg.api_key["BearerToken"] = f"Bearer {f.read().strip()}"
        except OSError:
            pass  # the last token read is sent; the API server says whether it still holds

    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]
