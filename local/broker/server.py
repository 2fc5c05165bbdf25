"""The local Broker itself: every Broker of the manifests behind one HTTP ingress on loopback.

:class:`Broker` builds the routing table from the Trigger and Broker manifests, serves the
ingress like Knative's ``broker-ingress`` (CloudEvents, binary or structured, POSTed to
``/<namespace>/<broker>`` are answered 202, a malformed event 400, an unknown Broker 404) and
stamps ``knativearrivaltime`` on each accepted event before handing it, with the Triggers whose
filter it matches, to its :class:`~local.broker.delivery.Dispatcher`. Events are handled
concurrently and in no particular order, as in Knative.

This module must not log event data (only type, subject and id: data may hold secrets) and must
not route by anything but the Trigger manifests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.broker.delivery import Credentials, DeliveryRecord, Dispatcher
from local.broker.filters import attribute_strings
from local.broker.routes import Resolver, build_routes
from local.broker.wire import check_required, with_extensions
from shared import events, limits, senders

log = logging.getLogger(__name__)

ARRIVAL_TIME = "knativearrivaltime"
"""Extension the broker ingress stamps on every accepted event (RFC 3339 time)."""
MAX_BODY = limits.MAX_EVENT_BYTES
"""Largest request body the ingress reads (what a function accepts: no larger event could be
delivered)."""
POLL_INTERVAL = 0.05
"""Seconds the ingress server waits between checks for shutdown (bounds stop())."""


class UnknownBroker(LookupError):
    """No Broker with that namespace and name is among the manifests."""


class _Handler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("local.broker.http").debug("%s %s", self.requestline, code)


class Broker:
    """Every Broker in the manifests, served on one loopback port, routing by their Triggers.

    ``resolve`` maps a Destination ``ref`` to a URL; it is called for every subscriber and dead
    letter sink when the Broker is built, so a ref nothing serves fails here, not later.
    """

    def __init__(
        self,
        manifests: Iterable[Mapping[str, Any]],
        resolve: Resolver,
        *,
        namespace: str = "default",
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 8,
        history: int = 1000,
        default_timeout: float | None = 30.0,
        # Knative sets no request timeout unless delivery.timeout is given; locally a hung
        # function must not hold a worker forever, so unset timeouts default to this.
        on_delivery: Callable[[DeliveryRecord], None] | None = None,
        authenticate: Callable[[str | None], str] | None = None,
        # With sender identity: the ingress's check of a request's Authorization header (the
        # sender's username, or Unauthenticated/Forbidden from shared.senders).
        credentials: Credentials | None = None,
        # ... and the Trigger's token for its subscriber's audience, on every delivery.
    ) -> None:
        self._routes, self._brokers = build_routes(manifests, resolve, namespace, default_timeout)
        self._authenticate = authenticate
        self._host, self._port = host, port
        self._dispatcher = Dispatcher(
            workers=workers,
            history=history,
            republish=self._ingest,
            ingress_of=lambda key: f"{self.url}/{key}",
            on_delivery=on_delivery,
            credentials=credentials,
        )
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._running = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def brokers(self) -> list[str]:
        """``<namespace>/<name>`` of every Broker served."""
        return sorted(self._brokers)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the broker is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def ingress_url(self, namespace: str, name: str) -> str:
        """Where to POST events for Broker ``namespace/name`` (its ``status.address.url``)."""
        if f"{namespace}/{name}" not in self._brokers:
            raise UnknownBroker(f"no Broker {namespace}/{name} among the manifests")
        return f"{self.url}/{namespace}/{name}"

    def start(self) -> Broker:
        """Serve the ingress and start delivering; a Broker starts once."""
        if self._running:
            return self
        if self._dispatcher.stopping:
            raise RuntimeError("a stopped broker cannot be restarted: build a new one")
        self._server = make_server(
            self._host, self._port, self._wsgi, threaded=True, request_handler=_Handler
        )
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL},
                name="broker-ingress",
                daemon=True,
            ),
            *self._dispatcher.threads(),
        ]
        for thread in self._threads:
            thread.start()
        self._running = True
        log.info("broker listening on %s for %s", self.url, ", ".join(self.brokers))
        return self

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting events, drop scheduled retries and queued deliveries, and wait up to
        ``grace`` seconds for attempts in progress."""
        if not self._running:
            return
        self._dispatcher.begin_stop()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._dispatcher.drain()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("broker stopped with attempts still in progress: %s", ", ".join(alive))
        self._dispatcher.close()
        self._running = False

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ in

    def publish(
        self, event: CloudEvent, namespace: str | None = None, name: str | None = None
    ) -> int:
        """Publish ``event`` into a Broker from this process (as a POST to its ingress would);
        with no namespace/name, into the only Broker. Returns how many Triggers matched."""
        if namespace is None or name is None:
            if len(self._brokers) != 1:
                raise UnknownBroker("several Brokers are served: name the one to publish to")
            key = next(iter(self._brokers))
        else:
            key = f"{namespace}/{name}"
        if key not in self._brokers:
            raise UnknownBroker(f"no Broker {key} among the manifests")
        if not self._running or self._dispatcher.stopping:
            raise RuntimeError("the broker is not running")
        return self._ingest(key, event)

    def _ingest(self, key: str, event: CloudEvent) -> int:
        arrived = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        event = with_extensions(event, **{ARRIVAL_TIME: arrived})
        attrs = attribute_strings(event)
        matched = [route for route in self._routes[key] if route.matches(attrs)]
        log.debug(
            "broker %s got %s %s id=%s: %d trigger(s)",
            key,
            event.get_type(),
            event.get_subject() or "-",
            event.get_id(),
            len(matched),
        )
        self._dispatcher.submit(event, matched)
        return len(matched)

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if len(parts) != 2 or "/".join(parts) not in self._brokers:
            return Response(f"no Broker at {request.path}\n", status=404, mimetype="text/plain")
        if request.method != "POST":
            return Response("POST CloudEvents here\n", status=405, mimetype="text/plain")
        if self._dispatcher.stopping:
            return Response("broker is stopping\n", status=503, mimetype="text/plain")
        refused = self._refused(request.headers.get("Authorization"))
        if refused is not None:
            return refused
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = limits.read(request.stream, MAX_BODY, declared=request.content_length)
        except limits.TooLarge:
            # Close the connection: the rest of the body is never read.
            return Response(
                "event too large\n",
                status=413,
                mimetype="text/plain",
                headers={"Connection": "close"},
            )
        try:
            check_required(headers, body)
            event = events.from_http(headers, body)
        except events.MalformedEvent as exc:
            return Response(f"{exc}\n", status=400, mimetype="text/plain")
        self._ingest("/".join(parts), event)
        return Response(status=202)

    def _refused(self, authorization: str | None) -> Response | None:
        """401 or 403 when the ingress checks senders and this one does not pass."""
        if self._authenticate is None:
            return None
        try:
            self._authenticate(authorization)
        except senders.Unauthenticated as exc:
            return Response(
                f"unauthenticated: {exc}\n",
                status=401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="knative-eventing"'},
            )
        except senders.Forbidden as exc:
            return Response(f"forbidden: {exc}\n", status=403, mimetype="text/plain")
        return None

    # ------------------------------------------------------------------ observing

    def deliveries(self) -> list[DeliveryRecord]:
        """The most recent delivery records (bounded), oldest first."""
        return self._dispatcher.deliveries()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no delivery is queued, in progress or waiting for a retry (replies
        included); False if that did not happen within ``timeout`` seconds."""
        return self._dispatcher.wait_idle(timeout)
