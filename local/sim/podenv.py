"""What a live container sees of its Pod: its environment and the files of its volumes.

The kubelet resolves, from the store, a container's ``env`` (``value``; ``valueFrom`` a
ConfigMap key, a Secret key or a field of the Pod) and ``envFrom`` (ConfigMaps and Secrets, with
``prefix``), and writes the Pod's ``configMap``, ``secret``, ``projected`` (ConfigMap and Secret
sources) and ``emptyDir`` volumes as files under the Pod's directory, as Kubernetes lays them out
(one file per key, or the ``items`` asked for). A missing object that is not ``optional`` is a
:class:`Missing` (the kubelet keeps the container waiting, as Kubernetes does); rewriting the
files after an edit of the object touches only the files whose content changed, so a running
process sees a ConfigMap edit as it would on a cluster. Secret files are readable by their owner
only. Reads through the ``get`` callable it is given; writes only under the Pod's directory.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from local.sim.objects import Obj

Get = Callable[[str, str], Obj | None]
"""``get(kind, name)``: the Pod's namespace's ``configmaps`` or ``secrets`` object, or None."""

_VOLUME_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A volume's name: a DNS-1123 label, as Kubernetes validates it (never ``.`` or ``..``)."""


class Missing(Exception):
    """A ConfigMap, Secret or key the container needs does not exist (yet)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """``CreateContainerConfigError`` (environment) or ``ContainerCreating`` (volumes)."""


def _data(obj: Obj, kind: str) -> dict[str, bytes]:
    """An object's keys and their bytes (a Secret's and ``binaryData`` are base64)."""
    out: dict[str, bytes] = {}
    if kind == "secrets":
        for key, value in (obj.get("data") or {}).items():
            with contextlib.suppress(ValueError, TypeError):
                out[key] = base64.b64decode(value)
        for key, value in (obj.get("stringData") or {}).items():
            out[key] = str(value).encode()
        return out
    for key, value in (obj.get("data") or {}).items():
        out[key] = str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        with contextlib.suppress(ValueError, TypeError):
            out[key] = base64.b64decode(value)
    return out


def references(pod: Obj) -> set[tuple[str, str]]:
    """Every (``configmaps``|``secrets``, name) the Pod's env and volumes read."""
    found: set[tuple[str, str]] = set()
    spec = pod.get("spec") or {}
    for container in spec.get("containers") or []:
        for var in container.get("env") or []:
            source = (var or {}).get("valueFrom") or {}
            if (ref := source.get("configMapKeyRef")) and ref.get("name"):
                found.add(("configmaps", str(ref["name"])))
            if (ref := source.get("secretKeyRef")) and ref.get("name"):
                found.add(("secrets", str(ref["name"])))
        for source in container.get("envFrom") or []:
            if (ref := (source or {}).get("configMapRef")) and ref.get("name"):
                found.add(("configmaps", str(ref["name"])))
            if (ref := (source or {}).get("secretRef")) and ref.get("name"):
                found.add(("secrets", str(ref["name"])))
    for volume in spec.get("volumes") or []:
        for kind, name, _, _ in _volume_sources(volume or {}):
            found.add((kind, name))
    return found


def _field(pod: Obj, path: str, ip: str) -> str:
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", "default"),
        "status.podIP": ip,
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    return ""


