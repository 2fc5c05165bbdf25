"""The audit trail: one record per request the simulator served, for tests to read.

Each :class:`AuditRecord` says who asked (user, uid, groups), what (verb, API group and version,
resource, subresource, namespace, name, or the path of a non-resource request) and how it ended
(the HTTP code), like a kube-apiserver audit event at the ``Metadata`` level: never a body, never
a credential. The log keeps the newest records up to a bound and can be cleared. Records only;
this module decides nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from local.sim.auth.attributes import Attributes
from local.sim.clock import Clock

DEFAULT_LIMIT = 100_000


@dataclass(frozen=True)
class AuditRecord:
    """One served request."""

    user: str
    groups: tuple[str, ...]
    verb: str
    api_group: str
    api_version: str
    resource: str
    subresource: str
    namespace: str
    name: str
    path: str
    method: str
    code: int
    uid: str = ""
    time: float = 0.0
    """When the request was answered, on the simulator's clock."""
    annotations: dict[str, str] = field(default_factory=dict)
    """Set by admission, e.g. a ValidatingAdmissionPolicy's ``Audit`` action."""
    impersonator: str = ""
    """Who sent the request when it impersonated ``user`` (kubectl ``--as``)."""

    @property
    def resource_request(self) -> bool:
        return bool(self.resource)

    def to_json(self) -> dict[str, Any]:
        """The record as a plain dict (for JSON dumps of a recorded run)."""
        return {
            "user": self.user,
            "uid": self.uid,
            "groups": list(self.groups),
            "verb": self.verb,
            "apiGroup": self.api_group,
            "apiVersion": self.api_version,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
            "path": self.path,
            "method": self.method,
            "code": self.code,
            "time": self.time,
            "annotations": dict(self.annotations),
            "impersonator": self.impersonator,
        }


class AuditLog:
    """The newest ``limit`` records, oldest first; thread-safe."""

    def __init__(self, clock: Clock, limit: int = DEFAULT_LIMIT) -> None:
        self.clock = clock
        self._records: deque[AuditRecord] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def record(
        self,
        attributes: Attributes,
        method: str,
        code: int,
        annotations: dict[str, str] | None = None,
        impersonator: str = "",
    ) -> None:
        """Record a request that ended with ``code`` (now, on the simulator's clock)."""
        user = attributes.user
        entry = AuditRecord(
            user=user.username,
            groups=user.groups,
            verb=attributes.verb,
            api_group=attributes.api_group,
            api_version=attributes.api_version,
            resource=attributes.resource,
            subresource=attributes.subresource,
            namespace=attributes.namespace,
            name=attributes.name,
            path=attributes.path,
            method=method,
            code=code,
            uid=user.uid,
            time=self.clock.now(),
            annotations=dict(annotations or {}),
            impersonator=impersonator,
        )
        with self._lock:
            self._records.append(entry)

    def records(self) -> list[AuditRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
