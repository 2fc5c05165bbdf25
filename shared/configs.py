"""The ConfigMaps and Secrets a pod template uses: part of its revision, pinned for the primary.

A revision is the pod template plus the data of every ConfigMap and Secret it references
(volumes, projected volumes, ``envFrom``, ``env[].valueFrom``), so a change of that data alone
is a new revision and starts a canary. The canary (the target) uses the user's objects; the
primary never does: :func:`plan` names an immutable, content-addressed copy of each of them
(``<name>-<hash>``, owned by the Rollout, made by :func:`ensure`) and gives the primary a
template that references the copies. So an edit reaches only the canary, the stable Pods keep
the configuration they were validated with, and an abort returns traffic to Pods that still
mount it. :func:`collect` deletes the copies no recent stable revision uses.

Not tracked (the primary shares the user's object, as it would without Ferry): an object
annotated ``ferry.dev/config-tracking: disabled`` (meant to change live), a Secret of a
namespace that does not let Ferry read its Secrets (binding ``ferry-config-secrets``), and a
ServiceAccount token Secret. A referenced object that does not exist is part of the revision as
missing (its creation is a new revision) and is not copied: the Pods behave as Kubernetes says
for a missing (or ``optional``) reference.

Secret data is read here to be hashed and copied and goes nowhere else: only digests and names
leave this module (a :class:`Pinned` keeps the copies' bodies out of its ``repr``), and a
Secret's digest is an HMAC under the installation's key (``StateStore.config_key``), so a
revision or a copy's name cannot confirm a guess of its value. Nothing here decides a
transition or touches Redis (the key is handed in).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import kube as kube_errors
from shared import workloads
from shared.kube import Kube
from shared.objects import MANAGED_BY, MANAGED_LABELS, owner_reference

Obj = dict[str, Any]

CONFIG_MAP = "ConfigMap"
SECRET = "Secret"
PLURALS = {CONFIG_MAP: "configmaps", SECRET: "secrets"}

TRACKING = "ferry.dev/config-tracking"
"""On a ConfigMap or Secret: ``disabled`` keeps it out of revisions (it changes live)."""
DISABLED = "disabled"
COPY_LABEL = "ferry.dev/config-copy"
"""On every copy Ferry makes (value ``true``); its owner reference names the Rollout."""
COPY_OF = "ferry.dev/copy-of"
"""On a copy: the name of the object it copies."""
DIGEST = "ferry.dev/digest"
"""On a copy: the digest of the data it holds."""
UNCOPIED_TYPES = frozenset({"kubernetes.io/service-account-token"})
"""Secret types that cannot be created as a copy (the API server fills them in)."""
MAX_NAME = 253
SUFFIX = 10


@dataclass(frozen=True, order=True)
class Ref:
    """A ConfigMap or Secret a pod template names."""

    kind: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Found:
    """What a reference found: its data's digest ("" when missing), whether it is part of the
    revision, and the object (for its copy; never shown)."""

    ref: Ref
    digest: str
    tracked: bool
    obj: Obj | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Pinned:
    """A target's revision with the template the primary runs for it: every tracked object
    replaced by its copy (``copies``, by reference; their bodies are not shown)."""

    revision: str
    template: Obj = field(repr=False)
    names: Mapping[Ref, str] = field(default_factory=dict)
    copies: tuple[Obj, ...] = field(default=(), repr=False, compare=False)


def _slots(template: Obj) -> Iterator[tuple[Obj, str, str]]:
    """Every place of ``template`` that names a ConfigMap or Secret: (the dict holding the
    name, the name's key, the kind)."""
    spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return
    for volume in _dicts(spec.get("volumes")):
        yield from _named(volume.get("configMap"), "name", CONFIG_MAP)
        yield from _named(volume.get("secret"), "secretName", SECRET)
        for source in _dicts((volume.get("projected") or {}).get("sources")):
            yield from _named(source.get("configMap"), "name", CONFIG_MAP)
            yield from _named(source.get("secret"), "name", SECRET)
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(group)):
            for source in _dicts(container.get("envFrom")):
                yield from _named(source.get("configMapRef"), "name", CONFIG_MAP)
                yield from _named(source.get("secretRef"), "name", SECRET)
            for env in _dicts(container.get("env")):
                value_from = env.get("valueFrom")
                if isinstance(value_from, dict):
                    yield from _named(value_from.get("configMapKeyRef"), "name", CONFIG_MAP)
                    yield from _named(value_from.get("secretKeyRef"), "name", SECRET)


