"""What the dashboard's pages show, as pure functions: thresholds, numbers, steps, ages.

Covered: Flagger's ``thresholdRange`` draws its min and max; a success condition comparing the
result with a number draws the bound a value must stay within (``<`` a max, ``>=`` a min), a
failure condition the opposite; other conditions draw nothing; a measurement's value is read
as its first number (``[0.03]``); steps read as people say them; ages as kubectl prints them;
where sign-in goes next is a path of the dashboard only (no open redirect).
"""

from __future__ import annotations

from dashboard.app import local_path
from dashboard.views import age, number, step_text, thresholds


def test_thresholds() -> None:
    assert thresholds({"thresholdRange": {"min": 99, "max": 500}}) == [
        {"value": 99.0, "side": "min"},
        {"value": 500.0, "side": "max"},
    ]
    assert thresholds({"successCondition": "result[0] < 0.05"}) == [{"value": 0.05, "side": "max"}]
    assert thresholds({"successCondition": "result >= 1"}) == [{"value": 1.0, "side": "min"}]
    assert thresholds({"failureCondition": "result > 3"}) == [{"value": 3.0, "side": "max"}]
    assert thresholds({"failureCondition": "result <= 0.9"}) == [{"value": 0.9, "side": "min"}]
    assert thresholds({"successCondition": "result == 1 || result > 5"}) == []
    assert thresholds({}) == []


def test_numbers_steps_and_ages() -> None:
    assert number("[0.03]") == 0.03 and number(2) == 2.0 and number("n/a") is None
    assert number(True) is None
    assert step_text({"setWeight": 20}) == "set weight 20%"
    assert step_text({"pause": {}}) == "pause until promoted"
    assert step_text({"pause": {"duration": "30s"}}) == "pause 30s"
    assert step_text({"setHeaderRoute": {"name": "testers"}}) == "remove header route testers"
    experiment = {"duration": "1h", "templates": [{"name": "baseline"}, {"name": "canary"}]}
    assert step_text({"experiment": experiment}) == "experiment baseline, canary for 1h"
    assert age("2026-12-01T00:00:00Z", 1_796_083_200 + 3 * 3600) == "3h"
    assert age("not a time", 0) == ""


def test_sign_in_returns_to_this_site_only() -> None:
    assert local_path("/rollouts/shop/web") == "/rollouts/shop/web"
    assert local_path("/?page=2") == "/?page=2"
    for elsewhere in ("//evil.example", "/\\evil.example", "https://evil.example", "evil", "/\n"):
        assert local_path(elsewhere) == "/", elsewhere
