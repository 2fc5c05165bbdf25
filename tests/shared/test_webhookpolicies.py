"""A WebhookPolicy as parsed: who acts, which tags release, and ranges of versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import webhookpolicies
from shared.webhookpolicies import InvalidPolicy, Release


def policy(**release: object) -> webhookpolicies.Policy:
    return webhookpolicies.parse(
        {
            "metadata": {"name": "ci", "namespace": "shop"},
            "spec": {
                "source": {"type": "hmac", "secretRef": {"name": "s", "key": "k"}},
                "rollouts": ["podinfo"],
                "actions": ["release", "promote"],
                "release": {"image": "ghcr.io/shop/podinfo", "write": "Deployment", **release},
            },
        }
    )


def test_the_policy_acts_as_its_own_identity() -> None:
    parsed = policy()
    assert parsed.identity == "webhook:shop:ci"
    assert parsed.actions == {"release", "promote"} and parsed.rollouts == ("podinfo",)
    assert parsed.about("anything")  # no source.repository: every delivery counts


def test_tags_by_pattern_and_by_semver_range() -> None:
    by_pattern = Release("i", "Deployment", pattern=r"v\d+\.\d+\.\d+")
    assert webhookpolicies.tag_allowed(by_pattern, "v1.2.3") is None
    assert "does not match" in (webhookpolicies.tag_allowed(by_pattern, "v1.2.3-rc1") or "")
    by_range = Release("i", "Deployment", semver=">=1.2.0 <2.0.0")
    assert webhookpolicies.tag_allowed(by_range, "1.2.0") is None
    assert webhookpolicies.tag_allowed(by_range, "v1.9.9") is None
    for tag in ("1.1.9", "2.0.0", "1.3.0-rc.1", "latest"):
        assert webhookpolicies.tag_allowed(by_range, tag) is not None, tag
    assert "not an image tag" in (webhookpolicies.tag_allowed(by_range, "../x") or "")
    with pytest.raises(InvalidPolicy):
        policy(tags={"semver": "about 1.2"})
    with pytest.raises(InvalidPolicy):
        policy(tags={"pattern": "(unclosed"})


versions = st.tuples(*(st.integers(0, 30),) * 3)


@given(versions, versions, versions)
def test_a_range_is_the_versions_between_its_bounds(
    low: tuple[int, int, int], high: tuple[int, int, int], seen: tuple[int, int, int]
) -> None:
    text = f">={'.'.join(map(str, low))} <{'.'.join(map(str, high))}"
    tag = ".".join(map(str, seen))
    assert webhookpolicies.in_range(tag, text) == (low <= seen < high)
