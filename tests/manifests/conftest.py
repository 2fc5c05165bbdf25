"""The simulator the tests of this package create objects in, started once for the package.

It serves the upstream Knative CRDs (``../shared/schemas/knative/``) and Ferry's CRDs, like a
cluster with Knative installed, without controllers: the tests check what the API server
accepts, not what would run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.dynamic import DynamicClient

from local.sim.cluster import Simulator
from tests.manifests.helpers import STRICT, _create, _dynamic, _ferry_crds, _upstream_crds


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamicClient]:
    """A simulator with the upstream Knative CRDs and Ferry's CRDs installed."""
    crds = [*_upstream_crds(), *_ferry_crds()]
    cache = tmp_path_factory.mktemp("discovery")
    with Simulator(controllers=False) as sim:
        api = sim.api_client()
        try:
            bootstrap = _dynamic(api, cache / "bootstrap.json")
            resource = bootstrap.resources.get(
                api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
            )
            for crd in crds:
                resource.create(body=crd, query_params=STRICT)
            # A new client: its discovery sees the kinds the CRDs serve.
            yield _dynamic(api, cache / "cluster.json")
        finally:
            api.close()


@pytest.fixture(scope="package")
def scratch(cluster: DynamicClient) -> str:
    """A namespace for objects the tests try out (the installation has ferry-system)."""
    _create(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}})
    return "scratch"
