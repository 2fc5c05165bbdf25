"""The Kubernetes side of ``kubectl ferry``: the connection, who is asking, commands, following.

Everything here goes through :class:`shared.kube.Kube`, built from the user's kubeconfig, so
Kubernetes RBAC decides who may do what. A manual action is appended to the Rollout's
``status.commands`` through the status subresource (a merge patch carrying the resourceVersion
read, retried on conflict) and Ferry answers with a ``status.history`` entry naming the
command's id. Nothing here ever writes a Rollout's spec (Git owns it), nor talks to Redis or
the local runtime; rendering lives in ``views``, argument parsing in ``main``.
"""

from __future__ import annotations

import contextlib
import getpass
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.config import ConfigException
from urllib3.exceptions import HTTPError

from cli.kubectl_ferry import trees
from shared import appends, configs, models
from shared.kube import ApiError, Kube, NotFound, Transient

Obj = dict[str, Any]

ACTIONS = appends.ACTIONS
REFUSALS = ("ignored", "refused", "rejected")
"""A history note that starts with one of these words means Ferry did not act on the command."""
ROLLOUT_LABEL = "ferry.dev/rollout"
"""The label naming its Rollout on every AnalysisRun."""
WATCH_ROUND = 300
"""Seconds one watch request lasts when there is no deadline (then it is made again)."""


class Failure(Exception):
    """Something the user has to fix or look at; the message says what to do next."""


class Deleted(Failure):
    """The Rollout was deleted while it was being followed."""


@dataclass
class Session:
    """A cluster as the user's kubeconfig describes it."""

    kube: Kube
    namespace: str
    """The namespace given with -n, else the context's, else ``default``."""
    server: str
    context_user: str
    """The kubeconfig context's user entry (who we are when the API cannot tell)."""

    @contextlib.contextmanager
    def doing(self, verb: str, resource: str, namespace: str | None) -> Iterator[None]:
        """Turn API failures met while doing ``verb`` on ``resource`` (in ``namespace``; None:
        cluster-wide) into a :class:`Failure` that says what to do next."""
        where = f' in namespace "{namespace}"' if namespace else ""
        try:
            yield
        except ApiError as exc:
            if exc.status == 403:
                raise Failure(
                    f"forbidden: you may not {verb} {resource}{where} (API group "
                    f'"{_GROUPS.get(resource, models.GROUP)}"); ask for a Role that grants '
                    f'"{verb}" on "{resource}". The API server said: {exc}'
                ) from None
            if exc.status == 401:
                raise Failure(
                    f"unauthorized: the cluster at {self.server} refused your credentials; "
                    "check your kubeconfig/context (kubectl config current-context)"
                ) from None
            raise Failure(f"the API server refused to {verb} {resource}{where}: {exc}") from None
        except Transient as exc:
            if unreachable(exc):
                raise Failure(
                    f"cannot reach the cluster at {self.server}: {exc}; check your "
                    "kubeconfig/context (kubectl config current-context)"
                ) from None
            raise Failure(f"the API server failed to {verb} {resource}: {exc}; try again") from None


_GROUPS = {"events": "", "selfsubjectreviews": "authentication.k8s.io"}


def unreachable(exc: Transient) -> bool:
    """Whether the API could not be reached at all (as opposed to answering 409/429/5xx)."""
    return isinstance(exc.__context__, HTTPError) or isinstance(exc.__cause__, HTTPError)


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
    """A session from ``--kubeconfig`` (else ``$KUBECONFIG``, else ~/.kube/config) and
    ``--context`` (else the current context)."""
    configuration = client.Configuration()
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        chosen = current
        if context is not None:
            chosen = next((c for c in contexts or [] if c.get("name") == context), None)
            if chosen is None:
                names = ", ".join(sorted(str(c.get("name")) for c in contexts or [])) or "none"
                raise Failure(
                    f'context "{context}" is not in your kubeconfig (contexts: {names}); '
                    "see kubectl config get-contexts"
                )
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError) as exc:
        source = kubeconfig or "$KUBECONFIG or ~/.kube/config"
        raise Failure(
            f"cannot load the kubeconfig ({source}): {exc}; pass --kubeconfig or --context, "
            "or check KUBECONFIG"
        ) from None
    details = (chosen or {}).get("context") or {}
    return Session(
        kube=Kube(client.ApiClient(configuration)),
        namespace=namespace or str(details.get("namespace") or "default"),
        server=str(configuration.host),
        context_user=str(details.get("user") or ""),
    )


