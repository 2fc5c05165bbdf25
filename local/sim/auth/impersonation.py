"""Impersonation: ``Impersonate-User``, ``-Group``, ``-Uid`` and ``-Extra-*`` headers, as
kube-apiserver's impersonation filter reads and authorizes them (``kubectl --as``).

The requester must be allowed ``impersonate`` on each thing asked for: ``users`` (or
``serviceaccounts`` in their namespace, for a ServiceAccount's username), ``groups``,
``userextras/<key>`` and ``uids`` (authentication.k8s.io); a refusal is the API server's 403
naming that check. The request then runs as the user asked for, with ``system:authenticated``
added (``system:unauthenticated`` for ``system:anonymous``) and, for a ServiceAccount without
groups asked for, its ServiceAccount groups. Groups, extras or a uid without a user is 400.
Decides through the authorizer it is given; keeps nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote

from local.sim import errors
from local.sim.auth import rbac, users
from local.sim.auth.attributes import Attributes
from local.sim.auth.users import UserInfo

AUTHENTICATION = "authentication.k8s.io"
_EXTRA = "impersonate-extra-"


def _values(value: str) -> list[str]:
    """A header's values: a server joins repeated headers with commas."""
    return [v.strip() for v in value.split(",") if v.strip()]


def impersonated(
    authorizer: rbac.Rbac, requester: UserInfo, headers: Iterable[tuple[str, str]]
) -> UserInfo:
    """The user the request runs as: ``requester``, or the one it may impersonate."""
    name: str | None = None
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    uid = ""
    for key, value in headers:
        lowered = key.lower()
        if lowered == "impersonate-user":
            name = value.strip()
        elif lowered == "impersonate-group":
            groups.extend(_values(value))
        elif lowered == "impersonate-uid":
            uid = value.strip()
        elif lowered.startswith(_EXTRA):
            extra.setdefault(unquote(lowered[len(_EXTRA) :]), []).extend(_values(value))
    if name is None:
        if groups or extra or uid:
            raise errors.bad_request(
                "requested impersonation of groups, extra or uid without impersonating a user"
            )
        return requester

    def ask(resource: str, **fields: str) -> Attributes:
        return Attributes(requester, "impersonate", True, resource=resource, **fields)

    checks: list[Attributes] = []
    account = UserInfo(name).service_account
    if account is not None:
        checks.append(
            ask("serviceaccounts", api_version="v1", namespace=account[0], name=account[1])
        )
    else:
        checks.append(ask("users", api_version="v1", name=name))
    checks += [ask("groups", api_version="v1", name=g) for g in groups]
    for key, values in extra.items():
        checks += [
            ask("userextras", api_group=AUTHENTICATION, api_version="v1", subresource=key, name=v)
            for v in values
        ]
    if uid:
        checks.append(ask("uids", api_group=AUTHENTICATION, api_version="v1", name=uid))
    for check in checks:
        decision = authorizer.authorize(check)
        if not decision.allowed:
            raise rbac.forbidden(check, decision.reason)
    if account is not None and not groups:
        groups = [users.SERVICE_ACCOUNTS, f"{users.SERVICE_ACCOUNTS}:{account[0]}"]
    if name != users.ANONYMOUS.username:
        if not {users.AUTHENTICATED, users.UNAUTHENTICATED} & set(groups):
            groups.append(users.AUTHENTICATED)
    elif users.UNAUTHENTICATED not in groups:
        groups.append(users.UNAUTHENTICATED)
    return UserInfo(name, uid, tuple(groups), {k: tuple(v) for k, v in extra.items()})
