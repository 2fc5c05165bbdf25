"""The Flask app of the simulator: its fixed endpoints, and dispatch by URL path.

``/version`` and the health probes are answered here; every request first passes the ``gate``
(authentication, authorization, audit); discovery documents go to ``discovery``, resource URLs
to ``routes`` (which hands watches to ``watch``). Every
:class:`~local.sim.errors.ApiError` becomes a Status body here. No verb is implemented in this
module and no state is kept beyond the open watch streams it can stop.
"""

from __future__ import annotations

from flask import Flask, Response, request

from local.sim import errors
from local.sim.auth import Authority
from local.sim.server import discovery
from local.sim.server.gate import Gate
from local.sim.server.responses import error_response, json_response
from local.sim.server.routes import Routes
from local.sim.server.watch import Watches
from local.sim.store import Store

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-ferry-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class Api:
    """Routes every request of the Kubernetes API onto a :class:`Store`, through the
    :class:`~local.sim.server.gate.Gate` of an :class:`~local.sim.auth.Authority`."""

    def __init__(self, store: Store, authority: Authority) -> None:
        self.store = store
        self.authority = authority
        self.watches = Watches(store)
        self.routes = Routes(store, self.watches, authority.handlers())

    def stop(self) -> None:
        """End every open watch stream now (the server is shutting down)."""
        self.watches.stop()

    def app(self) -> Flask:
        app = Flask("ferry-sim")
        app.url_map.strict_slashes = False  # the official client asks for "/version/"
        Gate(self.authority).install(app)
        app.add_url_rule("/", "root", lambda: discovery.root(self.store.registry))
        app.add_url_rule("/version", "version", lambda: json_response(SERVER_VERSION))
        for probe in ("healthz", "livez", "readyz"):
            app.add_url_rule(f"/{probe}", probe, lambda: Response("ok", mimetype="text/plain"))
        app.add_url_rule(
            "/<path:path>",
            "api",
            self._dispatch,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        )
        return app

    def _dispatch(self, path: str) -> Response:
        registry = self.store.registry
        try:
            parts = [p for p in path.split("/") if p]
            if parts == ["api"]:
                return json_response(discovery.api_versions())
            if parts == ["apis"]:
                return json_response(discovery.group_list(registry))
            if len(parts) == 2 and parts[0] == "apis":
                group = discovery.group(registry, parts[1])
                if group is None:
                    raise errors.page_not_found(request.path)
                return json_response(group)
            if parts == ["openapi", "v2"]:
                return discovery.openapi_v2()
            if parts[:2] == ["openapi", "v3"]:
                return discovery.openapi_v3(registry, "/".join(parts[2:]))
            if parts[:1] == ["api"] and len(parts) >= 2:
                return self.routes.resource(("", parts[1]), parts[2:])
            if parts[:1] == ["apis"] and len(parts) >= 3:
                return self.routes.resource((parts[1], parts[2]), parts[3:])
            raise errors.page_not_found(request.path)
        except errors.ApiError as exc:
            return error_response(exc)
