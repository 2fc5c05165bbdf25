"""Who a request is made by: the API server's ``user.Info``, and the identities it knows by name.

A :class:`UserInfo` is what authentication yields and what authorization, admission and the
audit trail read. The well-known users and groups are those of a real cluster (``system:masters``,
``system:authenticated``, ``system:anonymous``...), plus the simulator's local administrator.
This module only describes identities; it checks no credential and grants nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MASTERS = "system:masters"
"""The privileged group: every request of one of its members is allowed."""
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNTS = "system:serviceaccounts"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) user: name, uid, groups and extra attributes."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``UserInfo`` of the authentication.k8s.io API (empty fields left out)."""
        out: dict[str, Any] = {"username": self.username}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {key: list(values) for key, values in self.extra.items()}
        return out

    @property
    def service_account(self) -> tuple[str, str] | None:
        """``(namespace, name)`` when this is a ServiceAccount's user."""
        if not self.username.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.username[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
        return (namespace, name) if namespace and name else None


def service_account_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def service_account_user(
    namespace: str, name: str, uid: str, extra: Mapping[str, tuple[str, ...]] | None = None
) -> UserInfo:
    """The user a ServiceAccount's token authenticates as."""
    return UserInfo(
        service_account_username(namespace, name),
        uid,
        (SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED),
        dict(extra or {}),
    )


def from_json(data: Mapping[str, Any]) -> UserInfo:
    """A user as a review's spec or an API object names it."""
    extra = data.get("extra") or {}
    return UserInfo(
        str(data.get("user") or data.get("username") or ""),
        str(data.get("uid") or ""),
        tuple(str(g) for g in data.get("groups") or ()),
        {str(k): tuple(str(v) for v in values or ()) for k, values in extra.items()},
    )


ANONYMOUS = UserInfo("system:anonymous", groups=(UNAUTHENTICATED,))
"""A request without credentials, when the simulator does not grant local admin access."""

LOCAL_ADMIN = UserInfo("system:admin", groups=(MASTERS, AUTHENTICATED))
"""A request without credentials under local admin access (``anonymous_admin=True``)."""

LOOPBACK = UserInfo("system:apiserver", groups=(MASTERS, AUTHENTICATED))
"""Writes made inside the simulator (its controllers, tests writing to the store), as the API
server's own loopback client."""
