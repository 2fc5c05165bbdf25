"""A function as an HTTP endpoint: CloudEvents in (binary or structured), one reply out.

:func:`create_app` wraps a handler in a Flask app that speaks the Knative contract: 2xx when
the event is done (also for a no-op), with the next event as a binary-mode reply when there is
one; 400 with a readable message for an event that can never be processed; 503 for a transient
fault, so the Broker retries. Handlers never see HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from cloudevents.core.v1.event import CloudEvent
from flask import Flask, Response, request

from shared import events, kube, limits, state, telemetry
from shared.context import Context
from shared.senders import Forbidden, Senders, Unauthenticated

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, Context], CloudEvent | None]


TRANSIENT: tuple[type[BaseException], ...] = (
    kube.Transient,
    state.Conflict,
    redis.ConnectionError,
    redis.TimeoutError,
)


def create_app(
    function: str, handler: Handler, context: Context, senders: Senders | None = None
) -> Flask:
    """The function's app. With ``senders``, a delivery must carry a token of an accepted
    sender for the function's audience (401/403 otherwise, before its body is read); without,
    every delivery is accepted (only where the network lets nothing else reach it)."""
    app = Flask(f"ferry-{function}")
    ctx = context.for_function(function)

    @app.post("/")
    def receive() -> Response:
        if senders is not None:
            try:
                senders.check(request.headers.get("Authorization"))
            except Unauthenticated as exc:
                response = _text(f"unauthenticated: {exc}", 401)
                response.headers["WWW-Authenticate"] = 'Bearer realm="ferry"'
                return response
            except Forbidden as exc:
                return _text(f"forbidden: {exc}", 403)
            except TRANSIENT as exc:
                return _text(f"transient: {exc}; retry", 503)
        try:
            body = limits.read(request.stream, declared=request.content_length)
            event = events.from_http(dict(request.headers), body)
        except limits.TooLarge as exc:
            return _text(f"event too large: {exc}", 413)
        except events.MalformedEvent as exc:
            return _text(f"malformed CloudEvent: {exc}", 400)
        try:
            reply = handler(event, ctx)
        except events.MalformedEvent as exc:
            log.warning("%s: rejected %s %s: %s", function, event.get_type(), event.get_id(), exc)
            return _text(f"cannot process {event.get_type()}: {exc}", 400)
        except TRANSIENT as exc:
            log.info("%s: transient fault on %s: %s", function, event.get_id(), exc)
            return _text(f"transient: {exc}; retry", 503)
        except Exception:
            log.exception("%s: failed on %s %s", function, event.get_type(), event.get_id())
            return _text("internal error; see the function's log", 500)
        if reply is None:
            return Response(status=202)
        headers, body = events.to_http(reply)
        return Response(body, status=200, headers=headers)

    @app.get("/healthz")
    def healthz() -> Response:
        return _text("ok", 200)

    @app.after_request
    def counted(response: Response) -> Response:
        if request.method == "POST" and request.path == "/":
            telemetry.delivery(ctx.store, function, response.status_code)
        return response

    return app


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")
