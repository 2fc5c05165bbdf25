"""Who may see and do what in the dashboard, over HTTP, on ``ferry up``.

Covered: without a session a page redirects to sign-in and the API answers 401; a token the
API server does not accept (or an oversized one) is 401 and no session; a signed-in operator
(``alice``, by her group) lists and reads the rollout, may act, and her promote is a command in
the Rollout's status recorded with her name (the page shows the Normal Events of the
rollout's milestones) (impersonation through the admission policy) that
Ferry carries out; a command without the CSRF token, or from another origin, is 403 and writes
nothing; a viewer (``bob``) reads but his buttons are off and his command is 403 with nothing
written; a person with no rights (``eve``) sees an empty list, and 403 for the namespace and the
rollout; a tampered session cookie is no session; the live stream sends the rollout at once and
again when it changes, within a second or two; bad input (unknown action, bad page size, bad
name) is 400/404; every page carries a Content-Security-Policy; every grant of
``knative/dashboard.yaml`` is used by a tour of the dashboard and none is missing; the list
costs the API server no request per page (a watched copy); live pages are bounded (503 past
the limit, the place freed when a page closes).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import yaml
from werkzeug.serving import make_server

from dashboard.app import create_app
from local import demo
from local.runtime import KNATIVE_DIR, Runtime
from shared import tracing
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually
from tests.flow.dashboard.conftest import Browser, People
from tests.flow.test_least_privilege import FERRY, used

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
DETAIL = f"/api/rollouts/{demo.NAMESPACE}/{demo.NAME}"


def paused(podinfo: Demo) -> None:
    podinfo.create(STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)


def commands(admin: Kube) -> list[dict[str, Any]]:
    obj = admin.rollout(demo.NAMESPACE, demo.NAME) or {}
    return list((obj.get("status") or {}).get("commands") or [])


def test_no_session_no_access(up: Runtime) -> None:
    browser = Browser(up.dashboard_url)
    page = browser.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert browser.get("/api/rollouts").status_code == 401
    assert browser.get(DETAIL).status_code == 401
    login = browser.get("/login")
    assert login.status_code == 200 and "Content-Security-Policy" in login.headers


def test_a_token_not_accepted_is_401_and_no_session(up: Runtime, people: People) -> None:
    browser = Browser(up.dashboard_url)
    assert browser.sign_in("not-a-token").status_code == 401
    assert browser.sign_in("x" * 20000).status_code in (401, 413)
    assert "ferry_session" not in browser.http.cookies
    assert browser.get("/api/rollouts").status_code == 401


def test_an_operator_reads_acts_and_is_the_one_recorded(
    up: Runtime, admin: Kube, people: People, podinfo: Demo
) -> None:
    paused(podinfo)
    alice = Browser(up.dashboard_url)
    assert alice.sign_in(people.tokens["alice"]).status_code == 302
    listed = alice.get("/api/rollouts").json()
    assert [(r["namespace"], r["name"], r["phase"]) for r in listed["items"]] == [
        (demo.NAMESPACE, demo.NAME, "Paused")
    ]
    page = alice.get(DETAIL).json()
    assert page["weight"] == 20 and page["step"] == "2/4"
    assert page["can"] == {
        a: True for a in ("promote", "abort", "retry", "pause", "resume", "confirm", "restart")
    }
    assert [s["current"] for s in page["steps"]] == [False, True, False, False]
    assert any(h["note"].startswith("step 1/4") for h in page["history"])
    assert page["pods"]["stable"] and page["pods"]["canary"]
    state = podinfo.state()
    assert page["trace"] == tracing.trace_id(state.uid, state.canary_revision)
    reasons = {(e["type"], e["reason"]) for e in page["events"]}
    assert {("Normal", "RolloutUpdated"), ("Normal", "RolloutPaused")} <= reasons

    assert alice.command("promote", csrf="wrong").status_code == 403
    assert alice.command("promote", Origin="http://evil.example").status_code == 403
    assert commands(admin) == []

    answer = alice.command("promote")
    assert answer.status_code == 202, answer.text
    (written,) = commands(admin)
    assert written["user"] == "alice" and written["action"] == "promote"
    podinfo.wait(Stage.PAUSED, step=3)
    history = alice.get(DETAIL).json()["history"]
    assert any(h["user"] == "alice" for h in history)


def test_a_viewer_reads_but_may_not_act(
    up: Runtime, admin: Kube, people: People, podinfo: Demo
) -> None:
    paused(podinfo)
    bob = Browser(up.dashboard_url)
    bob.sign_in(people.tokens["bob"])
    page = bob.get(DETAIL).json()
    assert page["phase"] == "Paused"
    assert not any(page["can"].values())
    refused = bob.command("promote")
    assert refused.status_code == 403
    assert "may not act" in refused.json()["error"]
    assert commands(admin) == []
    assert podinfo.state().stage == Stage.PAUSED


def test_a_person_without_rights_sees_nothing(up: Runtime, people: People, podinfo: Demo) -> None:
    paused(podinfo)
    eve = Browser(up.dashboard_url)
    eve.sign_in(people.tokens["eve"])
    assert eve.get("/api/rollouts").json()["items"] == []
    assert eve.get(f"/api/rollouts?namespace={demo.NAMESPACE}").status_code == 403
    assert eve.get(DETAIL).status_code == 403
    assert eve.get(f"/rollouts/{demo.NAMESPACE}/{demo.NAME}").status_code == 403
    assert eve.command("abort").status_code == 403


def test_a_tampered_cookie_is_no_session(up: Runtime, people: People) -> None:
    alice = Browser(up.dashboard_url)
    alice.sign_in(people.tokens["alice"])
    value = alice.http.cookies["ferry_session"]
    alice.http.cookies.clear()
    alice.http.cookies.set(
        "ferry_session", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    )
    assert alice.get("/api/rollouts").status_code == 401


def test_bad_input_is_a_client_error(up: Runtime, people: People, podinfo: Demo) -> None:
    paused(podinfo)
    alice = Browser(up.dashboard_url)
    alice.sign_in(people.tokens["alice"])
    assert alice.command("explode").status_code == 400
    assert alice.get("/api/rollouts?size=7").status_code == 400
    assert alice.get("/api/rollouts?page=x").status_code == 400
    assert alice.get("/api/rollouts/Bad_Name/x").status_code == 404
    big = alice.http.post(
        f"{up.dashboard_url}{DETAIL}/commands",
        data=b"{" + b" " * 40000 + b"}",
        headers={"X-CSRF-Token": alice.csrf, "Content-Type": "application/json"},
    )
    assert big.status_code == 413


def test_the_live_stream_follows_the_rollout(up: Runtime, people: People, podinfo: Demo) -> None:
    paused(podinfo)
    alice = Browser(up.dashboard_url)
    alice.sign_in(people.tokens["alice"])
    seen: list[tuple[float, dict[str, Any]]] = []

    def read() -> None:
        with alice.http.get(f"{up.dashboard_url}{DETAIL}/live", stream=True, timeout=30) as answer:
            assert answer.headers["Content-Type"].startswith("text/event-stream")
            for line in answer.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    seen.append((time.monotonic(), json.loads(line[6:])))
                    last = seen[-1][1]
                    if len(seen) >= 2 and (last["step"], last["phase"]) == ("4/4", "Paused"):
                        return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    eventually(lambda: seen, what="the first live update")
    assert seen[0][1]["step"] == "2/4"
    asked = time.monotonic()
    assert alice.command("promote").status_code == 202
    eventually(
        lambda: (seen[-1][1]["step"], seen[-1][1]["phase"]) == ("4/4", "Paused"),
        timeout=10,
        what="the last transition after promote on the live page",
    )
    reached = next(t for t, page in seen if page["step"] == "4/4")
    podinfo.wait(Stage.PAUSED, step=3)
    assert reached - asked < 5.0  # pushed, not polled (a transition or two after the command)
    reader.join(timeout=5)


def test_every_dashboard_grant_is_used_and_nothing_refused(
    up: Runtime, people: People, podinfo: Demo
) -> None:
    """knative/dashboard.yaml grants ferry-dashboard exactly what a tour of the dashboard
    uses: reads, reviews, and impersonation (of a user, her groups and her uid) for a
    command."""
    paused(podinfo)
    alice = Browser(up.dashboard_url)
    alice.sign_in(people.tokens["alice"])
    alice.get("/api/rollouts")
    alice.get(DETAIL)
    assert alice.command("promote").status_code == 202
    assert up.sim is not None
    account = FERRY + "ferry-dashboard"
    did, refused = used(up)
    assert refused == []
    done = set(did.get("ferry-dashboard", set()))
    for record in up.sim.audit():
        if record.impersonator == account:
            done.add(("", "users", "impersonate"))
            if set(record.groups) - {"system:authenticated"}:
                done.add(("", "groups", "impersonate"))
            if record.uid:
                done.add(("authentication.k8s.io", "uids", "impersonate"))
    role = next(
        d
        for d in yaml.safe_load_all((KNATIVE_DIR / "dashboard.yaml").read_text())
        if d["kind"] == "ClusterRole"
    )
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted - done == set(), "granted but never used"
    assert done - granted == set(), "used but not granted (it would have been refused)"


def test_the_list_is_served_from_a_watched_copy(
    up: Runtime, admin: Kube, people: People, podinfo: Demo
) -> None:
    """Pages of the list cost the API server nothing per request: one list and a watch in
    all, which show a new Rollout and a deleted one within moments."""
    alice = Browser(up.dashboard_url)
    alice.sign_in(people.tokens["alice"])
    assert alice.get("/api/rollouts").json()["items"] == []
    podinfo.create(STEPS)
    eventually(lambda: alice.get("/api/rollouts").json()["items"], what="the new Rollout listed")
    assert up.sim is not None
    account = FERRY + "ferry-dashboard"

    def lists() -> int:
        return sum(
            1
            for r in up.sim.audit()
            if r.user == account and r.resource == "rollouts" and r.verb == "list"
        )

    before = lists()
    for _ in range(20):
        assert alice.get("/api/rollouts?size=25").status_code == 200
    assert lists() == before
    admin.delete("ferry.dev/v1alpha1", "rollouts", demo.NAMESPACE, demo.NAME)
    eventually(lambda: alice.get("/api/rollouts").json()["items"] == [], what="the Rollout gone")


def test_live_pages_are_bounded(up: Runtime, admin: Kube, podinfo: Demo) -> None:
    """Each live page holds a thread: past the limit a new one is 503 with Retry-After (the
    browser's EventSource tries again), and a page closed frees its place."""
    assert up.sim is not None and up.store is not None
    app = create_app(
        Kube(up.sim.api_client()), up.store, b"k" * 32, secure_cookies=False, live_limit=1
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        podinfo.create(STEPS)
        podinfo.wait(Stage.HEALTHY)
        browser = Browser(f"http://127.0.0.1:{server.server_port}")
        browser.sign_in(up.sim.add_user("root", ["system:masters"]))
        live = f"{browser.base}{DETAIL}/live"
        first = browser.http.get(live, stream=True, timeout=30)
        assert next(first.iter_lines(decode_unicode=True)).startswith("event: rollout")
        refused = browser.http.get(live, stream=True, timeout=30)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
        first.close()
        eventually(
            lambda: browser.http.get(live, stream=True, timeout=30).status_code == 200,
            what="the place freed",
        )
    finally:
        app.extensions["ferry_catalog"].stop()
        server.shutdown()
