"""Label and field selectors in the simulator (``local.sim.selectors``).

Covers: every label operator in the string syntax (=, ==, !=, in, notin, exists, !exists, >, <)
matching and not matching, whitespace, the canonical string form and its round trip, parse and
validation errors (syntax, label key and value rules); the metav1.LabelSelector object form
(matchLabels, matchExpressions with In/NotIn/Exists/DoesNotExist, None, errors); field selectors
(=, ==, !=, several terms, dotted paths, missing fields as "", booleans and numbers, escapes,
errors, string form).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from local.sim import selectors

LABELS = {"app": "web", "tier": "frontend", "example.com/team": "a", "replicas": "3"}


# --- label selectors: the string syntax --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "matching", "not_matching"),
    [
        ("app=web", {"app": "web"}, {"app": "db"}),
        ("app==web", {"app": "web"}, {}),
        ("app!=web", {"app": "db"}, {"app": "web"}),
        ("app!=web", {}, {"app": "web"}),  # != matches when the label is absent
        ("tier in (frontend,backend)", {"tier": "backend"}, {"tier": "cache"}),
        ("tier in (frontend,backend)", {"tier": "frontend"}, {}),
        ("tier notin (frontend,backend)", {"tier": "cache"}, {"tier": "frontend"}),
        ("tier notin (frontend)", {}, {"tier": "frontend"}),
        ("canary", {"canary": ""}, {"app": "web"}),
        ("!canary", {"app": "web"}, {"canary": "true"}),
        ("replicas>2", {"replicas": "3"}, {"replicas": "2"}),
        ("replicas<2", {"replicas": "1"}, {"replicas": "x"}),
        ("app=", {"app": ""}, {"app": "web"}),
        ("example.com/team=a", {"example.com/team": "a"}, {"team": "a"}),
    ],
)
def test_label_operators(text: str, matching: dict[str, str], not_matching: dict[str, str]) -> None:
    selector = selectors.parse_label_selector(text)
    assert selector.matches(matching)
    assert not selector.matches(not_matching)


def test_label_requirements_are_anded() -> None:
    selector = selectors.parse_label_selector("app=web,tier in (frontend),!canary,example.com/team")
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "canary": "1"})
    assert not selector.matches({**LABELS, "tier": "backend"})
    assert not selector.matches({"app": "web", "tier": "frontend"})


def test_empty_label_selector_matches_everything() -> None:
    for text in ("", None, "   "):
        selector = selectors.parse_label_selector(text)
        assert selector.empty
        assert selector.matches(LABELS)
        assert selector.matches(None)
        assert str(selector) == ""


def test_none_labels_are_no_labels() -> None:
    assert selectors.parse_label_selector("!app").matches(None)
    assert not selectors.parse_label_selector("app").matches(None)


def test_label_selector_tolerates_whitespace() -> None:
    spaced = selectors.parse_label_selector("  app = web ,tier  in ( frontend , backend ) , ! x ")
    assert spaced == selectors.parse_label_selector("app=web,tier in (backend,frontend),!x")
    assert spaced.matches(LABELS)


def test_label_selector_canonical_string() -> None:
    text = "tier notin (b,a),app==web,!canary,zone,n>1,version!=2,env in (prod)"
    selector = selectors.parse_label_selector(text)
    assert str(selector) == ("app=web,!canary,env in (prod),n>1,tier notin (a,b),version!=2,zone")
    assert selectors.parse_label_selector(str(selector)) == selector


def test_label_values_in_a_set_may_be_empty() -> None:
    selector = selectors.parse_label_selector("app in (web,)")
    assert selector.matches({"app": ""})
    assert selector.matches({"app": "web"})
    assert str(selector) == "app in (,web)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app in (web", "found end of string, expected: ',' or ')'"),
        ("app in web", "expected: '('"),
        ("app web", "found 'web', expected: '=', '=='"),
        ("app=web,", "found end of string, expected: '!' or label key"),
        ("app=web=x", "found '=', expected: ',' or end of string"),
        ("!", "expected: label key"),
        ("(app)", "found '(', expected: '!' or label key"),
        ("-app=web", "invalid label key '-app'"),
        ("a/b/c", "at most one '/'"),
        ("Example.com/app", "prefix part must be a lowercase DNS subdomain"),
        ("/app", "prefix part must be non-empty"),
        ("example.com/", "name part must be non-empty"),
        ("a" * 64, "no more than 63 characters"),
        ("app=-web", "invalid label value '-web' for key 'app'"),
        ("app=" + "v" * 64, "invalid label value"),
        ("replicas>many", "must be an integer"),
    ],
)
def test_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(selectors.SelectorError, match=re.escape(message)) as caught:
        selectors.parse_label_selector(text)
    assert str(caught.value).startswith(("unable to parse label selector", "unable to parse req"))


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(selectors.SelectorError, ValueError)


def test_requirement_validates_on_creation() -> None:
    with pytest.raises(selectors.SelectorError, match="values set can't be empty"):
        selectors.Requirement("app", selectors.Operator.IN, ())
    with pytest.raises(selectors.SelectorError, match="must be empty for exists"):
        selectors.Requirement("app", selectors.Operator.EXISTS, ("x",))
    requirement = selectors.Requirement("app", selectors.Operator.IN, ("b", "a", "b"))
    assert requirement.values == ("a", "b")


# --- label selectors: the object form ----------------------------------------------------------


def test_label_selector_from_object() -> None:
    selector = selectors.label_selector_from_object(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "example.com/team", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "track": "canary"})
    assert not selector.matches({**LABELS, "legacy": "yes"})
    assert not selector.matches({**LABELS, "tier": "backend"})
    assert not selector.matches({"app": "web", "tier": "frontend"})
    assert str(selector) == (
        "app=web,example.com/team,!legacy,tier in (edge,frontend),track notin (canary)"
    )


def test_label_selector_object_none_and_empty_match_everything() -> None:
    for obj in (None, {}, {"matchLabels": None, "matchExpressions": None}):
        selector = selectors.label_selector_from_object(obj)
        assert selector.empty
        assert selector.matches(LABELS)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Equals"}]}, "not a valid label selector"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, "list of strings"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "empty"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "needs a string key"),
        ({"matchExpressions": {"key": "a"}}, "must be a list"),
        ({"matchLabels": {"app": 1}}, "must map a string to a string"),
        ({"matchLabels": {"bad key": "x"}}, "invalid label key 'bad key'"),
        ({"matchLabels": ["app"]}, "matchLabels must be an object"),
    ],
)
def test_label_selector_object_errors(obj: Any, message: str) -> None:
    with pytest.raises(selectors.SelectorError, match=message):
        selectors.label_selector_from_object(obj)


# --- field selectors ---------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-a", "unschedulable": False, "priority": 5},
    "status": {"phase": "Running"},
}
EVENT = {"involvedObject": {"kind": "Pod", "name": "web-1"}, "type": "Warning"}


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("metadata.name=web-1", POD, True),
        ("metadata.name==web-1", POD, True),
        ("metadata.name=web-2", POD, False),
        ("metadata.namespace!=prod", POD, False),
        ("status.phase!=Pending", POD, True),
        ("spec.nodeName=node-a,status.phase=Running", POD, True),
        ("spec.nodeName=node-a,status.phase=Failed", POD, False),
        ("spec.unschedulable=false", POD, True),
        ("spec.priority=5", POD, True),
        ("spec.missing=", POD, True),  # a missing field reads as ""
        ("spec.missing!=", POD, False),
        ("spec.nodeName.deeper=", POD, True),
        ("involvedObject.kind=Pod,involvedObject.name=web-1,type=Warning", EVENT, True),
        ("type=Normal", EVENT, False),
    ],
)
def test_field_selector_matches(text: str, obj: dict[str, Any], expected: bool) -> None:
    assert selectors.parse_field_selector(text).matches(obj) is expected


def test_empty_field_selector_matches_everything() -> None:
    for text in ("", None, ","):
        selector = selectors.parse_field_selector(text)
        assert selector.empty
        assert selector.matches(POD)


def test_field_selector_escapes_and_string_form() -> None:
    selector = selectors.parse_field_selector(r"metadata.name=a\,b\=c\\d,status.phase!=Running")
    assert selector.requirements == (
        selectors.FieldRequirement("metadata.name", "a,b=c\\d"),
        selectors.FieldRequirement("status.phase", "Running", negated=True),
    )
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(selector) == r"metadata.name=a\,b\=c\\d,status.phase!=Running"
    assert selectors.parse_field_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "can't understand 'metadata.name'"),
        ("=web", "has no field name"),
        (r"metadata.name=a\x", "invalid escape sequence"),
        ("metadata.name=a=b", "unescaped '='"),
        ("metadata.name=a\\", "ends with"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(selectors.SelectorError, match=message) as caught:
        selectors.parse_field_selector(text)
    assert str(caught.value).startswith("invalid field selector")
