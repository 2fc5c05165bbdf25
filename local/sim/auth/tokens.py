"""Bearer tokens: static users' tokens and ServiceAccount tokens, minted and checked.

Static users are kube-apiserver's ``--token-auth-file``: a random token per user, audience
agnostic (accepted wherever the API server's own audiences are asked for). ServiceAccount tokens
are JWTs the simulator signs (HS256, a key of its own made at start), with the claims of bound
ServiceAccount tokens (``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` and the
``kubernetes.io`` claim naming the namespace, the ServiceAccount and any Pod or Secret the token is
bound to). A token authenticates while it is unexpired (a minute's leeway, as go-jose allows),
its ServiceAccount (and bound object) still exists with the uid it names, and its audiences meet
the ones asked for. Times are on the simulator's clock. This module reads the store and never
writes it; it never logs a token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from base64 import urlsafe_b64decode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from local.sim import errors
from local.sim.auth import users
from local.sim.auth.users import UserInfo
from local.sim.clock import parse_rfc3339
from local.sim.objects import Obj
from local.sim.store import Store

ISSUER = "https://kubernetes.default.svc.cluster.local"
"""The ``iss`` of ServiceAccount tokens, as kind and kubeadm clusters set it."""
API_AUDIENCES = (ISSUER, "https://kubernetes.default.svc")
"""Audiences the API server accepts tokens for (``--api-audiences``)."""
LEEWAY = 60
"""Seconds a token is still accepted after ``exp`` (and before ``nbf``), as go-jose allows."""
ALGORITHM = "HS256"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
POD_NAME = "authentication.kubernetes.io/pod-name"
POD_UID = "authentication.kubernetes.io/pod-uid"
_BOUND_KINDS = {"Pod": "pods", "Secret": "secrets"}


@dataclass(frozen=True)
class Authentication:
    """What a token proves: a user (None when it proves nothing), the audiences it is good for,
    and why it was refused (empty when it was not, or when nobody knows the token)."""

    user: UserInfo | None
    audiences: tuple[str, ...] = ()
    error: str = ""


def go_quoted(values: Iterable[str]) -> str:
    """A list as Go's ``%q`` prints a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


