"""Authorization: kube-apiserver's privileged-group and RBAC authorizers, over the stored roles.

A request is allowed when its user is in ``system:masters``, or when a rule of a role bound to
it allows it: ClusterRoleBindings first, then the RoleBindings of the request's namespace
(a RoleBinding may name a Role of its namespace or a ClusterRole). Subjects are Users, Groups
and ServiceAccounts (a ServiceAccount subject without a namespace is the binding's namespace's).
Rules match as ``rbac/v1`` helpers match them: verbs, API groups, resources (``*``,
``resource/subresource``, ``*/subresource``), resource names, and non-resource URLs (``*`` and
``prefix*``). The decision's reason has the RBAC authorizer's wording (``RBAC: allowed by
ClusterRoleBinding "..." of ClusterRole "..." to Group "..."``; a denial names the roles that
could not be found). Reads the store; writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from local.sim import errors
from local.sim.auth import users
from local.sim.auth.attributes import Attributes
from local.sim.auth.users import UserInfo
from local.sim.objects import Obj
from local.sim.store import Store

GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer, with the reason it gives."""

    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class Grant:
    """One rule that applies to a user, and the binding it comes through."""

    rule: Obj
    source: str


def verb_matches(rule: Obj, verb: str) -> bool:
    return any(v in ("*", verb) for v in rule.get("verbs") or ())


def group_matches(rule: Obj, group: str) -> bool:
    return any(g in ("*", group) for g in rule.get("apiGroups") or ())


def resource_matches(rule: Obj, combined: str, subresource: str) -> bool:
    for resource in rule.get("resources") or ():
        if resource in ("*", combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def name_matches(rule: Obj, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def url_matches(rule: Obj, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or ():
        if url in ("*", path) or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(attributes: Attributes, rule: Obj) -> bool:
    """Whether one PolicyRule allows the request (``RuleAllows``)."""
    if not verb_matches(rule, attributes.verb):
        return False
    if attributes.resource_request:
        return (
            group_matches(rule, attributes.api_group)
            and resource_matches(rule, attributes.qualified_resource, attributes.subresource)
            and name_matches(rule, attributes.name)
        )
    return url_matches(rule, attributes.path)


def _describe(subject: Obj, binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


def _applies(subject: Obj, user: UserInfo, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return user.username == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.username == users.service_account_username(
            sa_namespace, str(name)
        )
    return False


class Rbac:
    """The authorizer chain of the simulated API server: privileged groups, then RBAC."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _list(self, plural: str, namespace: str | None = None) -> list[Obj]:
        rt = self.store.registry.versions_of(GROUP, plural)[0]
        return self.store.list(rt, namespace)[0]

    def _role(self, kind: str, namespace: str, name: str) -> Obj:
        plural = {"ClusterRole": "clusterroles", "Role": "roles"}.get(kind)
        if plural is not None:
            rt = self.store.registry.versions_of(GROUP, plural)[0]
            try:
                return self.store.get(rt, namespace if kind == "Role" else None, name)
            except errors.ApiError:
                pass
        raise errors.ApiError(404, "NotFound", f'{kind.lower()}.{GROUP} "{name}" not found')

    def grants(self, user: UserInfo, namespace: str) -> Iterator[Grant | errors.ApiError]:
        """Every rule bound to ``user`` cluster-wide and in ``namespace`` (when given), or the
        error met resolving a binding's role (``VisitRulesFor``)."""
        for binding in self._list("clusterrolebindings"):
            yield from self._through(binding, user, "", "ClusterRoleBinding")
        if namespace:
            for binding in self._list("rolebindings", namespace):
                yield from self._through(binding, user, namespace, "RoleBinding")

    def _through(
        self, binding: Obj, user: UserInfo, namespace: str, kind: str
    ) -> Iterator[Grant | errors.ApiError]:
        subject = next(
            (s for s in binding.get("subjects") or () if _applies(s, user, namespace)), None
        )
        if subject is None:
            return
        ref = binding.get("roleRef") or {}
        try:
            role = self._role(ref.get("kind", ""), namespace, ref.get("name", ""))
        except errors.ApiError as exc:
            yield exc
            return
        name = binding["metadata"]["name"]
        shown = f"{name}/{namespace}" if kind == "RoleBinding" else name
        source = (
            f'{kind} "{shown}" of {ref.get("kind")} "{ref.get("name")}" to '
            f"{_describe(subject, namespace)}"
        )
        for rule in role.get("rules") or ():
            yield Grant(rule, source)

    def authorize(self, attributes: Attributes) -> Decision:
        """Allowed, with the authorizer's reason, or not (with the RBAC errors met)."""
        if users.MASTERS in attributes.user.groups:
            return Decision(True)
        problems: list[str] = []
        for grant in self.grants(attributes.user, attributes.namespace):
            if isinstance(grant, errors.ApiError):
                problems.append(grant.message)
            elif rule_allows(attributes, grant.rule):
                return Decision(True, f"RBAC: allowed by {grant.source}")
        if not problems:
            return Decision(False)
        unique = list(dict.fromkeys(problems))
        joined = unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
        return Decision(False, f"RBAC: {joined}")


def forbidden(attributes: Attributes, reason: str) -> errors.ApiError:
    """The 403 the API server answers a request its authorizers did not allow."""
    who = attributes.user.username
    if not attributes.resource_request:
        why = f'User "{who}" cannot {attributes.verb} path "{attributes.path}"'
    else:
        why = (
            f'User "{who}" cannot {attributes.verb} resource "{attributes.qualified_resource}" '
            f'in API group "{attributes.api_group}"'
        )
        if attributes.namespace:
            why += f' in the namespace "{attributes.namespace}"'
        else:
            why += " at the cluster scope"
    if reason:
        why += f": {reason}"
    why = why.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    resource = attributes.resource if attributes.resource_request else ""
    return errors.forbidden(attributes.api_group, resource, attributes.name, why)