def _dicts(value: Any) -> list[Obj]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _named(holder: Any, key: str, kind: str) -> Iterator[tuple[Obj, str, str]]:
    if isinstance(holder, dict) and isinstance(holder.get(key), str) and holder[key]:
        yield holder, key, kind


def references(template: Obj) -> list[Ref]:
    """The ConfigMaps and Secrets ``template`` references, sorted, each once."""
    return sorted({Ref(kind, holder[key]) for holder, key, kind in _slots(template)})


def rewrite(template: Obj, names: Mapping[Ref, str]) -> Obj:
    """A copy of ``template`` whose references to the objects in ``names`` name their copy."""
    out = copy.deepcopy(template)
    for holder, key, kind in _slots(out):
        holder[key] = names.get(Ref(kind, holder[key]), holder[key])
    return out


class NeedsKey(Exception):
    """A Secret's digest was asked for without the installation's key (``kubectl ferry``
    cannot compute such a revision: it reads what Ferry published instead)."""


def digest(obj: Obj, key: bytes | None) -> str:
    """The digest of what a ConfigMap or Secret gives a Pod: its data (and a Secret's type);
    for a Secret an HMAC under ``key``."""
    content = {k: obj.get(k) or {} for k in ("data", "binaryData")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    if obj.get("kind") != SECRET:
        return hashlib.sha256(canonical.encode()).hexdigest()
    if key is None:
        raise NeedsKey("a Secret's digest needs the installation's key")
    typed = json.dumps([obj.get("type") or "Opaque", canonical], separators=(",", ":"))
    return hmac.new(key, typed.encode(), hashlib.sha256).hexdigest()


def read(kube: Kube, namespace: str, template: Obj, key: bytes | None) -> list[Found]:
    """Each object ``template`` references, as it is now (Secrets' digests under ``key``)."""
    found = []
    for ref in references(template):
        try:
            obj = kube.get("v1", PLURALS[ref.kind], namespace, ref.name)
        except kube_errors.ApiError as exc:
            if exc.status == 403 and ref.kind == SECRET:  # the namespace keeps its Secrets
                found.append(Found(ref, "", tracked=False))
                continue
            raise
        if obj is None:
            found.append(Found(ref, "", tracked=True))
        elif (obj["metadata"].get("annotations") or {}).get(TRACKING) == DISABLED or (
            ref.kind == SECRET and obj.get("type") in UNCOPIED_TYPES
        ):
            found.append(Found(ref, "", tracked=False))
        else:
            found.append(Found(ref, digest(obj, key), tracked=True, obj=obj))
    return found


def fingerprint(found: list[Found]) -> dict[str, str]:
    """What of ``found`` is part of the revision: each tracked object's digest (or
    ``missing``)."""
    return {f.ref.key: f.digest or "missing" for f in found if f.tracked}


def _template(target: Obj) -> Obj:
    template = (target.get("spec") or {}).get("template")
    return template if isinstance(template, dict) else {}


def revision(kube: Kube, target: Obj, key: bytes | None) -> str:
    """The revision of a Deployment: its pod template and the data of what it references
    (``key``: the installation's, ``StateStore.config_key``; None raises :class:`NeedsKey`
    when a Secret is part of it)."""
    namespace = str(target["metadata"].get("namespace", ""))
    found = read(kube, namespace, _template(target), key)
    return workloads.revision(target, fingerprint(found))


def copy_name(rollout: str, ref: Ref, data_digest: str) -> str:
    """The name of the copy of ``ref``'s data ``data_digest`` for Rollout ``rollout``:
    ``<name>-<hash>`` (the Rollout's name is in the hash, so two Rollouts never share one)."""
    suffix = hashlib.sha256(f"{rollout}\0{data_digest}".encode()).hexdigest()[:SUFFIX]
    stem = ref.name[: MAX_NAME - SUFFIX - 1].rstrip(".-")
    return f"{stem}-{suffix}"


def plan(kube: Kube, rollout: str, target: Obj, key: bytes) -> Pinned:
    """The revision of ``target`` and the template the primary runs for it (reads only; the
    copies are made by :func:`ensure`)."""
    namespace = str(target["metadata"].get("namespace", ""))
    template = _template(target)
    found = read(kube, namespace, template, key)
    names, copies = {}, []
    for item in found:
        if item.obj is None:
            continue
        names[item.ref] = copy_name(rollout, item.ref, item.digest)
        copies.append(_copy(item, names[item.ref], namespace))
    return Pinned(
        workloads.revision(target, fingerprint(found)),
        rewrite(template, names),
        names,
        tuple(copies),
    )


def _copy(item: Found, name: str, namespace: str) -> Obj:
    assert item.obj is not None
    body: Obj = {
        "apiVersion": "v1",
        "kind": item.ref.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED_LABELS, COPY_LABEL: "true"},
            "annotations": {COPY_OF: item.ref.name, DIGEST: item.digest},
        },
        "immutable": True,
    }
    for key in ("data", "binaryData", "type"):
        if key in item.obj:
            body[key] = copy.deepcopy(item.obj[key])
    return body