def environment(pod: Obj, container: Obj, ip: str, get: Get) -> dict[str, str]:
    """The container's environment; :class:`Missing` when a required source is absent."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        source = source or {}
        prefix = str(source.get("prefix") or "")
        for kind, ref_key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = source.get(ref_key)
            if not isinstance(ref, dict):
                continue
            obj = get(kind, str(ref.get("name", "")))
            if obj is None:
                if ref.get("optional"):
                    continue
                what = "configmap" if kind == "configmaps" else "secret"
                raise Missing("CreateContainerConfigError", f'{what} "{ref.get("name")}" not found')
            for key, value in _data(obj, kind).items():
                env[prefix + key] = value.decode(errors="replace")
    for var in container.get("env") or []:
        if not isinstance(var, dict) or not var.get("name"):
            continue
        name = str(var["name"])
        if "valueFrom" not in var:
            env[name] = _expand(str(var.get("value", "")), env)
            continue
        source = var.get("valueFrom") or {}
        if (ref := source.get("fieldRef")) is not None:
            env[name] = _field(pod, str(ref.get("fieldPath", "")), ip)
            continue
        for kind, ref_key in (("configmaps", "configMapKeyRef"), ("secrets", "secretKeyRef")):
            ref = source.get(ref_key)
            if not isinstance(ref, dict):
                continue
            obj = get(kind, str(ref.get("name", "")))
            data = _data(obj, kind) if obj is not None else {}
            key = str(ref.get("key", ""))
            if key in data:
                env[name] = data[key].decode(errors="replace")
            elif not ref.get("optional"):
                what = "configmap" if kind == "configmaps" else "secret"
                raise Missing(
                    "CreateContainerConfigError",
                    f"couldn't find key {key} in {what} {pod['metadata'].get('namespace')}/"
                    f"{ref.get('name')}"
                    if obj is not None
                    else f'{what} "{ref.get("name")}" not found',
                )
    return env


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` references to variables defined before (``$$`` escapes)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, value)


def _volume_sources(volume: Obj) -> Iterator[tuple[str, str, Any, bool]]:
    """(kind, name, items, optional) of each object a volume projects."""
    if isinstance(cm := volume.get("configMap"), dict):
        yield "configmaps", str(cm.get("name", "")), cm.get("items"), bool(cm.get("optional"))
    if isinstance(secret := volume.get("secret"), dict):
        yield (
            "secrets",
            str(secret.get("secretName", "")),
            secret.get("items"),
            bool(secret.get("optional")),
        )
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for source in projected.get("sources") or []:
            for kind, key in (("configmaps", "configMap"), ("secrets", "secret")):
                ref = (source or {}).get(key)
                if isinstance(ref, dict):
                    yield (
                        kind,
                        str(ref.get("name", "")),
                        ref.get("items"),
                        bool(ref.get("optional")),
                    )


def write_volumes(pod: Obj, root: Path, get: Get) -> dict[str, tuple[Path, bool]]:
    """Write the Pod's volumes under ``root/volumes/`` (only changed files are rewritten);
    their directories by volume name, each with whether it holds a Secret's data.
    :class:`Missing` when a required object is absent."""
    out: dict[str, tuple[Path, bool]] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if not isinstance(volume, dict) or not _VOLUME_NAME.match(str(volume.get("name", ""))):
            continue
        sources = list(_volume_sources(volume))
        if not sources and "emptyDir" not in volume:
            continue  # hostPath, persistent volumes...: not modelled
        files: dict[str, tuple[bytes, bool]] = {}
        for kind, name, items, optional in sources:
            obj = get(kind, name)
            if obj is None:
                if optional:
                    continue
                what = "configmap" if kind == "configmaps" else "secret"
                raise Missing(
                    "ContainerCreating",
                    f'MountVolume.SetUp failed for volume "{volume["name"]}": {what} '
                    f'"{name}" not found',
                )
            data = _data(obj, kind)
            if isinstance(items, list):
                for item in items:
                    key = str((item or {}).get("key", ""))
                    if key in data:
                        files[str(item.get("path") or key)] = (data[key], kind == "secrets")
                    elif not optional:
                        raise Missing(
                            "ContainerCreating",
                            f'MountVolume.SetUp failed for volume "{volume["name"]}": '
                            f"key {key} not found in {name}",
                        )
            else:
                for key, value in data.items():
                    files[key] = (value, kind == "secrets")
        directory = root / "volumes" / str(volume["name"])
        _sync_files(directory, files, keep=not sources)
        out[str(volume["name"])] = (directory, any(k == "secrets" for k, *_ in sources))
    return out


def _sync_files(directory: Path, files: dict[str, tuple[bytes, bool]], keep: bool) -> None:
    """Make ``directory`` hold exactly ``files`` (an ``emptyDir``, ``keep``, is left to its
    process); each write is atomic."""
    directory.mkdir(parents=True, exist_ok=True)
    if keep:
        return
    wanted: set[Path] = set()
    for relative, (content, secret) in files.items():
        target = (directory / relative).resolve()
        if directory.resolve() not in target.parents:
            continue  # an item path that climbs out of the volume
        wanted.add(target)
        with contextlib.suppress(FileNotFoundError):
            if target.read_bytes() == content:
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(content)
        os.chmod(temporary, 0o600 if secret else 0o644)
        os.replace(temporary, target)
    for path in directory.rglob("*"):
        if path.is_file() and path.resolve() not in wanted:
            path.unlink()
