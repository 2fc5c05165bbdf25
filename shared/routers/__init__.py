"""Traffic routers: how the canary's share of traffic is set, one module per implementation.

A router owns the objects that split traffic (for NGINX, the canary Ingress) and nothing else.
:class:`Router` is the whole interface; :func:`get` looks an implementation up by the name used
in ``spec.trafficRouting`` and refuses names it does not know. Routers never touch workloads
or rollout state, and never import one another.
"""

from __future__ import annotations

from typing import Any, Protocol

from shared.kube import Kube
from shared.models import RolloutSpec


class Router(Protocol):
    """Sets the split between the stable (primary) and canary Services."""

    def reconcile(self, rollout: RolloutSpec, owner: dict[str, Any]) -> None:
        """Create or repair the routing objects, keeping the current canary weight
        (0 for new ones). ``owner`` is the Rollout object, for owner references."""
        ...

    def set_weight(self, rollout: RolloutSpec, weight: int) -> None:
        """Send ``weight`` percent of traffic to the canary (level-based, idempotent)."""
        ...

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        """The canary weight in effect, or None if the routing objects do not exist."""
        ...

    def finalize(self, rollout: RolloutSpec) -> None:
        """Remove the routing objects: all traffic goes to the stable Service."""
        ...


class UnknownRouter(ValueError):
    pass


def get(name: str, kube: Kube) -> Router:
    from shared.routers import nginx

    known: dict[str, type] = {"nginx": nginx.NginxRouter}
    try:
        router: Router = known[name](kube)
    except KeyError:
        raise UnknownRouter(
            f"unknown traffic router {name!r} (known: {', '.join(sorted(known))})"
        ) from None
    return router