class Tokens:
    """The simulator's token authenticator and ServiceAccount token issuer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._key = secrets.token_bytes(32)
        self._kid = hashlib.sha256(self._key).hexdigest()[:43]
        self._static: dict[str, UserInfo] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ static users

    def add_user(self, name: str, groups: Sequence[str] = (), uid: str | None = None) -> str:
        """A new random token for a static user (its groups plus ``system:authenticated``)."""
        token = secrets.token_urlsafe(32)
        member_of = tuple(dict.fromkeys([*groups, users.AUTHENTICATED]))
        with self._lock:
            self._static[token] = UserInfo(name, uid or str(uuid.uuid4()), member_of)
        return token

    # ------------------------------------------------------------------ ServiceAccount tokens

    def mint(
        self,
        service_account: Obj,
        audiences: Sequence[str],
        expiration: int,
        bound: Obj | None = None,
    ) -> tuple[str, float]:
        """A signed token for ``service_account`` (a stored object), optionally bound to a Pod
        or Secret (a stored object too), and the time it expires."""
        meta = service_account["metadata"]
        now = int(self.store.clock.now())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": users.service_account_username(meta["namespace"], meta["name"]),
            "aud": list(audiences),
            "exp": now + expiration,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": meta["namespace"],
                "serviceaccount": {"name": meta["name"], "uid": meta["uid"]},
            },
        }
        if bound is not None:
            key = "pod" if bound["kind"] == "Pod" else "secret"
            ref = {"name": bound["metadata"]["name"], "uid": bound["metadata"]["uid"]}
            claims["kubernetes.io"][key] = ref
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        return token, float(now + expiration)

    # ------------------------------------------------------------------ authentication

    def authenticate(self, token: str, audiences: Sequence[str] | None = None) -> Authentication:
        """Who ``token`` proves the bearer is, for the audiences asked (the API server's own
        when none are)."""
        wanted = tuple(audiences) if audiences else API_AUDIENCES
        with self._lock:
            static = self._static.get(token)
        if static is not None:
            met = tuple(a for a in API_AUDIENCES if a in wanted)
            if not met:
                return Authentication(None, error="invalid bearer token")
            return Authentication(static, met)
        if not self._ours(token):
            return Authentication(None, error="invalid bearer token")
        try:
            return self._service_account(token, wanted)
        except _Refused as refused:
            return Authentication(None, error=f"[invalid bearer token, {refused}]")

    def _ours(self, token: str) -> bool:
        """Whether ``token`` is a compact JWT naming this issuer (not yet verified)."""
        parts = token.split(".")
        if len(parts) != 3 or token.lstrip().startswith("{"):
            return False
        try:
            payload = json.loads(urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("iss") == ISSUER

    def _service_account(self, token: str, wanted: tuple[str, ...]) -> Authentication:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidTokenError:
            raise _Refused("go-jose/go-jose: error in cryptographic primitive") from None
        aud = claims.get("aud") or []
        token_audiences = tuple([aud] if isinstance(aud, str) else aud) or API_AUDIENCES
        met = tuple(a for a in token_audiences if a in wanted)
        if not met:
            raise _Refused(
                f"token audiences {go_quoted(token_audiences)} is invalid for the target "
                f"audiences {go_quoted(wanted)}"
            )
        now = self.store.clock.now()
        if now - LEEWAY > float(claims.get("exp", 0)):
            raise _Refused("service account token has expired")
        if now + LEEWAY < float(claims.get("nbf", 0)):
            raise _Refused("service account token is not valid yet")
        private = claims.get("kubernetes.io") or {}
        namespace = str(private.get("namespace", ""))
        sa_ref = private.get("serviceaccount") or {}
        account = self._get("serviceaccounts", namespace, str(sa_ref.get("name", "")))
        if account is None:
            raise _Refused(f'serviceaccount "{sa_ref.get("name", "")}" not found')
        if self._deleted(account, now):
            raise _Refused(f"service account {namespace}/{sa_ref.get('name')} has been deleted")
        if account["metadata"]["uid"] != sa_ref.get("uid"):
            raise _Refused(
                f"service account UID ({account['metadata']['uid']}) does not match claim "
                f"({sa_ref.get('uid')})"
            )
        extra: dict[str, tuple[str, ...]] = {}
        if claims.get("jti"):
            extra[CREDENTIAL_ID] = (f"JTI={claims['jti']}",)
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            ref = private.get(kind)
            if not ref:
                continue
            bound = self._get(plural, namespace, str(ref.get("name", "")))
            if bound is None or self._deleted(bound, now):
                raise _Refused("service account token has been invalidated")
            if bound["metadata"]["uid"] != ref.get("uid"):
                raise _Refused(
                    f"{kind} UID ({bound['metadata']['uid']}) does not match service account "
                    f"{kind} ref claim ({ref.get('uid')})"
                )
            if kind == "pod":
                extra[POD_NAME], extra[POD_UID] = (str(ref["name"]),), (str(ref["uid"]),)
        user = users.service_account_user(
            namespace, str(sa_ref.get("name")), str(sa_ref.get("uid")), extra
        )
        return Authentication(user, met)

    def _get(self, plural: str, namespace: str, name: str) -> Obj | None:
        rt = self.store.registry.versions_of("", plural)[0]
        try:
            return self.store.get(rt, namespace, name)
        except errors.ApiError:
            return None

    @staticmethod
    def _deleted(obj: Obj, now: float) -> bool:
        stamp = obj["metadata"].get("deletionTimestamp")
        return bool(stamp) and parse_rfc3339(stamp) < now - LEEWAY


class _Refused(Exception):
    """A token of this issuer that does not authenticate, and why."""


def bound_kind_plural(kind: str) -> str | None:
    """The collection a TokenRequest's ``boundObjectRef`` of ``kind`` names, if supported."""
    return _BOUND_KINDS.get(kind)
