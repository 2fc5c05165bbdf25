"""The labels Ferry puts on a DestinationRule's subsets, as pure functions, over generated rules.

Covered with Hypothesis: whatever the rule (subsets with labels, with ``labels: {}``, without
``labels``, labels Ferry also sets with other values), labelling then restoring gives back
exactly the rule as it was (the record removed); labelling twice is labelling once; a label
Ferry asks for is on its subset and no other subset changes; a rule that has every label
already is left as it is (no record); and labelling for less (the canary label no longer
wanted) puts back exactly what that label replaced.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.routers import subsets
from shared.routers.splits import MARK

Obj = dict[str, Any]
KEYS = st.sampled_from(["app", "version", "ferry.dev/role", "pod-template-hash"])
VALUES = st.sampled_from(["podinfo", "primary", "abc123", "v1"])


@st.composite
def rules(draw: st.DrawFn) -> Obj:
    found = []
    for name in draw(st.lists(st.sampled_from(["stable", "canary", "other"]), unique=True)):
        subset: Obj = {"name": name}
        labels = draw(st.one_of(st.none(), st.dictionaries(KEYS, VALUES, max_size=3)))
        if labels is not None:
            subset["labels"] = labels
        found.append(subset)
    rule: Obj = {"metadata": {"name": "podinfo"}, "spec": {"host": "podinfo", "subsets": found}}
    if draw(st.booleans()):
        rule["metadata"]["annotations"] = {"team": "web"}
    return rule


wanted = st.fixed_dictionaries(
    {"stable": st.just({"ferry.dev/role": "primary"})},
    optional={"canary": st.fixed_dictionaries({"pod-template-hash": VALUES})},
)


@given(rules(), wanted)
def test_labelled_then_restored_is_the_rule(rule: Obj, want: dict[str, subsets.Labels]) -> None:
    assert subsets.restored(subsets.labelled(rule, want)) == rule


@given(rules(), wanted)
def test_labelling_twice_is_labelling_once(rule: Obj, want: dict[str, subsets.Labels]) -> None:
    once = subsets.labelled(rule, want)
    assert subsets.labelled(once, want) == once


@given(rules(), wanted)
def test_the_labels_are_on_their_subsets_and_nothing_else_changes(
    rule: Obj, want: dict[str, subsets.Labels]
) -> None:
    out = subsets.labelled(rule, want)
    before = {s["name"]: s for s in rule["spec"]["subsets"]}
    for subset in out["spec"]["subsets"]:
        labels = subset.get("labels") or {}
        asked = want.get(subset["name"], {})
        assert asked.items() <= labels.items()
        rest = {k: v for k, v in labels.items() if k not in asked}
        original = before[subset["name"]].get("labels") or {}
        assert rest == {k: v for k, v in original.items() if k not in asked}


@given(rules(), wanted)
def test_a_rule_with_the_labels_already_is_left_alone(
    rule: Obj, want: dict[str, subsets.Labels]
) -> None:
    done = copy.deepcopy(rule)
    for subset in done["spec"]["subsets"]:
        if subset["name"] in want:
            subset["labels"] = {**(subset.get("labels") or {}), **want[subset["name"]]}
    assert subsets.labelled(done, want) == done
    assert MARK not in (done["metadata"].get("annotations") or {})


@given(rules(), VALUES)
def test_dropping_the_canary_label_puts_back_what_it_replaced(rule: Obj, value: str) -> None:
    stable = {"stable": {"ferry.dev/role": "primary"}}
    both = subsets.labelled(rule, {**stable, "canary": {"pod-template-hash": value}})
    assert subsets.labelled(both, stable) == subsets.labelled(rule, stable)


def test_a_subset_without_labels_gets_them_and_loses_them_again() -> None:
    rule: Obj = {"metadata": {}, "spec": {"host": "web", "subsets": [{"name": "canary"}]}}
    out = subsets.labelled(rule, {"canary": {"pod-template-hash": "abc"}})
    assert out["spec"]["subsets"] == [{"name": "canary", "labels": {"pod-template-hash": "abc"}}]
    assert subsets.restored(out) == rule
