"""Upstream CRDs (Gateway API, SMI, Istio) put into the simulator, as a cluster with them has.

A router edits objects of kinds other projects define; the simulator serves them once their
CRDs are installed, and then validates every write against the upstream structural schema as
an API server does. Ferry does not ship these CRDs (they are their projects'): they are read
from ``$FERRY_SCHEMAS`` (default ``../shared/schemas`` beside the checkout, see its README).
Installs only; it never writes an object of those kinds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from shared.kube import Kube, NotFound

REPO = Path(__file__).resolve().parents[1]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
FOR_ROUTER: dict[str, tuple[str, ...]] = {
    "gatewayAPI": ("gateway-api/httproutes.yaml", "gateway-api/grpcroutes.yaml"),
    "istio": ("istio/virtualservices.yaml", "istio/destinationrules.yaml"),
    "smi": ("smi/trafficsplits.yaml",),
}
"""The CRDs each router's objects need, by the router's name in ``spec.trafficRouting``."""


def schemas_dir() -> Path:
    return Path(os.environ.get("FERRY_SCHEMAS") or REPO.parent / "shared" / "schemas")


def crd(relative: str) -> dict[str, Any]:
    """The upstream CRD at ``relative`` (e.g. ``smi/trafficsplits.yaml``)."""
    path = schemas_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"the upstream CRD {path} is missing: set FERRY_SCHEMAS to a folder holding "
            f"{relative} (Gateway API, Istio and SMI CRDs, as released by those projects)"
        )
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def install(kube: Kube, router: str) -> list[str]:
    """Install the CRDs ``router`` needs (none for nginx and noop); their names."""
    names = []
    for relative in FOR_ROUTER.get(router, ()):
        doc = crd(relative)
        name = doc["metadata"]["name"]
        try:
            kube.request("GET", f"{CRDS}/{name}")
        except NotFound:
            kube.request("POST", CRDS, body=doc)
        names.append(name)
    return names