class NotACopy(kube_errors.ApiError):
    """An object that is not Ferry's copy holds the name a copy needs: Ferry neither uses nor
    deletes it."""


def ensure(kube: Kube, pinned: Pinned, owner: Obj, key: bytes) -> None:
    """Make the copies ``pinned`` names, owned by ``owner`` (the Rollout). A copy is trusted
    only if it holds exactly the data it should (its digest computed again); a copy with other
    data or another owner (left by a deleted Rollout of the same name) is replaced. An object
    of that name that is not a copy is left alone: :class:`NotACopy`."""
    uid = owner["metadata"]["uid"]
    for body in pinned.copies:
        meta = body["metadata"]
        plural = PLURALS[body["kind"]]
        current = kube.get("v1", plural, meta["namespace"], meta["name"])
        if current is not None:
            labels = current["metadata"].get("labels") or {}
            if labels.get(COPY_LABEL) != "true" or labels.get(MANAGED_BY) != "ferry":
                raise NotACopy(
                    409,
                    f"{body['kind']} {meta['name']} exists and is not Ferry's copy of "
                    f"{meta['annotations'][COPY_OF]}: rename or delete it",
                )
            owners = {o.get("uid") for o in current["metadata"].get("ownerReferences") or []}
            if uid in owners and digest(current, key) == meta["annotations"][DIGEST]:
                continue
            kube.delete("v1", plural, meta["namespace"], meta["name"])
        wanted = {**body, "metadata": {**meta, "ownerReferences": [owner_reference(owner)]}}
        try:
            kube.create(wanted)
        except kube_errors.ApiError as exc:
            if exc.status != 409:
                raise
            raise kube_errors.Transient(
                f"{body['kind']} {meta['name']} was written concurrently"
            ) from None


def pinned_names(primary: Obj | None) -> tuple[str, ...]:
    """The objects the primary's template references (``Kind/name``: its copies, and what it
    shares untracked), for :func:`collect`."""
    if primary is None:
        return ()
    template = (primary.get("spec") or {}).get("template") or {}
    return tuple(ref.key for ref in references(template))


def collect(
    kube: Kube, namespace: str, owner_uid: str, keep: set[str], seen: set[str]
) -> list[str]:
    """Delete the copies made for the Rollout ``owner_uid`` that ``keep`` (``Kind/name``) does
    not list; the keys of those deleted. Only the kinds ``seen`` (what its primary named so far)
    are looked at, so a Rollout that never pinned a Secret lists none."""
    deleted = []
    selector = f"{MANAGED_BY}={MANAGED_LABELS[MANAGED_BY]},{COPY_LABEL}=true"
    kinds = {key.partition("/")[0] for key in seen}
    for kind, plural in PLURALS.items():
        if kind not in kinds:
            continue
        try:
            items = kube.list_of("v1", plural, namespace, label_selector=selector)
        except kube_errors.ApiError as exc:
            if exc.status == 403 and kind == SECRET:
                continue
            raise
        for item in items:
            meta = item["metadata"]
            owners = {o.get("uid") for o in meta.get("ownerReferences") or []}
            key = Ref(kind, meta["name"]).key
            if owner_uid in owners and key not in keep:
                kube.delete("v1", plural, namespace, meta["name"])
                deleted.append(key)
    return deleted
