"""The dashboard in a real browser: headless Chromium (Debian's), driven by Playwright.

Covered: an operator signs in with her token, finds the rollout in the list, opens it, sees it
paused at step 2/4 with 20% and the current step marked, presses Promote and sees the page
move to step 4/4 and 50% by itself (no reload: the live stream); a viewer sees every action
button disabled, and a command sent from his page anyway is refused (403); an analysis's
measurements are plotted with the line of the threshold they are judged against. Screenshots
are kept in ``.artifacts/`` (``FERRY_ARTIFACTS`` to put them elsewhere). Chromium must be
installed (``.ci/run`` installs it): the test fails, never skips, without it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from local import demo
from local.runtime import KNATIVE_DIR, Runtime
from shared import models
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Check, Demo
from tests.flow.dashboard.conftest import People

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
ARTIFACTS = Path(os.environ.get("FERRY_ARTIFACTS") or KNATIVE_DIR.parent / ".artifacts")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium must be installed (Debian package chromium; .ci/run installs it)"
    return found


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login?next=/?")
    page.fill("#token", token)
    page.click("#sign-in")
    expect(page.locator("#rollouts tbody tr")).to_have_count(1)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_an_operator_promotes_and_watches_it_happen(
    up: Runtime, people: People, podinfo: Demo, browser: Browser
) -> None:
    podinfo.create(STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, up.dashboard_url, people.tokens["alice"])
    expect(page.locator("#who")).to_have_text("alice")
    shot(page, "dashboard-list.png")
    page.click(f"text={demo.NAME}")
    expect(page.locator("#step")).to_have_text("2/4")
    expect(page.locator("#weight")).to_have_text("20%")
    expect(page.locator("#phase")).to_have_text("Paused")
    expect(page.locator("#steps li.current")).to_have_text("pause until promoted")
    promote = page.locator("#actions button[data-action=promote]:not([data-full])")
    expect(promote).to_be_enabled()
    promote.click()
    expect(page.locator("#notice")).to_contain_text("promote asked")
    expect(page.locator("#step")).to_have_text("4/4", timeout=15000)  # live: no reload
    expect(page.locator("#weight")).to_have_text("50%")
    expect(page.locator("#phase")).to_have_text("Paused")  # the last transition too
    expect(page.locator("#history tbody")).to_contain_text("alice")
    shot(page, "dashboard-rollout.png")


def test_a_viewer_sees_the_buttons_off_and_is_refused(
    up: Runtime, people: People, podinfo: Demo, browser: Browser
) -> None:
    podinfo.create(STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    page = browser.new_page()
    sign_in(page, up.dashboard_url, people.tokens["bob"])
    page.goto(f"{up.dashboard_url}/rollouts/{demo.NAMESPACE}/{demo.NAME}")
    expect(page.locator("#step")).to_have_text("2/4")
    for button in page.locator("#actions button").all():
        expect(button).to_be_disabled()
    status = page.evaluate(
        """async () => {
          const csrf = document.querySelector('meta[name=csrf-token]').content;
          const answer = await fetch(location.pathname.replace('/rollouts/', '/api/rollouts/')
            + '/commands', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': csrf}, body: JSON.stringify({action: 'promote'})});
          return answer.status;
        }"""
    )
    assert status == 403
    shot(page, "dashboard-viewer.png")
    assert podinfo.state().stage == Stage.PAUSED


def test_measurements_are_plotted_against_their_thresholds(
    up: Runtime, admin: Kube, people: People, podinfo: Demo, browser: Browser, check: Check
) -> None:
    metric = {
        "name": "ok",
        "count": 2,
        "interval": "300ms",
        "successCondition": "result >= 1",
        "provider": {"web": {"url": check.url, "jsonPath": "{$.ok}"}},
    }
    admin.create(
        {
            "apiVersion": models.API_VERSION,
            "kind": "AnalysisTemplate",
            "metadata": {"name": "ok", "namespace": demo.NAMESPACE},
            "spec": {"metrics": [metric]},
        }
    )
    steps: list[dict[str, Any]] = [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "ok"}]}},
        {"pause": {}},
    ]
    podinfo.create(steps)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=2)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, up.dashboard_url, people.tokens["alice"])
    page.goto(f"{up.dashboard_url}/rollouts/{demo.NAMESPACE}/{demo.NAME}")
    expect(page.locator("#analysis figure.metric figcaption")).to_have_text("ok (Successful)")
    expect(page.locator("#analysis svg line.threshold.min")).to_have_count(1)
    expect(page.locator("#analysis svg circle.measurement.successful")).to_have_count(2)
    shot(page, "dashboard-analysis.png")
