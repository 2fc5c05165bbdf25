"""Structural-schema handling of custom objects: defaulting, pruning and validation.

Covers the upstream Knative CRDs (Trigger, Broker, PingSource, ApiServerSource, Serving Service):
correct objects pass untouched, wrong ones give the API server's field errors, unknown fields
are pruned (or kept under x-kubernetes-preserve-unknown-fields); then each schema keyword on
small synthetic schemas, with the exact wording of the errors; and the CRD version lookup.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import schemas

REPO_ROOT = Path(__file__).resolve().parents[2]
KNATIVE = REPO_ROOT.parent / "shared" / "schemas" / "knative"


@functools.cache
def _crd(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((KNATIVE / f"{name}.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _schema(name: str, version: str = "v1") -> Any:
    schema = schemas.schema_for_version(_crd(name), version)
    assert schema is not None
    return schema


def _messages(obj: dict[str, Any], schema: Any) -> list[str]:
    return [str(e) for e in schemas.validate(obj, schema)]


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "labels": {"app": name}, "uid": "u-1"}


def _trigger() -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": _meta("on-promote"),
        "spec": {
            "broker": "default",
            "filter": {"attributes": {"type": "dev.ferry.rollout.promoted", "source": "x"}},
            "subscriber": {
                "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "f"}
            },
            "delivery": {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT1S"},
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "subscriberUri": "http://f.default.svc",
            "observedGeneration": 1,
        },
    }


def _broker() -> dict[str, Any]:
    meta = _meta("default")
    meta["annotations"] = {"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": meta,
        "spec": {
            "delivery": {
                "deadLetterSink": {"uri": "http://dlq.default.svc"},
                "retry": 5,
            }
        },
        "status": {"address": {"url": "http://broker-ingress/default/default"}},
    }


def _ping_source() -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": _meta("tick"),
        "spec": {
            "schedule": "* * * * *",
            "timezone": "Europe/Paris",
            "contentType": "application/json",
            "data": '{"tick": true}',
            "ceOverrides": {"extensions": {"ferrykind": "tick"}},
            "sink": {
                "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "b"}
            },
        },
    }


def _api_server_source() -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "ApiServerSource",
        "metadata": _meta("rollouts"),
        "spec": {
            "mode": "Resource",
            "serviceAccountName": "ferry-source",
            "resources": [
                {"apiVersion": "ferry.dev/v1alpha1", "kind": "Rollout"},
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "selector": {
                        "matchLabels": {"ferry.dev/managed": "true"},
                        "matchExpressions": [
                            {"key": "tier", "operator": "In", "values": ["web", "api"]}
                        ],
                    },
                },
            ],
            "sink": {
                "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "b"}
            },
        },
    }


def _knative_service() -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": _meta("promote"),
        "spec": {
            "template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1"}},
                "spec": {
                    "containerConcurrency": 10,
                    "timeoutSeconds": 300,
                    "containers": [
                        {
                            "image": "ghcr.io/ferry/promote:1",
                            "env": [
                                {"name": "REDIS_URL", "value": "redis://redis:6379"},
                                {
                                    "name": "TOKEN",
                                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}},
                                },
                            ],
                            "ports": [{"containerPort": 8080}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                        }
                    ],
                },
            },
            "traffic": [{"latestRevision": True, "percent": 100}],
        },
    }


# --------------------------------------------------------------------------- Knative CRDs


@pytest.mark.parametrize(
    ("crd", "build"),
    [
        ("eventing-trigger", _trigger),
        ("eventing-broker", _broker),
        ("eventing-pingsource", _ping_source),
        ("eventing-apiserversource", _api_server_source),
        ("serving-service", _knative_service),
    ],
)
def test_a_correct_knative_object_passes_every_step_unchanged_but_for_defaults(
    crd: str, build: Any
) -> None:
    schema = _schema(crd)
    obj = build()
    schemas.apply_defaults(obj, schema)
    before = copy.deepcopy(obj)
    assert schemas.prune(obj, schema) == []
    assert obj == before
    assert schemas.validate(obj, schema) == []


def test_knative_service_defaults_fill_the_container_port_protocol() -> None:
    obj = _knative_service()
    schemas.apply_defaults(obj, _schema("serving-service"))
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]


def test_a_trigger_without_subscriber_or_broker_passes_the_schema_as_on_a_real_server() -> None:
    # The Trigger schema requires neither field: Knative's admission webhook rejects such a
    # Trigger, the API server's schema validation does not.
    obj = _trigger()
    del obj["spec"]["subscriber"]
    del obj["spec"]["broker"]
    assert schemas.validate(obj, _schema("eventing-trigger")) == []


def test_an_api_server_source_without_resources_is_refused() -> None:
    obj = _api_server_source()
    del obj["spec"]["resources"]
    errors = schemas.validate(obj, _schema("eventing-apiserversource"))
    assert errors == [schemas.FieldError("spec.resources", "Required value", "FieldValueRequired")]
    assert str(errors[0]) == "spec.resources: Required value"


def test_a_knative_service_without_containers_is_refused() -> None:
    obj = _knative_service()
    del obj["spec"]["template"]["spec"]["containers"]
    assert _messages(obj, _schema("serving-service")) == [
        "spec.template.spec.containers: Required value"
    ]


def test_a_ping_source_with_a_wrong_type_is_refused_with_the_server_wording() -> None:
    obj = _ping_source()
    obj["spec"]["schedule"] = 5
    assert _messages(obj, _schema("eventing-pingsource")) == [
        'spec.schedule: Invalid value: "integer": '
        'spec.schedule in body must be of type string: "integer"'
    ]


def test_a_trigger_with_a_wrong_nested_type_and_a_condition_without_status() -> None:
    obj = _trigger()
    obj["spec"]["delivery"]["retry"] = "three"
    obj["status"]["conditions"] = [{"type": "Ready"}]
    assert _messages(obj, _schema("eventing-trigger")) == [
        'spec.delivery.retry: Invalid value: "string": '
        'spec.delivery.retry in body must be of type integer: "string"',
        "status.conditions[0].status: Required value",
    ]


def test_a_knative_service_with_two_env_vars_of_one_name_is_refused() -> None:
    obj = _knative_service()
    env = obj["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "REDIS_URL", "value": "other"})
    assert _messages(obj, _schema("serving-service")) == [
        "spec.template.spec.containers[0].env[2]: Duplicate value: "
        'map[string]interface {}{"name":"REDIS_URL"}'
    ]


def test_an_unknown_broker_spec_field_is_pruned_and_reported() -> None:
    obj = _broker()
    obj["spec"]["colour"] = "blue"
    obj["spec"]["delivery"]["deadLetterSink"]["ref"] = {"name": "dlq", "extra": 1}
    pruned = schemas.prune(obj, _schema("eventing-broker"))
    assert pruned == ["spec.delivery.deadLetterSink.ref.extra", "spec.colour"]
    assert "colour" not in obj["spec"]
    assert obj["spec"]["delivery"]["deadLetterSink"]["ref"] == {"name": "dlq"}


def test_trigger_spec_keeps_unknown_fields_but_prunes_inside_declared_ones() -> None:
    obj = _trigger()
    obj["spec"]["experimental"] = {"anything": True}
    obj["spec"]["subscriber"]["colour"] = "blue"
    obj["spec"]["filter"]["attributes"]["free"] = "form"
    pruned = schemas.prune(obj, _schema("eventing-trigger"))
    assert pruned == ["spec.subscriber.colour"]
    assert obj["spec"]["experimental"] == {"anything": True}
    assert obj["spec"]["filter"]["attributes"]["free"] == "form"


def test_the_root_keeps_api_version_kind_and_all_of_metadata() -> None:
    obj = _trigger()
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    obj["extra"] = 1
    pruned = schemas.prune(obj, _schema("eventing-trigger"))
    assert pruned == ["extra"]
    assert obj["apiVersion"] == "eventing.knative.dev/v1"
    assert obj["kind"] == "Trigger"
    assert obj["metadata"]["managedFields"] == [{"manager": "kubectl"}]


def test_an_unknown_container_field_is_pruned_with_its_index_in_the_path() -> None:
    obj = _knative_service()
    obj["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Never"
    pruned = schemas.prune(obj, _schema("serving-service"))
    assert pruned == ["spec.template.spec.containers[0].imagePolicy"]


def test_schema_for_version_finds_each_version_and_nothing_else() -> None:
    crd = _crd("eventing-pingsource")
    v1 = schemas.schema_for_version(crd, "v1")
    v1beta2 = schemas.schema_for_version(crd, "v1beta2")
    assert v1 is not None and v1beta2 is not None and v1 is not v1beta2
    assert v1["type"] == "object"
    assert schemas.schema_for_version(crd, "v2") is None
    assert schemas.schema_for_version({"spec": {"versions": [{"name": "v1"}]}}, "v1") is None


# --------------------------------------------------------------------------- defaulting


def _obj(**spec: Any) -> dict[str, Any]:
    return {"spec": dict(spec)}


def _spec_schema(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec = {"type": "object", "properties": properties, **extra}
    return {"type": "object", "properties": {"spec": spec}}


def test_defaults_fill_absent_fields_only() -> None:
    schema = _spec_schema(
        {"replicas": {"type": "integer", "default": 1}, "mode": {"type": "string", "default": "a"}}
    )
    obj = _obj(mode="b")
    schemas.apply_defaults(obj, schema)
    assert obj == {"spec": {"mode": "b", "replicas": 1}}


def test_defaults_do_not_create_an_absent_parent() -> None:
    schema = _spec_schema(
        {"strategy": {"type": "object", "properties": {"x": {"type": "string", "default": "d"}}}}
    )
    obj = _obj()
    schemas.apply_defaults(obj, schema)
    assert obj == {"spec": {}}


def test_a_parents_default_is_itself_defaulted_and_copied() -> None:
    inner = {"type": "object", "properties": {"steps": {"type": "integer", "default": 3}}}
    schema = _spec_schema({"strategy": {**inner, "default": {}}})
    first, second = _obj(), _obj()
    schemas.apply_defaults(first, schema)
    schemas.apply_defaults(second, schema)
    assert first == {"spec": {"strategy": {"steps": 3}}}
    first["spec"]["strategy"]["steps"] = 9
    assert second["spec"]["strategy"] == {"steps": 3}
    assert schema["properties"]["spec"]["properties"]["strategy"]["default"] == {}


def test_defaults_reach_array_items_and_additional_properties() -> None:
    item = {"type": "object", "properties": {"weight": {"type": "integer", "default": 10}}}
    schema = _spec_schema(
        {
            "steps": {"type": "array", "items": item},
            "routes": {"type": "object", "additionalProperties": item},
        }
    )
    obj = _obj(steps=[{}, {"weight": 5}], routes={"a": {}})
    schemas.apply_defaults(obj, schema)
    assert obj["spec"]["steps"] == [{"weight": 10}, {"weight": 5}]
    assert obj["spec"]["routes"] == {"a": {"weight": 10}}


def test_nulls_are_defaulted_dropped_or_kept_as_the_schema_says() -> None:
    schema = _spec_schema(
        {
            "defaulted": {"type": "integer", "default": 2},
            "plain": {"type": "string"},
            "nullable": {"type": "string", "nullable": True},
        }
    )
    obj = _obj(defaulted=None, plain=None, nullable=None)
    schemas.apply_defaults(obj, schema)
    assert obj == {"spec": {"defaulted": 2, "nullable": None}}


# --------------------------------------------------------------------------- pruning


def test_additional_properties_schema_prunes_inside_each_value() -> None:
    value = {"type": "object", "properties": {"weight": {"type": "integer"}}}
    schema = _spec_schema({"routes": {"type": "object", "additionalProperties": value}})
    obj = _obj(routes={"a": {"weight": 1, "junk": 2}})
    assert schemas.prune(obj, schema) == ["spec.routes.a.junk"]
    assert obj == _obj(routes={"a": {"weight": 1}})


def test_additional_properties_true_keeps_everything() -> None:
    schema = _spec_schema({"free": {"type": "object", "additionalProperties": True}})
    obj = _obj(free={"a": {"b": [1, {"c": 2}]}})
    assert schemas.prune(obj, schema) == []
    assert obj == _obj(free={"a": {"b": [1, {"c": 2}]}})


def test_an_embedded_resource_keeps_its_type_and_metadata() -> None:
    embedded = {
        "type": "object",
        "x-kubernetes-embedded-resource": True,
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }
    schema = _spec_schema({"template": embedded})
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"a": "b"}},
        "spec": {"a": "x", "b": "y"},
        "status": {},
    }
    obj = _obj(template=template)
    assert schemas.prune(obj, schema) == ["spec.template.spec.b", "spec.template.status"]
    assert obj["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"a": "b"}},
        "spec": {"a": "x"},
    }


def test_preserve_unknown_fields_on_array_items_keeps_their_unknown_fields() -> None:
    item = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema = _spec_schema({"filters": {"type": "array", "items": item}})
    obj = _obj(filters=[{"exact": {"type": "x"}}, {"any": []}])
    assert schemas.prune(obj, schema) == []
    assert obj == _obj(filters=[{"exact": {"type": "x"}}, {"any": []}])


def test_int_or_string_values_are_never_pruned() -> None:
    schema = _spec_schema({"port": {"x-kubernetes-int-or-string": True}})
    for port in (8080, "http"):
        obj = _obj(port=port)
        assert schemas.prune(obj, schema) == []
        assert obj == _obj(port=port)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            {"type": "integer"},
            "abc",
            'spec.f: Invalid value: "string": spec.f in body must be of type integer: "string"',
        ),
        (
            {"type": "integer"},
            True,
            'spec.f: Invalid value: "boolean": spec.f in body must be of type integer: "boolean"',
        ),
        (
            {"type": "integer"},
            2.5,
            'spec.f: Invalid value: "number": spec.f in body must be of type integer: "number"',
        ),
        (
            {"type": "object"},
            [],
            'spec.f: Invalid value: "array": spec.f in body must be of type object: "array"',
        ),
        (
            {"type": "string"},
            None,
            'spec.f: Invalid value: "null": spec.f in body must be of type string: "null"',
        ),
        (
            {"x-kubernetes-int-or-string": True},
            False,
            'spec.f: Invalid value: "boolean": '
            'spec.f in body must be of type integer,string: "boolean"',
        ),
        (
            {"type": "string", "enum": ["a", "b"]},
            "x",
            'spec.f: Unsupported value: "x": supported values: "a", "b"',
        ),
        (
            {"type": "integer", "enum": [1, 2]},
            3,
            'spec.f: Unsupported value: 3: supported values: "1", "2"',
        ),
        (
            {"type": "integer", "minimum": 1},
            0,
            "spec.f: Invalid value: 0: spec.f in body should be greater than or equal to 1",
        ),
        (
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            0,
            "spec.f: Invalid value: 0: spec.f in body should be greater than 0",
        ),
        (
            {"type": "integer", "maximum": 100},
            101,
            "spec.f: Invalid value: 101: spec.f in body should be less than or equal to 100",
        ),
        (
            {"type": "number", "maximum": 1.5, "exclusiveMaximum": True},
            1.5,
            "spec.f: Invalid value: 1.5: spec.f in body should be less than 1.5",
        ),
        (
            {"type": "integer", "multipleOf": 5},
            7,
            "spec.f: Invalid value: 7: spec.f in body should be a multiple of 5",
        ),
        (
            {"type": "string", "minLength": 1},
            "",
            'spec.f: Invalid value: "": spec.f in body should be at least 1 chars long',
        ),
        ({"type": "string", "maxLength": 3}, "abcd", "spec.f: Too long: may not be longer than 3"),
        (
            {"type": "string", "pattern": "^[a-z]+$"},
            "Abc",
            "spec.f: Invalid value: \"Abc\": spec.f in body should match '^[a-z]+$'",
        ),
        (
            {"type": "string", "format": "date-time"},
            "yesterday",
            'spec.f: Invalid value: "yesterday": '
            'spec.f in body must be of type date-time: "yesterday"',
        ),
        (
            {"type": "array", "minItems": 1},
            [],
            "spec.f: Invalid value: 0: spec.f in body should have at least 1 items",
        ),
        (
            {"type": "array", "maxItems": 1},
            [1, 2],
            "spec.f: Too many: 2: must have at most 1 items",
        ),
        (
            {"type": "array", "uniqueItems": True},
            [1, 1],
            "spec.f: Invalid value: [1,1]: spec.f in body shouldn't contain duplicates",
        ),
        (
            {"type": "object", "minProperties": 1},
            {},
            "spec.f: Invalid value: 0: spec.f in body should have at least 1 properties",
        ),
        (
            {"type": "object", "maxProperties": 1},
            {"a": 1, "b": 2},
            "spec.f: Too many: 2: must have at most 1 items",
        ),
        (
            {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            ["a", "b", "a"],
            'spec.f[2]: Duplicate value: "a"',
        ),
        (
            {"type": "object", "required": ["name"]},
            {},
            "spec.f.name: Required value",
        ),
    ],
)
def test_each_keyword_reports_the_server_error(field: Any, value: Any, message: str) -> None:
    assert _messages(_obj(f=value), _spec_schema({"f": field})) == [message]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ({"type": "integer"}, 3),
        ({"type": "integer"}, 3.0),
        ({"type": "number"}, 3),
        ({"type": "boolean"}, False),
        ({"type": "string", "nullable": True}, None),
        ({"x-kubernetes-int-or-string": True}, 8080),
        ({"x-kubernetes-int-or-string": True}, "50%"),
        ({"type": "string", "pattern": "[0-9]"}, "abc1def"),
        ({"type": "string", "enum": ["a", "b"]}, "b"),
        ({"type": "integer", "minimum": 1, "maximum": 1}, 1),
        ({"type": "string", "format": "date-time"}, "2026-01-01T00:00:00Z"),
        ({"type": "string", "format": "date-time"}, "2026-01-01T00:00:00.123+02:00"),
        ({"type": "array", "x-kubernetes-list-type": "set"}, [1, True, "1"]),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, {"any": ["x"]}),
        (
            {"type": "string", "x-kubernetes-validations": [{"rule": "self == 'never'"}]},
            "cel-is-not-evaluated",
        ),
    ],
)
def test_valid_values_give_no_error(field: Any, value: Any) -> None:
    assert schemas.validate(_obj(f=value), _spec_schema({"f": field})) == []


def test_a_list_map_reports_a_duplicate_key_tuple_only() -> None:
    field = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["port", "protocol"],
        "items": {"type": "object"},
    }
    value = [
        {"port": 80, "protocol": "TCP"},
        {"port": 80, "protocol": "UDP"},
        {"port": 80, "protocol": "TCP", "name": "again"},
    ]
    assert _messages(_obj(f=value), _spec_schema({"f": field})) == [
        'spec.f[2]: Duplicate value: map[string]interface {}{"port":80, "protocol":"TCP"}'
    ]


def test_int_or_string_with_any_of_accepts_either_and_refuses_an_object() -> None:
    field = {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": "^[0-9]+%?$",
    }
    schema = _spec_schema({"f": field})
    assert schemas.validate(_obj(f=25), schema) == []
    assert schemas.validate(_obj(f="25%"), schema) == []
    assert _messages(_obj(f="x"), schema) == [
        "spec.f: Invalid value: \"x\": spec.f in body should match '^[0-9]+%?$'"
    ]
    assert _messages(_obj(f={}), schema) == [
        'spec.f: Invalid value: "object": spec.f in body must be of type integer,string: "object"'
    ]


def test_any_of_one_of_not_and_all_of() -> None:
    any_of = {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}
    one_of = {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}
    not_ = {"not": {"required": ["a"]}}
    all_of = {"allOf": [{"required": ["a"]}, {"required": ["b"]}]}
    schema = _spec_schema(
        {
            name: {"type": "object", **rule}
            for name, rule in (("any", any_of), ("one", one_of), ("not", not_), ("all", all_of))
        }
    )
    good = {"spec": {"any": {"b": 1}, "one": {"a": 1}, "not": {}, "all": {"a": 1, "b": 2}}}
    bad = {"spec": {"any": {}, "one": {"a": 1, "b": 2}, "not": {"a": 1}, "all": {"a": 1}}}
    assert schemas.validate(good, schema) == []
    assert _messages(bad, schema) == [
        'spec.any: Invalid value: "": "spec.any" must validate at least one schema (anyOf)',
        'spec.one: Invalid value: "": "spec.one" must validate one and only one schema (oneOf)',
        'spec.not: Invalid value: "": "spec.not" must not validate the schema (not)',
        "spec.all.b: Required value",
        'spec.all: Invalid value: "": "spec.all" must validate all the schemas (allOf)',
    ]


def test_an_embedded_resource_needs_api_version_and_kind() -> None:
    embedded = {
        "type": "object",
        "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    schema = _spec_schema({"template": embedded})
    assert schemas.validate(_obj(template={}), schema) == []
    assert _messages(_obj(template={"spec": {}, "kind": ""}), schema) == [
        "spec.template.apiVersion: Required value: must not be empty",
        'spec.template.kind: Invalid value: "": must not be empty',
    ]


def test_field_errors_carry_the_status_cause_reason() -> None:
    schema = _spec_schema(
        {"mode": {"type": "string", "enum": ["a"]}, "n": {"type": "integer"}}, required=["x"]
    )
    errors = schemas.validate(_obj(mode="b", n="1"), schema)
    assert [(e.path, e.reason) for e in errors] == [
        ("spec.x", "FieldValueRequired"),
        ("spec.mode", "FieldValueNotSupported"),
        ("spec.n", "FieldValueInvalid"),
    ]
