"""The dashboard's Flask app: pages, a JSON API, live updates, and commands as the person.

Every route but sign-in needs a session; every read is authorized for the signed-in person
(``identity.Access``: list or get ``rollouts``), every action too (``patch rollouts/status``)
and is then written *as the person* (``Kube.acting_as``), so the API server's RBAC and the
admission policy judge it; a refusal there is the person's 403. State-changing requests need
the session's CSRF token and a same-origin ``Origin``. Request bodies are capped at
:data:`MAX_BODY`. It writes nothing but commands, and no secret reaches a log or the session.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from werkzeug.exceptions import HTTPException

from dashboard import sessions, views
from dashboard.catalog import Catalog
from dashboard.identity import Access, Person, review_token
from dashboard.metrics import RolloutMetrics
from dashboard.oidc import Attempt, Oidc, SignInFailed
from shared import appends, models, status
from shared.events import RolloutRef
from shared.kube import ApiError, Kube, NotFound, Transient
from shared.state import StateStore

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
MAX_BODY = 32 * 1024
PAGE_SIZES = (25, 50, 100, 200)
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
LIVE_WAIT = 5.0
"""Seconds a live stream waits for a change before it sends a keep-alive (which also tells
it soon that the page was closed, freeing its place)."""
LIVE_FOR = 600.0
"""Seconds one live stream lasts (the browser's EventSource then opens another)."""
MAX_LIVE = 24
"""Live streams at once (each holds a thread); past it a new one is 503 and the browser's
EventSource tries again."""

Obj = dict[str, Any]


def create_app(
    kube: Kube,
    store: StateStore,
    secret: bytes,
    *,
    secure_cookies: bool = True,
    oidc: Oidc | None = None,
    traces_url: str = "",
    live_limit: int = MAX_LIVE,
) -> Flask:
    """The dashboard, reading with ``kube`` (its own ServiceAccount: it may list rollouts,
    review tokens and access, and impersonate people) and ``store``; with ``oidc``, people may
    also sign in with that identity provider; ``traces_url`` (with ``{trace_id}``) links a
    rollout to its trace in a tracing UI; ``live_limit`` bounds the live streams open at
    once."""
    if len(secret) < 32:
        raise ValueError("the session secret must be at least 32 bytes")
    app = Flask(
        __name__,
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/static",
    )
    app.secret_key = secret
    app.config.update(sessions.settings(secure_cookies), MAX_CONTENT_LENGTH=MAX_BODY)
    access = Access(kube)
    live_slots = threading.BoundedSemaphore(live_limit)
    catalog = Catalog(kube).start()
    app.extensions["ferry_catalog"] = catalog  # stop() it with the app

    def signed_in(api: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(view)
            def inner(*args: Any, **kwargs: Any) -> Any:
                person = sessions.person()
                if person is None:
                    if api:
                        return _error(401, "sign in first")
                    return redirect(url_for("login", next=request.full_path))
                if request.method != "GET" and not (
                    sessions.same_origin(request) and sessions.csrf_ok(request)
                ):
                    return _error(403, "missing or wrong CSRF token, or another origin")
                return view(person, *args, **kwargs)

            return inner

        return wrap

    def ref_of(namespace: str, name: str) -> RolloutRef:
        if not NAME.match(namespace) or not NAME.match(name):
            abort(404)
        return RolloutRef(namespace, name)

    def readable(person: Person, ref: RolloutRef) -> Obj:
        if not access.allowed(person, "get", "rollouts", ref.namespace, name=ref.name):
            abort(_error(403, f"you may not get rollouts in namespace {ref.namespace}"))
        obj = kube.rollout(ref.namespace, ref.name)
        if obj is None:
            abort(_error(404, f"rollout {ref.namespace}/{ref.name} not found"))
        return obj

    def can(person: Person, namespace: str) -> dict[str, bool]:
        allowed = access.allowed(person, "patch", "rollouts", namespace, subresource="status")
        return {action: allowed for action in appends.ACTIONS}

    def detail(person: Person, ref: RolloutRef) -> Obj:
        obj = readable(person, ref)
        # The state store is the truth and the status only its mirror, written a moment
        # after each commit: a page woken by a commit shows the state, not the older mirror.
        state = store.load(ref)
        if state.exists and state.uid == obj["metadata"].get("uid"):
            obj = {**obj, "status": {**(obj.get("status") or {}), **status.of(state, time.time())}}
        runs = kube.list_of(
            models.API_VERSION,
            "analysisruns",
            ref.namespace,
            label_selector=f"ferry.dev/rollout={ref.name}",
        )
        events = kube.request(
            "GET",
            f"/api/v1/namespaces/{ref.namespace}/events",
            query={"fieldSelector": f"involvedObject.name={ref.name}"},
        ).get("items", [])
        pods = kube.list_of("v1", "pods", ref.namespace)
        page = views.rollout(obj, store.history(ref), runs, events, pods, time.time())
        page["can"] = can(person, ref.namespace)
        page["traceUrl"] = traces_url.replace("{trace_id}", page["trace"]) if page["trace"] else ""
        return page

    # -- pages -------------------------------------------------------------------------------

    def login_page(error: str, code: int = 200) -> Any:
        provider = oidc.provider.issuer if oidc is not None else ""
        page = render_template("login.html", error=error, next=_next(), provider=provider)
        return page, code

    @app.get("/login")
    def login() -> Any:
        return login_page("")

    @app.get("/oidc/login")
    def oidc_login() -> Any:
        if oidc is None:
            abort(404)
        try:
            url, attempt = oidc.start(url_for("oidc_callback", _external=True))
        except SignInFailed as exc:
            log.warning("OIDC sign-in cannot start: %s", exc)
            return login_page("the identity provider cannot be reached; try again", 503)
        session["oidc"] = {**attempt.as_dict(), "next": _next()}
        return redirect(url)

    @app.get("/oidc/callback")
    def oidc_callback() -> Any:
        if oidc is None:
            abort(404)
        kept = session.pop("oidc", None)
        state = request.args.get("state", "")
        if not isinstance(kept, dict) or not hmac.compare_digest(
            str(kept.get("state", "")).encode(), state.encode()
        ):
            return login_page("this sign-in was not started here, or is over; start again", 400)
        if "error" in request.args:
            return login_page(f"the identity provider said: {request.args['error']}", 401)
        attempt = Attempt(str(kept["state"]), str(kept["nonce"]), str(kept["verifier"]))
        try:
            person = oidc.finish(
                request.args.get("code", ""), url_for("oidc_callback", _external=True), attempt
            )
        except SignInFailed as exc:
            log.warning("OIDC sign-in refused: %s", exc)
            return login_page(f"sign-in refused: {exc}", 401)
        sessions.sign_in(person)
        log.info("signed in with OIDC: %s", person.username)
        return redirect(local_path(str(kept.get("next") or "/")))

    @app.post("/login")
    def login_post() -> Any:
        if not sessions.same_origin(request):
            return _error(403, "sign-in from another origin")
        token = (request.form.get("token") or "").strip()
        try:
            person = review_token(kube, token)
        except (ApiError, Transient) as exc:
            log.warning("token review failed: %s", exc)
            return render_template(
                "login.html", error="cannot check tokens now; try again", next=_next()
            ), 503
        if person is None:
            return render_template(
                "login.html", error="that token is not accepted", next=_next()
            ), 401
        sessions.sign_in(person)
        log.info("signed in: %s", person.username)
        return redirect(_next())

    @app.post("/logout")
    @signed_in(api=False)
    def logout(person: Person) -> Any:
        sessions.sign_out()
        return redirect(url_for("login"))

    @app.get("/")
    @signed_in(api=False)
    def index(person: Person) -> Any:
        return render_template("list.html", person=person, csrf=sessions.csrf_token())

    @app.get("/rollouts/<namespace>/<name>")
    @signed_in(api=False)
    def rollout_page(person: Person, namespace: str, name: str) -> Any:
        ref = ref_of(namespace, name)
        readable(person, ref)
        return render_template("rollout.html", person=person, csrf=sessions.csrf_token(), ref=ref)

    # -- API ---------------------------------------------------------------------------------

    @app.get("/api/rollouts")
    @signed_in(api=True)
    def api_list(person: Person) -> Any:
        namespace = request.args.get("namespace", "").strip()
        if namespace and not NAME.match(namespace):
            return _error(400, "namespace: not a valid name")
        try:
            page = max(int(request.args.get("page", "1")), 1)
            size = int(request.args.get("size", "50"))
        except ValueError:
            return _error(400, "page and size must be numbers")
        if size not in PAGE_SIZES:
            return _error(400, f"size must be one of {', '.join(map(str, PAGE_SIZES))}")
        phase = request.args.get("phase", "")
        if namespace:
            if not access.allowed(person, "list", "rollouts", namespace):
                return _error(403, f"you may not list rollouts in namespace {namespace}")
            found = catalog.rollouts(namespace)
        else:
            found = catalog.rollouts()
            if not access.allowed(person, "list", "rollouts"):
                spaces = {o["metadata"]["namespace"] for o in found}
                seen = {s for s in spaces if access.allowed(person, "list", "rollouts", s)}
                found = [o for o in found if o["metadata"]["namespace"] in seen]
        now = time.time()
        rows = [views.row(o, now) for o in found]
        if phase:
            rows = [r for r in rows if r["phase"] == phase]
        rows.sort(key=lambda r: (r["namespace"], r["name"]))
        start = (page - 1) * size
        return jsonify(
            {"items": rows[start : start + size], "total": len(rows), "page": page, "size": size}
        )

    @app.get("/api/rollouts/<namespace>/<name>")
    @signed_in(api=True)
    def api_rollout(person: Person, namespace: str, name: str) -> Any:
        return jsonify(detail(person, ref_of(namespace, name)))

    @app.get("/api/rollouts/<namespace>/<name>/live")
    @signed_in(api=True)
    def api_live(person: Person, namespace: str, name: str) -> Any:
        ref = ref_of(namespace, name)
        first = detail(person, ref)
        if not live_slots.acquire(blocking=False):
            response = _error(503, "too many live pages open; try again shortly")
            response.headers["Retry-After"] = "5"
            return response

        def stream() -> Iterator[str]:
            try:
                yield _sse("rollout", first)
                head = store.history_head(ref)
                until = time.monotonic() + LIVE_FOR
                while time.monotonic() < until:
                    seen = store.history_after(ref, head, LIVE_WAIT)
                    if seen == head:
                        yield ": keep-alive\n\n"
                        continue
                    head = seen
                    try:
                        yield _sse("rollout", detail(person, ref))
                    except HTTPException:  # access revoked, or the rollout deleted
                        yield _sse("gone", {"reason": "no longer readable"})
                        return
            finally:
                live_slots.release()

        return Response(
            stream_with_context(stream()),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.post("/api/rollouts/<namespace>/<name>/commands")
    @signed_in(api=True)
    def api_command(person: Person, namespace: str, name: str) -> Any:
        ref = ref_of(namespace, name)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("action") not in appends.ACTIONS:
            return _error(400, f"action must be one of {', '.join(appends.ACTIONS)}")
        full = body.get("full", False)
        if not isinstance(full, bool) or (full and body["action"] != "promote"):
            return _error(400, "full is a boolean, for promote only")
        readable(person, ref)
        if not access.allowed(person, "patch", "rollouts", namespace, subresource="status"):
            return _error(403, f"you may not act on rollouts in namespace {namespace}")
        entry = appends.new_command(body["action"], person.username, full=full)
        as_person = kube.acting_as(person.username, person.groups, person.uid)
        try:
            appends.append(as_person, namespace, name, entry)
        except NotFound:
            return _error(404, f"rollout {namespace}/{name} not found")
        except ApiError as exc:
            if exc.status in (401, 403):
                return _error(403, f"the API server refused: {exc}")
            return _error(422, f"the API server refused: {exc}")
        except Transient as exc:
            return _error(503, f"try again: {exc}")
        log.info(
            "%s asked %s of %s/%s (%s)",
            person.username,
            entry["action"],
            namespace,
            name,
            entry["id"],
        )
        return jsonify({"command": entry}), 202

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RolloutMetrics(store, kube))

    @app.get("/metrics")
    def metrics() -> Any:
        """For Prometheus: a bearer token (its ServiceAccount's) allowed to get ``/metrics``,
        as kube-rbac-proxy asks (no session, no cookie)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            person = review_token(kube, token.strip()) if scheme.lower() == "bearer" else None
        except (ApiError, Transient):
            return _error(503, "cannot check tokens now; try again")
        if person is None:
            response = _error(401, "a bearer token is needed")
            response.headers["WWW-Authenticate"] = 'Bearer realm="ferry"'
            return response
        if not access.allowed_url(person, "get", "/metrics"):
            return _error(403, f"{person.username} may not get /metrics")
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> Any:
        return {"ok": True}

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _next() -> str:
    """Where to go after signing in: a path of this site only."""
    return local_path(request.values.get("next", "/"))


def local_path(wanted: str) -> str:
    """``wanted`` if it is a path of this site, else ``/`` (no open redirect: not
    ``//host``, nor ``/\\host`` which browsers read the same, nor a scheme)."""
    parts = urlsplit(wanted)
    if (
        not wanted.startswith("/")
        or wanted.startswith("//")
        or "\\" in wanted
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 32 for c in wanted)
    ):
        return "/"
    return wanted


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _sse(kind: str, data: Obj) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
