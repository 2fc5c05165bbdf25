"""Reading Knative manifests for the local Broker: the files, the objects kept, the durations.

:func:`load_manifests` collects the ``eventing.knative.dev`` Trigger and Broker objects from YAML
files and directories; :func:`parse_duration` reads the ISO-8601 durations their ``delivery``
uses; :class:`ManifestError` is how every part of the broker refuses a manifest it cannot honour.

This module only reads and checks text: it must not resolve destinations, compile filters or
open any connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

EVENTING_GROUP = "eventing.knative.dev"


class ManifestError(ValueError):
    """A Trigger or Broker manifest the local broker cannot honour (says which and why)."""


def load_manifests(paths: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """Trigger and Broker objects from YAML files or directories (searched recursively for
    ``*.yaml``/``*.yml``, in name order). Multi-document files and ``kind: List`` are read;
    every other kind is skipped."""
    roots = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for root in map(Path, roots):
        if root.is_dir():
            files.extend(sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            files.append(root)
    found: list[dict[str, Any]] = []
    for path in files:
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            raise ManifestError(f"{path}: not valid YAML: {exc}") from None
        for doc in _flatten(documents):
            if is_eventing(doc, "Trigger") or is_eventing(doc, "Broker"):
                found.append(doc)
    return found


def _flatten(documents: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            yield from _flatten(doc.get("items") or [])
        elif isinstance(doc, dict):
            yield doc


def is_eventing(doc: Mapping[str, Any], kind: str) -> bool:
    """Whether ``doc`` is a ``kind`` of the ``eventing.knative.dev`` API group (any version)."""
    api_version = str(doc.get("apiVersion", ""))
    return doc.get("kind") == kind and api_version.startswith(EVENTING_GROUP + "/")


_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as ``PT0.2S``, ``PT1M30S`` or ``P1D`` (years and
    months are refused: they have no fixed length)."""
    match = _DURATION.match(text.strip().upper().replace(",", "."))
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ManifestError(f"not an ISO-8601 duration (e.g. PT0.5S): {text!r}")
    scale = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    return sum(float(v) * scale[k] for k, v in match.groupdict().items() if v)
