"""JSONPath, the subset Kubernetes uses: what each kind of step selects and what is refused.

Covers fields, escaped dots, quoted keys, indexes (negative, out of range), slices, wildcards,
recursive descent, filters (comparison and existence), the root, a path parsed once and
selected against several documents, and the errors for unsupported syntax (unions, ``range``
templates, bad filters, a descent of a descent), which are ValueErrors.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared import jsonpath

DOC: dict[str, Any] = {
    "metadata": {"annotations": {"eventing.knative.dev/broker.class": "MT", "a": "1"}},
    "status": {
        "conditions": [
            {"type": "Synced", "status": "True", "reason": "Done"},
            {"type": "Ready", "status": "False", "reason": "Pending", "count": 2},
        ]
    },
    "items": [{"name": "a", "n": 1}, {"name": "b", "n": 5}, {"name": "c", "n": 9}],
}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (".status.conditions[0].type", ["Synced"]),
        (".status.conditions[-1].reason", ["Pending"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["False"]),
        (".status.conditions[?(@.type=='Ready')].reason", ["Pending"]),
        ('.status.conditions[?(@.type!="Ready")].type', ["Synced"]),
        (".status.conditions[?(@.count)].type", ["Ready"]),
        (".status.conditions[?(@.count>=2)].type", ["Ready"]),
        (".items[?(@.n<5)].name", ["a"]),
        (".items[?(@.n>1)].name", ["b", "c"]),
        ('.items[?(@.n=="1")].name', []),
        (".items[*].name", ["a", "b", "c"]),
        (".items[1:].name", ["b", "c"]),
        (".items[0:3:2].name", ["a", "c"]),
        (".metadata.annotations.eventing\\.knative\\.dev/broker\\.class", ["MT"]),
        (".metadata.annotations['eventing.knative.dev/broker.class']", ["MT"]),
        ('{.metadata.annotations["a"]}', ["1"]),
        ("$.metadata.annotations.a", ["1"]),
        (".metadata.annotations.*", ["MT", "1"]),
        ("..reason", ["Done", "Pending"]),
        (".status.missing.deeper", []),
        (".items[7]", []),
        (".items.name", []),
        (".metadata[0]", []),
    ],
)
def test_jsonpath_selects(path: str, found: list[Any]) -> None:
    assert jsonpath.evaluate_jsonpath(DOC, path) == found


def test_jsonpath_of_the_root_is_the_object() -> None:
    assert jsonpath.evaluate_jsonpath(DOC, ".") == [DOC]
    assert jsonpath.evaluate_jsonpath(DOC, "{}") == [DOC]


@pytest.mark.parametrize(
    "path",
    [
        "status.x",
        ".items[0,1]",
        ".items['a','b']",
        ".items[?(@.n ~ 1)]",
        ".items[?(name)]",
        ".items[",
        ".items[x]",
        ".items.",
        ".a[?(@.x=='open)]",
        "{range .items[*]}{.name}{end}",
        "...name",
        ".status....reason",
    ],
)
def test_jsonpath_refuses_unsupported_syntax(path: str) -> None:
    with pytest.raises(jsonpath.JsonPathError, match="unsupported JSONPath"):
        jsonpath.evaluate_jsonpath(DOC, path)


def test_a_parsed_path_selects_from_many_documents() -> None:
    path = jsonpath.parse(".status.conditions[?(@.type=='Ready')].status")
    assert path.select(DOC) == ["False"]
    assert path.select({"status": {"conditions": []}}) == []
    assert path.select({"status": "not a mapping"}) == []
    assert path.text == ".status.conditions[?(@.type=='Ready')].status"


def test_errors_are_value_errors_that_say_where() -> None:
    with pytest.raises(
        ValueError, match=r"unsupported JSONPath '\.items\[x\]' at \d+: bad index 'x'"
    ):
        jsonpath.parse(".items[x]")


def test_a_filter_compares_only_values_of_the_same_kind() -> None:
    doc = {"items": [{"v": True}, {"v": 1}, {"v": "1"}, {"v": 1.0}, {"v": None}]}
    assert jsonpath.evaluate_jsonpath(doc, ".items[?(@.v==1)].v") == [1, 1.0]
    assert jsonpath.evaluate_jsonpath(doc, ".items[?(@.v==true)].v") == [True]
    assert jsonpath.evaluate_jsonpath(doc, ".items[?(@.v<'2')].v") == ["1"]
