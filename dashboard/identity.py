"""Who is asking, and what they may do: TokenReview and SubjectAccessReview.

The dashboard's own ServiceAccount asks the API server: a bearer token a person gives is
reviewed once (``tokenreviews``) and never kept; what that person may do is asked per request
(``subjectaccessreviews``), with a short cache, so Kubernetes RBAC is the only policy. Decides
nothing itself.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from shared import models
from shared.kube import ApiError, Kube

REVIEW_TTL = 5.0
"""Seconds an access review's answer is reused (a revoked right stops working within it)."""
MAX_TOKEN = 16384
"""Bytes of a bearer token (a JWT with many groups stays well under)."""


@dataclass(frozen=True)
class Person:
    """An authenticated person, as the API server named them."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"username": self.username, "uid": self.uid, "groups": list(self.groups)}

    @classmethod
    def from_dict(cls, raw: Any) -> Person | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("username"), str):
            return None
        groups = raw.get("groups")
        return cls(
            raw["username"],
            str(raw.get("uid") or ""),
            tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        )


def review_token(kube: Kube, token: str) -> Person | None:
    """The person ``token`` authenticates (None: the API server does not accept it)."""
    if not token or len(token) > MAX_TOKEN or any(c.isspace() for c in token):
        return None
    status = kube.review_token(token)
    user = status.get("user") or {}
    if not status.get("authenticated") or not isinstance(user.get("username"), str):
        return None
    groups = user.get("groups") or []
    return Person(user["username"], str(user.get("uid") or ""), tuple(str(g) for g in groups))


class Access:
    """What a person may do, asked of the API server (SubjectAccessReview), briefly cached."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._cache: dict[tuple[Any, ...], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def allowed(
        self,
        person: Person,
        verb: str,
        resource: str,
        namespace: str = "",
        *,
        subresource: str = "",
        group: str = models.GROUP,
        name: str = "",
    ) -> bool:
        attributes = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attributes["namespace"] = namespace
        if subresource:
            attributes["subresource"] = subresource
        if name:
            attributes["name"] = name
        return self._review(person, "resourceAttributes", attributes)

    def allowed_url(self, person: Person, verb: str, path: str) -> bool:
        """May ``person`` ``verb`` the non-resource URL ``path`` (e.g. get ``/metrics``)?"""
        return self._review(person, "nonResourceAttributes", {"verb": verb, "path": path})

    def _review(self, person: Person, kind: str, attributes: dict[str, str]) -> bool:
        key = (person, kind, tuple(sorted(attributes.items())))
        now = time.monotonic()
        with self._lock:
            found = self._cache.get(key)
            if found is not None and now - found[0] < REVIEW_TTL:
                return found[1]
        spec: dict[str, Any] = {
            "user": person.username,
            "groups": list(person.groups),
            kind: attributes,
        }
        if person.uid:
            spec["uid"] = person.uid
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        try:
            answer = self.kube.request(
                "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=body
            )
        except ApiError:
            return False  # the dashboard may not ask: nobody may
        allowed = bool((answer.get("status") or {}).get("allowed"))
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[key] = (now, allowed)
        return allowed
