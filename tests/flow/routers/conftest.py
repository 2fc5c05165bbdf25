"""A runtime whose simulator serves the upstream routing CRDs, and the routers' objects.

``routed`` is ``ferry up`` with the Gateway API, Istio and SMI CRDs installed (from
``../shared/schemas``: the tests fail, not skip, without them), its route-watch sources
watching them. ``problems`` checks an object against the CRD it belongs to, as an API server
would (CEL rules included), for every version the tests record.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from local import demo, upstream
from local.runtime import Runtime
from shared import schemas
from shared.kube import Kube
from tests.flow.conftest import fast_options

Obj = dict[str, Any]
GATEWAY = "gateway.networking.k8s.io/v1"


@pytest.fixture
def routed() -> Iterator[Runtime]:
    with Runtime(fast_options()) as started:
        assert started.sim is not None
        admin = Kube(started.sim.api_client())
        for router in upstream.FOR_ROUTER:
            upstream.install(admin, router)
        # knative/route-watch/: the sources find the new kinds (else a test's first writes
        # could come before their watch starts)
        assert started.wait_watching(), "a route-watch source does not watch its kinds"
        yield started


@pytest.fixture
def admin(routed: Runtime) -> Kube:
    assert routed.sim is not None
    return Kube(routed.sim.api_client())


ISTIO = "networking.istio.io/v1"
PLURALS = {
    "HTTPRoute": "httproutes",
    "GRPCRoute": "grpcroutes",
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
}


def create(kube: Kube, obj: Obj) -> Obj:
    """Create a user's object of a kind Ferry does not create itself (a route)."""
    created: Obj = kube.request(
        "POST",
        f"/apis/{obj['apiVersion']}/namespaces/{obj['metadata']['namespace']}/"
        f"{PLURALS[obj['kind']]}",
        body=obj,
    )
    return created


def problems(obj: Obj, crd_file: str) -> list[str]:
    """What the upstream CRD's schema refuses in ``obj`` (unknown fields, then value errors,
    then the CEL rules it breaks)."""
    crd = upstream.crd(crd_file)
    version = obj["apiVersion"].split("/")[-1]
    schema = schemas.schema_for_version(crd, version)
    assert schema is not None, f"{crd_file} does not serve {version}"
    copied = copy.deepcopy(obj)
    unknown = [f"unknown field {path}" for path in schemas.prune(copied, schema)]
    errors = schemas.validate(copied, schema) or schemas.check_rules(copied, schema)
    return unknown + [str(error) for error in errors]


def http_route(name: str = demo.NAME, *, canary_ref: bool = False) -> Obj:
    """The user's HTTPRoute, as Git has it: a rule to the stable Service, and one to another
    backend Ferry must not touch."""
    refs: list[Obj] = [{"name": f"{demo.NAME}-primary", "port": 80}]
    if canary_ref:
        refs = [
            {**refs[0], "weight": 100},
            {"name": f"{demo.NAME}-canary", "port": 80, "weight": 0},
        ]
    return {
        "apiVersion": GATEWAY,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": demo.NAMESPACE, "labels": {"team": "web"}},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "hostnames": ["podinfo.local"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs},
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                    "backendRefs": [{"name": "cdn", "port": 8080}],
                },
            ],
        },
    }


def grpc_route(name: str = demo.NAME) -> Obj:
    return {
        "apiVersion": GATEWAY,
        "kind": "GRPCRoute",
        "metadata": {"name": name, "namespace": demo.NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "rules": [{"backendRefs": [{"name": demo.NAME, "port": 9999}]}],
        },
    }


def virtual_service(name: str = demo.NAME, host: str = f"{demo.NAME}-primary") -> Obj:
    """The user's VirtualService, as Git has it: a named route to the stable Service, and one
    to another host Ferry must not touch."""
    return {
        "apiVersion": ISTIO,
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": demo.NAMESPACE, "labels": {"team": "web"}},
        "spec": {
            "hosts": ["podinfo.local"],
            "gateways": ["istio-system/public"],
            "http": [
                {"name": "primary", "route": [{"destination": {"host": host}}]},
                {
                    "name": "docs",
                    "match": [{"uri": {"prefix": "/docs"}}],
                    "route": [{"destination": {"host": "docs"}}],
                },
            ],
        },
    }


SUBSETS = {"stable": f"{demo.NAME}-primary", "canary": f"{demo.NAME}-canary"}
"""The subsets of the subset-level tests, and the Service each stands for."""
SUBSET_ROUTING: Obj = {
    "istio": {
        "virtualService": {"name": demo.NAME, "routes": ["primary"]},
        "destinationRule": {
            "name": demo.NAME,
            "canarySubsetName": "canary",
            "stableSubsetName": "stable",
        },
    }
}


def subset_virtual_service(name: str = demo.NAME) -> Obj:
    """The user's VirtualService for subset-level splitting, as Argo Rollouts' docs write it:
    the route to the Service's host sends to its stable subset (weight 100) and its canary
    subset (weight 0)."""
    obj = virtual_service(name)
    obj["spec"]["http"][0]["route"] = [
        {"destination": {"host": demo.NAME, "subset": "stable"}, "weight": 100},
        {"destination": {"host": demo.NAME, "subset": "canary"}, "weight": 0},
    ]
    return obj


def destination_rule(name: str = demo.NAME, stable_labels: Obj | None = None) -> Obj:
    """The user's DestinationRule: the canary subset with the app's label (as in Argo
    Rollouts' docs), the stable subset with ``stable_labels`` (none: no labels at all)."""
    stable: Obj = {"name": "stable"}
    if stable_labels is not None:
        stable["labels"] = stable_labels
    return {
        "apiVersion": ISTIO,
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": demo.NAMESPACE},
        "spec": {
            "host": demo.NAME,
            "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}},
            "subsets": [{"name": "canary", "labels": {"app": demo.NAME}}, stable],
        },
    }


def rollout(routing: Obj, steps: list[Obj] | None = None) -> Obj:
    obj = demo.rollout(steps)
    obj["spec"]["trafficRouting"] = routing
    return obj


def as_git_wrote(obj: Obj) -> Obj:
    """What the user's Git manages of a route: the spec, labels and annotations."""
    meta = obj["metadata"]
    return {
        "spec": obj["spec"],
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }


Weights = list[list[tuple[str, Any]]]


def gateway_weights(obj: Obj) -> Weights:
    """Each rule's backendRefs of a Gateway API route as (name, weight or None)."""
    return [
        [(ref["name"], ref.get("weight")) for ref in rule.get("backendRefs") or []]
        for rule in obj["spec"]["rules"]
    ]


def istio_weights(obj: Obj) -> Weights:
    """Each HTTP route's destinations of a VirtualService as (host, weight or None); a subset
    of the Rollout's Service as the Service it stands for (:data:`SUBSETS`)."""

    def host(destination: Obj) -> str:
        if destination.get("host") == demo.NAME and "subset" in destination:
            return SUBSETS[destination["subset"]]
        return str(destination["host"])

    return [
        [(host(ref["destination"]), ref.get("weight")) for ref in rule.get("route") or []]
        for rule in obj["spec"]["http"]
    ]
