"""The door of the HTTP API: every request is authenticated, authorized and audited here.

Before a request is routed, its ``Authorization`` header is authenticated (401 Unauthorized when
a token is refused), its ``Impersonate-*`` headers are honoured when allowed, it is mapped onto
request attributes and authorized (403 Forbidden with the API server's message), and a call is
opened for it so admission knows who writes. After it is answered, the audit trail records it
with its HTTP code, and admission's warnings become ``Warning`` headers. Holds no state beyond
the request in progress; decides nothing itself.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from local.sim import errors
from local.sim.auth import Authority, caller
from local.sim.auth.attributes import Attributes, from_http
from local.sim.auth.users import UserInfo
from local.sim.server.responses import error_response

UNAUTHENTICATED = UserInfo("")
"""Who a request whose credentials were refused is recorded as."""


class Gate:
    """Flask hooks that put an :class:`Authority` in front of every route."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority

    def install(self, app: Flask) -> None:
        app.before_request(self._before)
        app.after_request(self._after)
        app.teardown_request(self._teardown)

    @staticmethod
    def _attributes(user: UserInfo) -> Attributes:
        return from_http(user, request.method, request.path, request.args)

    def _before(self) -> Response | None:
        g.sim_attributes = self._attributes(UNAUTHENTICATED)
        try:
            requester = self.authority.authenticate(request.headers.get("Authorization"))
            g.sim_attributes = self._attributes(requester)
            user = self.authority.impersonate(requester, request.headers.items())
            g.sim_impersonator = requester.username if user is not requester else ""
            g.sim_attributes = self._attributes(user)
            g.sim_call = caller.Call(user)
            g.sim_call_token = caller.begin(g.sim_call)
            self.authority.authorize(g.sim_attributes)
        except errors.ApiError as exc:
            return error_response(exc)
        return None

    def _after(self, response: Response) -> Response:
        call: caller.Call | None = g.get("sim_call")
        if call is not None:
            for warning in call.warnings:
                escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
                response.headers.add("Warning", f'299 - "{escaped}"')
        self._record(response.status_code, call)
        return response

    def _record(self, code: int, call: caller.Call | None) -> None:
        if g.get("sim_audited"):
            return
        g.sim_audited = True
        self.authority.audit.record(
            g.sim_attributes,
            request.method,
            code,
            call.annotations if call is not None else None,
            impersonator=g.get("sim_impersonator", ""),
        )

    def _teardown(self, exc: BaseException | None) -> None:
        if "sim_attributes" in g:
            self._record(500, g.get("sim_call"))  # only when no response was made
        token = g.pop("sim_call_token", None)
        if token is not None:
            caller.end(token)
