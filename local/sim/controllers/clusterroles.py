"""The clusterrole-aggregation controller: aggregated ClusterRoles hold their selected rules.

Whenever a ClusterRole changes, every ClusterRole with an ``aggregationRule`` is brought up to
date: its ``rules`` become the rules of the ClusterRoles its selectors select (see
:mod:`local.sim.auth.aggregation`). Writes only the ``rules`` of aggregated ClusterRoles.
"""

from __future__ import annotations

from local.sim.auth.aggregation import aggregated_rules
from local.sim.controllers.base import Controller, Settings
from local.sim.events import Event
from local.sim.objects import Obj
from local.sim.store import Store

GROUP = "rbac.authorization.k8s.io"


class ClusterRoleAggregator(Controller):
    """Keeps aggregated ClusterRoles' rules the union of the rules they select."""

    kinds = ((GROUP, "clusterroles"),)

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._roles = self.rt(GROUP, "clusterroles")
        self._dirty = False

    def handle(self, event: Event) -> None:
        self._dirty = True

    def tick(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        roles = self.store.list(self._roles)[0]
        for role in roles:
            wanted = aggregated_rules(role, roles)
            if wanted is None or wanted == (role.get("rules") or []):
                continue

            def gather(current: Obj) -> Obj:
                fresh = aggregated_rules(current, self.store.list(self._roles)[0])
                current["rules"] = fresh if fresh is not None else current.get("rules")
                return current

            self.patch_if_same(self._roles, role, gather)
