"""``spec.loadTest`` and a step's ``load`` as Ferry reads them: defaults, every problem said
with where it is, and no input, however odd, that makes the parser fail otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import loads, models
from shared.state import RolloutState, Stage


def parse(raw: Any) -> tuple[models.LoadTest | None, list[str]]:
    problems: list[str] = []
    return models.load_test(raw, "spec.loadTest", problems), problems


def rollout(steps: list[Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": {
            "targetRef": {"name": "podinfo"},
            "service": {"name": "podinfo", "port": 80},
            "strategy": {"canary": {"steps": steps}},
            **spec,
        },
    }


def test_defaults_and_a_full_definition() -> None:
    assert parse({"rps": 10}) == (models.LoadTest(rps=10), [])
    full, problems = parse(
        {
            "url": "http://podinfo.example.com:8080/api?x=1",
            "rps": 200,
            "concurrency": 20,
            "method": "HEAD",
            "headers": {"Host": "podinfo.local", "X-Canary": "always"},
            "paths": ["/", "/api/info"],
            "duration": "5m",
            "timeout": "2s",
            "stopOnPause": False,
        }
    )
    assert problems == [] and full is not None
    assert (full.rps, full.concurrency, full.method, full.duration, full.timeout) == (
        200,
        20,
        "HEAD",
        300.0,
        2.0,
    )
    assert full.headers == (("Host", "podinfo.local"), ("X-Canary", "always"))
    assert not full.stop_on_pause
    service, _ = parse({"rps": 5, "service": {"name": "podinfo-canary", "port": 9898}})
    assert service is not None and (service.service, service.port) == ("podinfo-canary", 9898)


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ({}, "spec.loadTest.rps must be a whole number from 0 to 1000, got None"),
        ({"rps": 1001}, "rps must be a whole number from 0 to 1000"),
        ({"rps": True}, "rps must be a whole number"),
        ({"rps": 5, "concurrency": 0}, "concurrency must be a whole number from 1 to 100"),
        ({"rps": 5, "url": "ftp://x/"}, "url must be an http:// or https:// URL with a host"),
        ({"rps": 5, "url": "http://u:p@x/"}, "no user, password or #fragment"),
        ({"rps": 5, "url": "http://x/a b"}, "bad port or a path with spaces"),
        ({"rps": 5, "url": "http://x:99999/"}, "is not a URL"),
        ({"rps": 5, "url": "http://x/", "service": {"name": "a"}}, "one of url and service"),
        ({"rps": 5, "service": {"name": "A_b"}}, "service.name must be a Service's name"),
        ({"rps": 5, "service": {"port": 80}}, "service must be {name"),
        ({"rps": 5, "method": "POST"}, "method must be one of GET, HEAD"),
        (
            {"rps": 5, "headers": {"X-A": "1\r\nX-B: 2"}},
            "headers.X-A must be a string of visible ASCII",
        ),
        ({"rps": 5, "headers": {"bad name": "1"}}, "is not an HTTP header name"),
        ({"rps": 5, "headers": {"X-Token": "ab\u20ac"}}, "headers.X-Token must be a string of"),
        ({"rps": 5, "url": "HTTP://x/"}, "url must be an http:// or https:// URL"),
        ({"rps": 5, "paths": []}, "paths must list 1 to 50 paths"),
        ({"rps": 5, "paths": ["api"]}, "paths[0] must be a path starting with /"),
        ({"rps": 5, "duration": "soon"}, "duration: invalid duration 'soon'"),
        ({"rps": 5, "timeout": "30s"}, "timeout must be more than 0 and at most 10s"),
        ({"rps": 5, "stopOnPause": "yes"}, "stopOnPause must be true or false"),
        ({"rps": 5, "vus": 10}, "unknown fields ['vus'] (known: url, service, rps,"),
        ("fast", "spec.loadTest must be an object"),
    ],
)
def test_every_problem_is_said_with_where_it_is(raw: Any, said: str) -> None:
    found, problems = parse(raw)
    assert found is None and any(said in p for p in problems), problems


def test_a_rollout_says_where_its_load_is_wrong_and_steps_take_load() -> None:
    with pytest.raises(models.InvalidSpec, match=r"steps\[1\].load.rps must be"):
        models.parse(rollout([{"setWeight": 10}, {"load": {"rps": -1}}]))
    spec = models.parse(rollout([{"setWeight": 10}, {"load": {"rps": 0}}], loadTest={"rps": 20}))
    assert spec.load_test == models.LoadTest(rps=20)
    assert spec.steps[1] == models.Load(models.LoadTest(rps=0))
    assert models.step_kind(spec.steps[1]) == "load"


def test_the_load_wanted_follows_the_steps_the_stage_and_a_persons_pause() -> None:
    spec = models.parse(
        rollout(
            [{"setWeight": 10}, {"load": {"rps": 50}}, {"pause": {}}, {"load": {"rps": 0}}],
            loadTest={"rps": 20},
        )
    )
    state = RolloutState("default", "podinfo", version=3, uid="u", stage=Stage.STEPPING)
    first = loads.wanted(state, spec, {}, 0.0)
    assert isinstance(first, loads.Plan) and first.load.rps == 20
    assert first.where == "spec.loadTest"
    later = loads.wanted(state.with_(step=2, stage=Stage.PAUSED), spec, {}, 0.0)
    assert isinstance(later, loads.Plan) and later.where == "spec.strategy.canary.steps[1].load"
    assert later.run != first.run
    assert loads.wanted(state.with_(step=3), spec, {}, 0.0) == (
        "spec.strategy.canary.steps[3].load stops it (rps 0)"
    )
    assert loads.wanted(state.with_(paused_by="bob"), spec, {}, 0.0) == "paused by bob"
    for stage, why in [
        (Stage.PROMOTING, "promoted"),
        (Stage.ABORTED, "aborted"),
        (Stage.HEALTHY, "healthy"),
        (Stage.SCALING, "not ready"),
    ]:
        assert why in str(loads.wanted(state.with_(stage=stage), spec, {}, 0.0))
    gated = state.with_(stage=Stage.GATED, gate="confirm-promotion")
    assert isinstance(loads.wanted(gated, spec, {}, 0.0), loads.Plan)
    assert "gate pre-rollout" in str(loads.wanted(gated.with_(gate="pre-rollout"), spec, {}, 0))
    assert "gone" in str(loads.wanted(RolloutState("default", "podinfo"), spec, {}, 0.0))


def test_a_duration_counts_from_the_start_of_its_own_run() -> None:
    spec = models.parse(rollout([{"pause": {}}], loadTest={"rps": 5, "duration": "10s"}))
    state = RolloutState("default", "podinfo", version=3, uid="u", stage=Stage.PAUSED)
    plan = loads.wanted(state, spec, {}, 100.0)
    assert isinstance(plan, loads.Plan)
    mine = {"run": plan.run, "started": "95"}
    assert isinstance(loads.wanted(state, spec, mine, 100.0), loads.Plan)
    assert "duration of 10s passed" in str(loads.wanted(state, spec, mine, 105.0))
    other = {"run": "an-earlier-run", "started": "1"}  # another revision's: not this one's
    assert isinstance(loads.wanted(state, spec, other, 100.0), loads.Plan)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.dictionaries(st.sampled_from(models.LOAD_FIELDS), JSON, max_size=6)


@settings(max_examples=300, deadline=None)
@given(FIELDS | JSON)
def test_any_input_is_a_load_or_a_list_of_problems(raw: Any) -> None:
    found, problems = parse(raw)
    assert (found is None) == bool(problems) or raw is None
    if found is not None:
        assert 0 <= found.rps <= models.MAX_RPS
        assert all("\n" not in v and "\r" not in v for _, v in found.headers)
