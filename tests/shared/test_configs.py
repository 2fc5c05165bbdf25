"""What a pod template references, its copies' names, and revisions with their data."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import configs, models, workloads
from shared.configs import CONFIG_MAP, SECRET, Ref

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "volumes": [
            {"name": "a", "configMap": {"name": "settings"}},
            {"name": "b", "secret": {"secretName": "tls", "optional": True}},
            {
                "name": "c",
                "projected": {
                    "sources": [
                        {"configMap": {"name": "projected-cm"}},
                        {"secret": {"name": "projected-secret"}},
                        {"serviceAccountToken": {"path": "token"}},
                    ]
                },
            },
            {"name": "d", "emptyDir": {}},
        ],
        "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "init-env"}}]}],
        "containers": [
            {
                "name": "web",
                "envFrom": [{"secretRef": {"name": "env-secret"}}, {"prefix": "X_"}],
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}},
                    },
                    {
                        "name": "B",
                        "valueFrom": {"secretKeyRef": {"name": "key-secret", "key": "b"}},
                    },
                    {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "D", "value": "plain"},
                ],
            }
        ],
    },
}


def test_every_kind_of_reference_is_found_once() -> None:
    assert configs.references(TEMPLATE) == [
        Ref(CONFIG_MAP, "init-env"),
        Ref(CONFIG_MAP, "projected-cm"),
        Ref(CONFIG_MAP, "settings"),
        Ref(SECRET, "env-secret"),
        Ref(SECRET, "key-secret"),
        Ref(SECRET, "projected-secret"),
        Ref(SECRET, "tls"),
    ]


def test_rewrite_names_the_copies_everywhere_and_leaves_the_rest() -> None:
    names = {Ref(CONFIG_MAP, "settings"): "settings-1", Ref(SECRET, "tls"): "tls-2"}
    out = configs.rewrite(TEMPLATE, names)
    spec = out["spec"]
    assert spec["volumes"][0]["configMap"] == {"name": "settings-1"}
    assert spec["volumes"][1]["secret"] == {"secretName": "tls-2", "optional": True}
    assert spec["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]["name"] == "settings-1"
    assert spec["containers"][0]["envFrom"][0]["secretRef"]["name"] == "env-secret"
    assert TEMPLATE["spec"]["volumes"][0]["configMap"] == {"name": "settings"}  # not changed
    assert set(configs.references(out)) == (
        set(configs.references(TEMPLATE)) - set(names)
        | {Ref(CONFIG_MAP, "settings-1"), Ref(SECRET, "tls-2")}
    )


def test_a_digest_is_the_data_only() -> None:
    one = {"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}}
    relabelled = {**one, "metadata": {"name": "b", "annotations": {"y": "2"}}}
    assert configs.digest(one, None) == configs.digest(relabelled, None)
    assert configs.digest(one, None) != configs.digest({**one, "data": {"k": "w"}}, None)
    assert configs.digest(one, None) != configs.digest({**one, "binaryData": {"k": "dg=="}}, None)
    secret = {"kind": "Secret", "data": {"k": "dg=="}}
    key = b"k" * 32
    assert configs.digest(secret, key) == configs.digest({**secret, "type": "Opaque"}, key)
    assert configs.digest(secret, key) != configs.digest(
        {**secret, "type": "kubernetes.io/tls"}, key
    )


def test_a_secret_digest_is_keyed_so_it_cannot_confirm_a_guess() -> None:
    secret = {"kind": "Secret", "data": {"password": "aHVudGVyMg=="}}
    one, other = configs.digest(secret, b"a" * 32), configs.digest(secret, b"b" * 32)
    assert one != other
    guess = json.dumps({"binaryData": {}, "data": secret["data"]}, sort_keys=True).encode()
    assert hashlib.sha256(guess).hexdigest() not in (one, other)
    with pytest.raises(configs.NeedsKey):
        configs.digest(secret, None)


SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
"""What the API server accepts as a ConfigMap's or Secret's name (``IsDNS1123Subdomain``)."""
LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.lists(LABEL, min_size=1, max_size=20).map(".".join).filter(lambda n: len(n) <= 253))
def test_a_copy_name_is_always_a_valid_object_name(name: str) -> None:
    assert re.fullmatch(SUBDOMAIN, name)
    copied = configs.copy_name("web", Ref(CONFIG_MAP, name), "d" * 64)
    assert len(copied) <= 253 and re.fullmatch(SUBDOMAIN, copied), copied


def test_a_long_name_is_cut_where_the_name_stays_valid() -> None:
    name = "a" * 241 + ".b" + "c" * 10  # the cut falls right after the dot
    copied = configs.copy_name("web", Ref(CONFIG_MAP, name), "d" * 64)
    assert len(copied) <= 253 and re.fullmatch(SUBDOMAIN, copied), copied


def test_copy_names_differ_by_data_and_by_rollout() -> None:
    ref = Ref(CONFIG_MAP, "settings")
    one = configs.copy_name("web", ref, "a")
    assert one == configs.copy_name("web", ref, "a")
    assert one != configs.copy_name("web", ref, "b")
    assert one != configs.copy_name("api", ref, "a")


def test_a_template_without_references_keeps_its_revision() -> None:
    target = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}
    assert workloads.revision(target) == workloads.revision(target, {})
    assert workloads.revision(target) != workloads.revision(target, {"ConfigMap/a": "missing"})
    assert workloads.revision(target, {"ConfigMap/a": "1"}) != workloads.revision(
        target, {"ConfigMap/a": "2"}
    )


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "spec",
                    "volumes",
                    "configMap",
                    "name",
                    "secret",
                    "secretName",
                    "projected",
                    "sources",
                    "containers",
                    "envFrom",
                    "configMapRef",
                    "env",
                    "valueFrom",
                    "secretKeyRef",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(JSONISH)
def test_any_shape_of_template_is_read_without_error(template: Any) -> None:
    found = configs.references(template if isinstance(template, dict) else {"spec": template})
    assert all(isinstance(ref.name, str) and ref.name for ref in found)


@pytest.mark.parametrize("value", [-1, 101, "3", True, 2.5])
def test_a_revision_history_limit_must_be_a_small_whole_number(value: Any) -> None:
    rollout = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "targetRef": {"name": "web"},
            "service": {"name": "web", "port": 80},
            "strategy": {"canary": {"steps": [{"setWeight": 10}]}},
            "revisionHistoryLimit": value,
        },
    }
    with pytest.raises(models.InvalidSpec, match=r"spec\.revisionHistoryLimit"):
        models.parse(rollout)
    rollout["spec"]["revisionHistoryLimit"] = 0
    assert models.parse(rollout).revision_history_limit == 0
    del rollout["spec"]["revisionHistoryLimit"]
    assert models.parse(rollout).revision_history_limit == 3