def not_found(name: str, namespace: str) -> Failure:
    return Failure(
        f'rollout "{name}" not found in namespace "{namespace}"; list them with: '
        f"kubectl ferry list rollouts -n {namespace}"
    )


# -- reading ---------------------------------------------------------------------------------


def rollout(session: Session, name: str, namespace: str | None = None) -> Obj:
    ns = namespace or session.namespace
    with session.doing("get", "rollouts", ns):
        found = session.kube.rollout(ns, name)
    if found is None:
        raise not_found(name, ns)
    return found


def target_revision(session: Session, obj: Obj) -> str | None:
    """The revision of the Rollout's target as it is now (None if it has none), computed as
    Ferry computes it, so it can be compared with what Ferry has seen. Where it cannot be
    computed here (a Secret's digest needs the installation's key; a ConfigMap this person may
    not read), what Ferry published (``status.currentPodHash``) is taken as it is."""
    name = ((obj.get("spec") or {}).get("targetRef") or {}).get("name")
    if not name:
        return None
    ns = obj["metadata"].get("namespace") or session.namespace
    with session.doing("get", "deployments", ns):
        target = session.kube.deployment(ns, str(name))
    if target is None:
        return None
    try:
        return configs.revision(session.kube, target, None)
    except configs.NeedsKey:
        pass
    except ApiError as exc:
        if exc.status != 403:
            raise
    published = (obj.get("status") or {}).get("currentPodHash")
    return str(published) if published else None


def rollouts(session: Session, *, all_namespaces: bool = False) -> list[Obj]:
    ns = None if all_namespaces else session.namespace
    with session.doing("list", "rollouts", ns):
        try:
            return session.kube.rollouts(ns)
        except NotFound:
            raise Failure(
                f"the cluster at {session.server} does not serve Rollouts ({models.API_VERSION}); "
                "install Ferry's CRDs: kubectl apply -f knative/crds/rollouts.yaml"
            ) from None


def analysis_runs(session: Session, obj: Obj) -> tuple[list[Obj], str]:
    """The Rollout's AnalysisRuns, oldest first, and a note when they cannot be read."""
    meta = obj["metadata"]
    try:
        runs = session.kube.list_of(
            models.API_VERSION,
            "analysisruns",
            meta["namespace"],
            label_selector=f"{ROLLOUT_LABEL}={meta['name']}",
        )
    except NotFound:
        return [], ""  # the AnalysisRun CRD is not installed
    except ApiError as exc:
        return [], f"cannot list analysisruns ({exc.status}): {exc}"
    return sorted(runs, key=lambda r: str(r["metadata"].get("creationTimestamp") or "")), ""


def events(session: Session, obj: Obj) -> tuple[list[Obj], str]:
    """Kubernetes Events about the Rollout, and a note when they cannot be read."""
    meta = obj["metadata"]
    selector = f"involvedObject.name={meta['name']},involvedObject.kind={models.KIND}"
    try:
        with session.doing("list", "events", meta["namespace"]):
            listed = session.kube.request(
                "GET",
                f"/api/v1/namespaces/{meta['namespace']}/events",
                query={"fieldSelector": selector},
            )
    except Failure as exc:
        return [], str(exc)
    found: list[Obj] = listed.get("items") or []
    return found, ""


def _selector(deployment: Obj | None) -> str:
    labels = ((deployment or {}).get("spec") or {}).get("selector") or {}
    match = labels.get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(match.items()))


