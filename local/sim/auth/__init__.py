"""Security of the simulated API server: authentication, authorization, admission policies and
the audit trail, as kube-apiserver models them.

``users`` describes identities and ``caller`` the request in progress; ``tokens`` authenticates
static users' and ServiceAccounts' bearer tokens and mints the latter; ``attributes`` maps a
request onto what it asks to do; ``rbac`` authorizes it over the stored roles and bindings
(``bootstrap`` creates the built-in ones, ``aggregation`` gathers aggregated ClusterRoles);
``reviews`` serves TokenRequest and the review APIs; ``policies`` enforces
ValidatingAdmissionPolicies; ``audit`` records every request; ``authority`` puts them together.
Nothing here speaks HTTP: the server's gate does, and calls in.
"""

from __future__ import annotations

from local.sim.auth.audit import AuditRecord
from local.sim.auth.authority import Authority
from local.sim.auth.users import UserInfo

__all__ = ["AuditRecord", "Authority", "UserInfo"]
