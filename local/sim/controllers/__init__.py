"""Simulated cluster controllers: what kube-controller-manager and the kubelet would do.

Each controller is one module (the Deployment controller: one package) with one class deriving
from :class:`Controller`. The :class:`Manager` gives each its own thread, feeds it every
committed change of the kinds it declares, and calls :meth:`Controller.tick` regularly so
time-based transitions (a Pod becoming Ready after its delay) happen. Controllers act only
through the :class:`~local.sim.store.Store` API, exactly as a real controller acts only through
the API server; they never reach into each other. Conventions that let tests stage failures are
documented in ``local/sim/README.md``.
"""

from __future__ import annotations

from local.sim.controllers import (
    clusterroles,
    deployments,
    endpoints,
    garbage,
    jobs,
    kubelet,
    namespaces,
    replicasets,
)
from local.sim.controllers.base import Controller, Manager, Settings
from local.sim.store import Store

__all__ = ["Controller", "Manager", "Settings", "default_controllers"]


def default_controllers(store: Store, settings: Settings) -> list[Controller]:
    """One instance of every simulated controller, in a fixed order."""
    return [
        cls(store, settings)
        for cls in (
            deployments.DeploymentController,
            replicasets.ReplicaSetController,
            kubelet.Kubelet,
            jobs.JobController,
            endpoints.EndpointsController,
            garbage.GarbageCollector,
            namespaces.NamespaceController,
            clusterroles.ClusterRoleAggregator,
        )
    ]
