"""The simulated API server's security, put together: who is asking, and may they.

An :class:`Authority` owns the token authenticator, the RBAC authorizer, the admission policies,
the review endpoints and the audit trail of one simulator, and bootstraps the built-in RBAC
objects. A request with ``Authorization: Bearer <token>`` is that token's user (401 when the
token proves nothing); a request without is the local administrator (``system:admin`` in
``system:masters``, allowed everything) under local admin access, else ``system:anonymous``.
Either may impersonate another user when RBAC allows it.
Knows no HTTP: the server's gate feeds it headers and attributes.
"""

from __future__ import annotations

from collections.abc import Iterable

from local.sim import errors
from local.sim.auth import bootstrap, rbac
from local.sim.auth.attributes import Attributes
from local.sim.auth.audit import DEFAULT_LIMIT, AuditLog
from local.sim.auth.impersonation import impersonated
from local.sim.auth.policies import Policies
from local.sim.auth.rbac import Rbac
from local.sim.auth.reviews import Handler, Reviews
from local.sim.auth.tokens import Tokens
from local.sim.auth.users import ANONYMOUS, LOCAL_ADMIN, UserInfo
from local.sim.store import Store


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, as kube-apiserver reads it."""
    parts = (header or "").strip().split(" ")
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


class Authority:
    """Authentication, authorization, admission policies and the audit trail of a simulator."""

    def __init__(
        self, store: Store, *, anonymous_admin: bool = True, audit_limit: int = DEFAULT_LIMIT
    ) -> None:
        self.anonymous_admin = anonymous_admin
        self.tokens = Tokens(store)
        self.rbac = Rbac(store)
        self.policies = Policies(store)
        self.audit = AuditLog(store.clock, audit_limit)
        self.reviews = Reviews(store, self.tokens, self.rbac)
        bootstrap.install(store)

    def handlers(self) -> dict[tuple[str, str, str], Handler]:
        """The endpoints answered here rather than by the store (TokenRequest, reviews)."""
        return self.reviews.handlers()

    def authenticate(self, authorization: str | None) -> UserInfo:
        """The user a request's ``Authorization`` header proves; 401 for a refused token."""
        token = bearer_token(authorization)
        if token is None:
            return LOCAL_ADMIN if self.anonymous_admin else ANONYMOUS
        outcome = self.tokens.authenticate(token)
        if outcome.user is None:
            raise errors.unauthorized()
        return outcome.user

    def impersonate(self, requester: UserInfo, headers: Iterable[tuple[str, str]]) -> UserInfo:
        """Who a request runs as: its requester, or the user its ``Impersonate-*`` headers
        ask for, which the requester must be allowed to impersonate (403 otherwise)."""
        return impersonated(self.rbac, requester, headers)

    def authorize(self, attributes: Attributes) -> None:
        """Nothing when the request is allowed; the API server's 403 otherwise."""
        decision = self.rbac.authorize(attributes)
        if not decision.allowed:
            raise rbac.forbidden(attributes, decision.reason)
