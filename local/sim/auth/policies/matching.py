"""Which writes an admission policy (or its binding) applies to: ``matchConstraints`` and
``matchResources``.

As kube-apiserver's admission matcher: the namespace selector (cluster-scoped writes other than
to Namespaces always pass; a Namespace is selected by its own labels), the object selector (the
new or the old object's labels), ``excludeResourceRules`` then ``resourceRules`` (API groups and
versions, operations, resources with ``resource/subresource``, ``*`` and ``*/sub``,
``resourceNames``, scope). An empty ``resourceRules`` (a binding's) constrains nothing. Pure
functions of the write and the namespace's labels; nothing here reads the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from local.sim.objects import Obj
from local.sim.selectors import SelectorError, label_selector_from_object
from local.sim.writes import Write

Labels = Mapping[str, str]


def _any(values: Any, wanted: str) -> bool:
    return any(v in ("*", wanted) for v in values or ())


def _resource(rule: Obj, write: Write) -> bool:
    for entry in rule.get("resources") or ():
        resource, _, sub = str(entry).partition("/")
        if resource in ("*", write.rt.plural) and sub in ("*", write.subresource):
            return True
    return False


def _scope(rule: Obj, write: Write) -> bool:
    scope = rule.get("scope") or "*"
    is_namespace = write.rt.key == ("", "namespaces")
    if scope == "Namespaced":
        return not is_namespace and bool(write.namespace)
    if scope == "Cluster":
        return is_namespace or not write.namespace
    return True


def rule_matches(rule: Obj, write: Write) -> bool:
    """Whether one ``NamedRuleWithOperations`` selects the write."""
    names = rule.get("resourceNames") or ()
    return (
        _any(rule.get("operations"), write.operation)
        and _any(rule.get("apiGroups"), write.rt.group)
        and _any(rule.get("apiVersions"), write.rt.version)
        and _resource(rule, write)
        and _scope(rule, write)
        and (not names or write.name in names)
    )


def _selects(selector: Any, labels: Labels) -> bool:
    if not selector:
        return True
    try:
        return label_selector_from_object(selector).matches(labels)
    except SelectorError:
        return False


def _labels(obj: Obj | None) -> Labels:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def matches(
    criteria: Obj | None, write: Write, namespace_labels: Callable[[str], Labels | None]
) -> bool:
    """Whether ``criteria`` (matchConstraints or matchResources; None: no constraint) select
    the write. ``namespace_labels`` gives a namespace's labels (None when it is gone)."""
    if not criteria:
        return True
    selector = criteria.get("namespaceSelector")
    if selector:
        if write.rt.key == ("", "namespaces"):
            if not _selects(selector, _labels(write.obj or write.old)):
                return False
        elif write.namespace:
            labels = namespace_labels(write.namespace)
            if labels is None or not _selects(selector, labels):
                return False
    selector = criteria.get("objectSelector")
    if selector and not (
        (_selects(selector, _labels(write.obj)) and write.obj is not None)
        or (_selects(selector, _labels(write.old)) and write.old is not None)
    ):
        return False
    if any(rule_matches(rule, write) for rule in criteria.get("excludeResourceRules") or ()):
        return False
    rules = criteria.get("resourceRules") or ()
    return not rules or any(rule_matches(rule, write) for rule in rules)
