"""Sign-in with an OpenID Connect identity provider: the authorization code flow with PKCE.

The dashboard sends the browser to the provider's authorization endpoint with a fresh
``state``, ``nonce`` and PKCE challenge (kept only in the signed session), and on the way back
exchanges the code at the token endpoint for an ID token, which it verifies: signature by a key
of the provider's JWKS (RS256/ES256), ``iss``, ``aud`` (the client id), ``exp``/``iat``, and the
``nonce``. The person is the username claim (``email`` needs ``email_verified``) and the groups
claim, with a prefix (as kube-apiserver's ``--oidc-username-prefix``/``--oidc-groups-prefix``), so
an IdP's user cannot pass for a Kubernetes one; RBAC decides what that name may do. The ID token
is not kept. The provider must be HTTPS (plain HTTP only on a loopback address).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests

from dashboard.identity import Person

TIMEOUT = 10.0
DISCOVERY_TTL = 3600.0
ALGORITHMS = ["RS256", "ES256"]
LEEWAY = 30
"""Seconds of clock difference allowed on ``exp``/``iat``."""


class SignInFailed(Exception):
    """The provider's answer cannot sign anyone in; the message says why (no secret in it)."""


@dataclass(frozen=True)
class Provider:
    """How the dashboard uses one OIDC provider."""

    issuer: str
    client_id: str
    client_secret: str = ""
    username_claim: str = "email"
    groups_claim: str = "groups"
    prefix: str = "oidc:"
    """Put before the username and each group."""
    scopes: str = "openid email profile groups"

    def __post_init__(self) -> None:
        parts = urlsplit(self.issuer)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError(f"the OIDC issuer must be an https URL, not {self.issuer!r}")
        if not self.client_id:
            raise ValueError("the OIDC client id is empty")


@dataclass(frozen=True)
class Attempt:
    """One sign-in under way: what the callback must find again (kept in the session)."""

    state: str
    nonce: str
    verifier: str

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier}


class Oidc:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self._http = requests.Session()
        self._lock = threading.Lock()
        self._discovered: tuple[float, dict[str, Any]] | None = None
        self._keys: jwt.PyJWKClient | None = None

    def _discovery(self) -> dict[str, Any]:
        with self._lock:
            if self._discovered and time.monotonic() - self._discovered[0] < DISCOVERY_TTL:
                return self._discovered[1]
        url = self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            answer = self._http.get(url, timeout=TIMEOUT)
            answer.raise_for_status()
            found = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise SignInFailed(
                f"cannot read the provider's configuration at {url}: {exc}"
            ) from None
        if found.get("issuer") != self.provider.issuer:
            raise SignInFailed(
                f"the provider at {url} calls itself {found.get('issuer')!r}, not "
                f"{self.provider.issuer!r}"
            )
        with self._lock:
            self._discovered = (time.monotonic(), found)
            self._keys = jwt.PyJWKClient(str(found["jwks_uri"]), cache_keys=True, timeout=10)
        return dict(found)

    def start(self, redirect_uri: str) -> tuple[str, Attempt]:
        """The provider's authorization URL to send the browser to, and the attempt to keep."""
        found = self._discovery()
        attempt = Attempt(
            secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        )
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(attempt.verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.provider.scopes,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{found['authorization_endpoint']}?{urlencode(query)}", attempt

    def finish(self, code: str, redirect_uri: str, attempt: Attempt) -> Person:
        """The person the provider signed in, from the code it sent back."""
        found = self._discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.provider.client_id,
            "code_verifier": attempt.verifier,
        }
        auth = (
            (self.provider.client_id, self.provider.client_secret)
            if self.provider.client_secret
            else None
        )
        try:
            answer = self._http.post(
                str(found["token_endpoint"]), data=form, auth=auth, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise SignInFailed(f"the provider's token endpoint is unreachable: {exc}") from None
        body = _json(answer)
        if answer.status_code != 200 or not isinstance(body.get("id_token"), str):
            raise SignInFailed(
                f"the provider refused the code: {body.get('error', answer.status_code)}"
            )
        return self.person(body["id_token"], attempt.nonce)

    def person(self, id_token: str, nonce: str) -> Person:
        """The person an ID token names, once verified (SignInFailed otherwise)."""
        self._discovery()
        assert self._keys is not None
        try:
            key = self._keys.get_signing_key_from_jwt(id_token)
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.provider.client_id,
                issuer=self.provider.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInFailed(f"the ID token is not valid: {exc}") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("the ID token was not issued for this sign-in (nonce)")
        name = claims.get(self.provider.username_claim)
        if not isinstance(name, str) or not name:
            raise SignInFailed(f"the ID token has no {self.provider.username_claim!r} claim")
        if self.provider.username_claim == "email" and claims.get("email_verified") is not True:
            raise SignInFailed("the ID token's email is not verified")
        groups = claims.get(self.provider.groups_claim) or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise SignInFailed(f"the ID token's {self.provider.groups_claim!r} claim is no list")
        prefix = self.provider.prefix
        return Person(f"{prefix}{name}", "", tuple(f"{prefix}{g}" for g in groups))


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