def _listed(
    session: Session, api_version: str, plural: str, namespace: str, selectors: list[str]
) -> tuple[list[Obj], str]:
    """The objects the label ``selectors`` select (each once), and a note when they cannot be
    read (forbidden: the tree is drawn without them)."""
    found: dict[str, Obj] = {}
    for selector in dict.fromkeys(s for s in selectors if s):
        try:
            items = session.kube.list_of(api_version, plural, namespace, label_selector=selector)
        except NotFound:
            continue
        except ApiError as exc:
            return [], f"cannot list {plural} in namespace {namespace} ({exc.status}): {exc}"
        for item in items:
            found[str(item["metadata"].get("uid") or item["metadata"]["name"])] = item
    return list(found.values()), ""


def tree(session: Session, obj: Obj) -> Obj:
    """The tree of the Rollout ``obj`` (``trees.build``): the Deployments that run its
    revisions, their ReplicaSets and Pods, its AnalysisRuns. What cannot be read is said in
    its ``warnings``."""
    meta = obj["metadata"]
    ns = str(meta.get("namespace") or session.namespace)
    target_name = ((obj.get("spec") or {}).get("targetRef") or {}).get("name")
    warnings: list[str] = []
    target = primary = None
    with session.doing("list", "replicasets", ns):
        if target_name:
            try:
                target = session.kube.deployment(ns, str(target_name))
                primary = session.kube.deployment(ns, f"{target_name}-primary")
            except ApiError as exc:
                warnings.append(f"cannot get deployments in namespace {ns} ({exc.status}): {exc}")
        selectors = [_selector(target), _selector(primary)]
        replicasets, note = _listed(session, "apps/v1", "replicasets", ns, selectors)
        warnings += [note] if note else []
        pods, note = _listed(session, "v1", "pods", ns, selectors)
        warnings += [note] if note else []
    runs, note = analysis_runs(session, obj)
    warnings += [note] if note else []
    revision = None
    if target is not None:
        try:
            revision = target_revision(session, obj)
        except (ApiError, Failure, Transient):
            revision = (obj.get("status") or {}).get("currentPodHash")
    return trees.build(
        obj,
        target=target,
        primary=primary,
        replicasets=replicasets,
        pods=pods,
        runs=runs,
        target_revision=revision,
        warnings=warnings,
    )


# -- versions --------------------------------------------------------------------------------

FERRY_NAMESPACE = "ferry-system"
VERSION_LABEL = "app.kubernetes.io/version"
"""On each of Ferry's Knative Services (``ferry manifests`` writes it): the version installed."""


def kubernetes_version(session: Session) -> str:
    """The API server's version (``/version``'s gitVersion), or ``unknown (why)``."""
    try:
        answer = session.kube.request("GET", "/version")
    except (ApiError, NotFound, Transient) as exc:
        return f"unknown ({_why(session, exc, 'read /version')})"
    return str(answer.get("gitVersion") or "unknown")


def ferry_version(session: Session) -> str:
    """Ferry's version as installed in the cluster: the ``app.kubernetes.io/version`` label of
    its Knative Services in ferry-system (else their image's tag); several when an upgrade is
    under way; ``unknown (why)`` when they cannot be read. Never fails."""
    try:
        services = session.kube.list_of(
            "serving.knative.dev/v1",
            "services",
            FERRY_NAMESPACE,
            label_selector="app.kubernetes.io/part-of=ferry",
        )
    except NotFound:
        return f"unknown (no Knative Services are served; is Ferry installed in {FERRY_NAMESPACE}?)"
    except (ApiError, Transient) as exc:
        return f"unknown ({_why(session, exc, f'list Knative services in {FERRY_NAMESPACE}')})"
    found: list[str] = []
    for service in services:
        labels = service["metadata"].get("labels") or {}
        version = labels.get(VERSION_LABEL) or _image_tag(service)
        if version and version not in found:
            found.append(str(version))
    if not found:
        return f"unknown (no Ferry Service with a version in {FERRY_NAMESPACE})"
    return ", ".join(sorted(found)) + (" (an upgrade is under way)" if len(found) > 1 else "")


