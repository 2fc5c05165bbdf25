"""A small OpenID Connect provider for the dashboard's sign-in tests, over real HTTP.

It answers as an OIDC provider documents (OpenID Connect Core and Discovery, RFC 6749 and RFC
7636): a discovery document, a JWKS with its RSA key, an authorization endpoint that signs in
whoever the test says (``Issuer.user``) and redirects back with a one-time code bound to the
client, redirect URI, nonce and PKCE challenge, and a token endpoint that checks all of those
and answers an RS256 ID token (``invalid_grant`` otherwise, as RFC 6749 says). ``mint`` makes
tokens the tests tamper with.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT = "ferry-dashboard"


class Issuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key"
        self.url = ""
        self.user: dict[str, Any] = {}
        """The claims of whoever signs in next (set by the test)."""
        self.codes: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def mint(self, claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": CLIENT, "iat": now, "exp": now + 300, **claims}
        return jwt.encode(
            body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": issuer.url,
                        "authorization_endpoint": f"{issuer.url}/authorize",
                        "token_endpoint": f"{issuer.url}/token",
                        "jwks_uri": f"{issuer.url}/jwks",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                    },
                )
            elif parts.path == "/jwks":
                self._json(200, issuer.jwks())
            elif parts.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if query.get("client_id") != CLIENT or query.get("response_type") != "code":
                    self._json(400, {"error": "unauthorized_client"})
                    return
                code = secrets.token_urlsafe(16)
                with issuer.lock:
                    issuer.codes[code] = {**query, "user": dict(issuer.user)}
                back = urlencode({"code": code, "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{back}")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/token":
                self._json(404, {"error": "not_found"})
                return
            with issuer.lock:
                grant = issuer.codes.pop(form.get("code", ""), None)  # one use only
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if (
                form.get("grant_type") != "authorization_code"
                or grant is None
                or grant.get("client_id") != form.get("client_id")
                or grant.get("redirect_uri") != form.get("redirect_uri")
                or grant.get("code_challenge") != challenge
            ):
                self._json(400, {"error": "invalid_grant"})
                return
            claims = {**grant["user"], "nonce": grant.get("nonce", "")}
            self._json(
                200,
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": issuer.mint(claims),
                },
            )

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serving() -> Iterator[Issuer]:
    """An issuer on a free loopback port, until the block ends."""
    made = Issuer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(made))
    made.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield made
    server.shutdown()
    server.server_close()
