"""ClusterRole aggregation: the rules an aggregated ClusterRole gathers from the labelled ones.

A ClusterRole with an ``aggregationRule`` holds, in ``rules``, every distinct rule of the other
ClusterRoles its ``clusterRoleSelectors`` select, selector by selector, roles in name order, as
kube-controller-manager's clusterrole-aggregation controller computes them. A pure function:
the controller and the bootstrap policy write what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable

from local.sim.objects import Obj
from local.sim.selectors import SelectorError, label_selector_from_object


def aggregated_rules(role: Obj, roles: Iterable[Obj]) -> list[Obj] | None:
    """The rules ``role`` should hold, or None when it aggregates nothing."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    everyone = sorted(roles, key=lambda r: r["metadata"]["name"])
    gathered: list[Obj] = []
    for selector in rule.get("clusterRoleSelectors") or ():
        try:
            parsed = label_selector_from_object(selector or {})
        except SelectorError:
            continue
        for other in everyone:
            if other["metadata"]["name"] == role["metadata"]["name"]:
                continue
            if not parsed.matches(other["metadata"].get("labels") or {}):
                continue
            for policy_rule in other.get("rules") or ():
                if policy_rule not in gathered:
                    gathered.append(policy_rule)
    return gathered