def _image_tag(service: Obj) -> str | None:
    spec = ((service.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        image = str(container.get("image") or "")
        name = image.rsplit("/", 1)[-1]
        if ":" in name and "@" not in name:
            return name.rsplit(":", 1)[1]
    return None


def _why(session: Session, exc: Exception, doing: str) -> str:
    if isinstance(exc, Transient) and unreachable(exc):
        return f"cannot reach the cluster at {session.server}"
    if isinstance(exc, ApiError) and exc.status == 403:
        return f"forbidden: you may not {doing}"
    if isinstance(exc, ApiError) and exc.status == 401:
        return "unauthorized"
    return str(exc)


# -- who is asking ---------------------------------------------------------------------------


def whoami(session: Session) -> str:
    """The user name the API server authenticates us as (SelfSubjectReview); when that API is
    not served, the kubeconfig context's user name, then the OS user."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    with session.doing("create", "selfsubjectreviews", None):
        try:
            answer = session.kube.request(
                "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=review
            )
            name = ((answer.get("status") or {}).get("userInfo") or {}).get("username")
            if isinstance(name, str) and name:
                return name
        except (NotFound, ApiError):
            pass  # not served (before Kubernetes 1.27, or a simulator), or not allowed
    if session.context_user:
        return session.context_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# -- commands --------------------------------------------------------------------------------


def new_command(action: str, user: str, *, full: bool = False, now: float | None = None) -> Obj:
    """A ``status.commands`` entry (``full`` only for promote)."""
    return appends.new_command(action, user, full=full, now=now)


def append_command(session: Session, name: str, entry: Obj) -> Obj:
    """Append ``entry`` to the Rollout's status.commands (``shared.appends``) with the user's
    credentials. Returns the Rollout as written."""
    ns = session.namespace
    with session.doing("patch", "rollouts/status", ns):
        try:
            return appends.append(session.kube, ns, name, entry, gave_up=unreachable)
        except NotFound:
            raise not_found(name, ns) from None


def answer_to(obj: Obj, command_id: str) -> Obj | None:
    """Ferry's history entry answering the command ``command_id``, if there is one yet."""
    for entry in reversed((obj.get("status") or {}).get("history") or []):
        if isinstance(entry, dict) and entry.get("command") == command_id:
            return entry
    return None


def refused(entry: Obj) -> bool:
    note = str(entry.get("note") or "").lstrip().lower()
    return note.startswith(REFUSALS)


def wait_for_answer(session: Session, written: Obj, command_id: str, timeout: float) -> Obj | None:
    """Ferry's answer to the command, or None when none came within ``timeout`` seconds."""
    name = written["metadata"]["name"]
    for obj in follow(session, name, time.monotonic() + timeout, first=written):
        entry = answer_to(obj, command_id)
        if entry is not None:
            return entry
    return None


# -- following a rollout ---------------------------------------------------------------------


def follow(
    session: Session,
    name: str,
    deadline: float | None,
    *,
    first: Obj | None = None,
    every: float | None = None,
) -> Iterator[Obj]:
    """The Rollout now (``first``, or read), then every version the API server writes, until
    ``deadline`` (``time.monotonic()``; None: until the caller stops). A watch from the
    resourceVersion seen; 410 Gone re-reads. Raises :class:`Deleted` if the Rollout goes.
    With ``every``, the latest version again at least that often (seconds), so a caller that
    shows what the Rollout's objects do (its Pods) sees them change too."""
    ns = session.namespace
    current = first if first is not None else rollout(session, name)
    yield current
    version = str(current["metadata"]["resourceVersion"])
    while deadline is None or time.monotonic() < deadline:
        left = WATCH_ROUND if deadline is None else deadline - time.monotonic()
        if every is not None:
            left = min(left, every)
        if left <= 0:
            return
        started, seen = time.monotonic(), 0
        with (
            _watchable(ns),
            session.doing("watch", "rollouts", ns),
            contextlib.closing(
                session.kube.watch(
                    models.API_VERSION,
                    models.PLURAL,
                    ns,
                    version,
                    left,
                    field_selector=f"metadata.name={name}",
                )
            ) as changes,
        ):
            for kind, obj in changes:
                seen += 1
                if kind in ("ADDED", "MODIFIED"):
                    version = str(obj["metadata"]["resourceVersion"])
                    current = obj
                    yield obj
                elif kind == "DELETED":
                    raise Deleted(f'rollout "{name}" was deleted from namespace "{ns}"')
                elif kind == "BOOKMARK":
                    version = str(obj["metadata"]["resourceVersion"])
                elif kind == "ERROR" and obj.get("code") == 410:
                    current = rollout(session, name)  # too old to resume: read it afresh
                    version = str(current["metadata"]["resourceVersion"])
                    yield current
                    break
                elif kind == "ERROR":
                    raise ApiError(int(obj.get("code") or 500), str(obj.get("message") or obj))
        if not seen and time.monotonic() - started < 1:
            time.sleep(0.5)  # the server ended the watch at once: do not spin
        if every is not None:
            yield current  # a look at what may have changed beside the Rollout


def watch_rollouts(
    session: Session, *, all_namespaces: bool, deadline: float | None
) -> Iterator[tuple[str, Obj]]:
    """Every Rollout now (``LISTED``, from one list; then ``SYNCED`` with an empty object),
    then each change the API server writes (``ADDED``, ``MODIFIED``, ``DELETED``) through a
    watch from the list's resourceVersion,
    until ``deadline`` (``time.monotonic()``; None: until the caller stops). 410 Gone lists
    again: what changed meanwhile comes as ``MODIFIED``, what went as ``DELETED``."""
    ns = None if all_namespaces else session.namespace
    path = (
        f"/apis/{models.API_VERSION}/{models.PLURAL}"
        if ns is None
        else f"/apis/{models.API_VERSION}/namespaces/{ns}/{models.PLURAL}"
    )
    known: dict[str, Obj] = {}

    def key(obj: Obj) -> str:
        return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"

    def listing() -> tuple[list[Obj], str]:
        with session.doing("list", "rollouts", ns):
            try:
                listed = session.kube.request("GET", path)
            except NotFound:
                raise Failure(
                    f"the cluster at {session.server} does not serve Rollouts "
                    f"({models.API_VERSION}); install Ferry's CRDs: kubectl apply -f "
                    "knative/crds/rollouts.yaml"
                ) from None
        return list(listed.get("items") or []), str(
            (listed.get("metadata") or {}).get("resourceVersion") or "0"
        )

    items, version = listing()
    for obj in items:
        known[key(obj)] = obj
        yield "LISTED", obj
    yield "SYNCED", {}
    while deadline is None or time.monotonic() < deadline:
        left = WATCH_ROUND if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return
        started, seen, gone = time.monotonic(), 0, False
        with (
            _watchable(ns or "(all)"),
            session.doing("watch", "rollouts", ns),
            contextlib.closing(
                session.kube.watch(models.API_VERSION, models.PLURAL, ns, version, left)
            ) as changes,
        ):
            for kind, obj in changes:
                seen += 1
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    version = str(obj["metadata"]["resourceVersion"])
                    if kind == "DELETED":
                        known.pop(key(obj), None)
                    else:
                        known[key(obj)] = obj
                    yield kind, obj
                elif kind == "BOOKMARK":
                    version = str(obj["metadata"]["resourceVersion"])
                elif kind == "ERROR" and obj.get("code") == 410:
                    gone = True
                    break
                elif kind == "ERROR":
                    raise ApiError(int(obj.get("code") or 500), str(obj.get("message") or obj))
        if gone:  # too old to resume: list again, and tell what changed meanwhile
            items, version = listing()
            fresh = {key(obj): obj for obj in items}
            for name, obj in list(known.items()):
                if name not in fresh:
                    yield "DELETED", obj
            for obj in items:
                yield "MODIFIED", obj
            known = fresh
        elif not seen and time.monotonic() - started < 1:
            time.sleep(0.5)  # the server ended the watch at once: do not spin


@contextlib.contextmanager
def _watchable(namespace: str) -> Iterator[None]:
    try:
        yield
    except NotFound:
        raise Failure(f"cannot watch rollouts in namespace {namespace!r}: not found") from None
