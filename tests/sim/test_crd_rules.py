"""The CEL rules of a CRD (``x-kubernetes-validations``), through the official client.

Covered with the upstream Gateway API and Istio CRDs (``../shared/schemas``): an HTTPRoute a
rule refuses gets 422 with the rule's message at its path, worded as the API server words it
(a Service backendRef without a port; a RequestMirror filter with both ``percent`` and
``fraction``; a filter whose type names a field it lacks), and nothing is stored; the same
object once corrected is accepted; a rule over a ``duration`` (Istio) refuses too short a
timeout; a transition rule (``self == oldSelf`` on a GatewayClass's ``controllerName``) lets the
object be created and refuses the change; a ``number`` field written as an integer is a double
to its rules; a rule's ``messageExpression`` and ``fieldPath`` are honoured; a rule that fails to
evaluate is an error, not a pass.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client

from local import upstream
from shared.schemas import rules
from tests.sim.client_calls import NS, create_crd, custom, failure

Obj = dict[str, Any]
GATEWAY = "gateway.networking.k8s.io"


def route(backend: Obj | None = None, filters: list[Obj] | None = None) -> Obj:
    rule: Obj = {"backendRefs": [backend or {"name": "web", "port": 80}]}
    if filters is not None:
        rule["filters"] = filters
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"parentRefs": [{"name": "public"}], "rules": [rule]},
    }


def _create(api: client.ApiClient, obj: Obj, plural: str) -> Obj:
    group, version = obj["apiVersion"].split("/")
    made: Obj = custom(api).create_namespaced_custom_object(group, version, NS, plural, obj)
    return made


def _refused(api: client.ApiClient, obj: Obj, plural: str) -> str:
    group, version = obj["apiVersion"].split("/")
    status, body = failure(
        custom(api).create_namespaced_custom_object, group, version, NS, plural, obj
    )
    assert status == 422, body
    found = custom(api).list_namespaced_custom_object(group, version, NS, plural)["items"]
    assert found == []  # nothing stored
    return str(body["message"])


@pytest.fixture
def routes(api: client.ApiClient) -> client.ApiClient:
    create_crd(api, upstream.crd("gateway-api/httproutes.yaml"))
    return api


def test_a_service_backend_without_a_port_is_refused(routes: client.ApiClient) -> None:
    message = _refused(routes, route({"name": "web"}), "httproutes")
    assert 'spec.rules[0].backendRefs[0]: Invalid value: "object": Must have port for Service ' in (
        message
    )
    assert _create(routes, route({"name": "web", "port": 80}), "httproutes")


def test_a_mirror_with_percent_and_fraction_is_refused(routes: client.ApiClient) -> None:
    mirror = {
        "type": "RequestMirror",
        "requestMirror": {
            "backendRef": {"name": "web-canary", "port": 80},
            "percent": 30,
            "fraction": {"numerator": 3, "denominator": 10},
        },
    }
    message = _refused(routes, route(filters=[mirror]), "httproutes")
    assert "Only one of percent or fraction may be specified" in message
    del mirror["requestMirror"]["fraction"]
    assert _create(routes, route(filters=[mirror]), "httproutes")


def test_a_filter_type_without_its_field_is_refused(routes: client.ApiClient) -> None:
    message = _refused(routes, route(filters=[{"type": "RequestMirror"}]), "httproutes")
    assert "filter.requestMirror must be specified for RequestMirror filter.type" in message


def test_an_istio_duration_rule(api: client.ApiClient) -> None:
    create_crd(api, upstream.crd("istio/destinationrules.yaml"))
    rule: Obj = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "host": "web",
            "trafficPolicy": {"connectionPool": {"tcp": {"connectTimeout": "500us"}}},
        },
    }
    message = _refused(api, copy.deepcopy(rule), "destinationrules")
    assert "spec.trafficPolicy.connectionPool.tcp.connectTimeout: Invalid value" in message
    rule["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["connectTimeout"] = "5ms"
    assert _create(api, rule, "destinationrules")


def test_a_transition_rule_allows_creation_and_refuses_the_change(api: client.ApiClient) -> None:
    create_crd(api, upstream.crd("gateway-api/gatewayclasses.yaml"))
    body = {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "public"},
        "spec": {"controllerName": "example.com/gateway"},
    }
    made = custom(api).create_cluster_custom_object(GATEWAY, "v1", "gatewayclasses", body)
    assert made["spec"]["controllerName"] == "example.com/gateway"
    change = {"spec": {"controllerName": "example.com/other"}}
    status, answer = failure(
        custom(api).patch_cluster_custom_object, GATEWAY, "v1", "gatewayclasses", "public", change
    )
    assert status == 422
    assert 'spec.controllerName: Invalid value: "string": field is immutable' in answer["message"]
    same = {"metadata": {"labels": {"team": "web"}}}  # another field: the rule holds
    assert custom(api).patch_cluster_custom_object(GATEWAY, "v1", "gatewayclasses", "public", same)


SCHEMA: Obj = {
    "type": "object",
    "properties": {
        "ratio": {
            "type": "number",
            "x-kubernetes-validations": [{"rule": "self <= 1.0", "message": "at most 1"}],
        },
        "items": {
            "type": "array",
            "items": {"type": "string"},
            "x-kubernetes-validations": [
                {
                    "rule": "self.size() <= 2",
                    "messageExpression": "'has ' + string(self.size()) + ' items'",
                    "fieldPath": ".extra",
                    "reason": "FieldValueForbidden",
                }
            ],
        },
        "name": {
            "type": "string",
            "x-kubernetes-validations": [{"rule": "self.missing == 'x'"}],
        },
    },
}


def test_numbers_are_doubles_and_messages_and_paths_are_the_rules() -> None:
    assert rules.check({"ratio": 1}, SCHEMA) == []  # an int in a number field: 1.0
    (error,) = rules.check({"ratio": 2}, SCHEMA)
    assert str(error) == 'ratio: Invalid value: "number": at most 1'
    (error,) = rules.check({"items": ["a", "b", "c"]}, SCHEMA)
    assert str(error) == "items.extra: Forbidden: has 3 items"
    assert error.reason == "FieldValueForbidden"


def test_a_rule_that_fails_to_evaluate_is_an_error() -> None:
    (error,) = rules.check({"name": "web"}, SCHEMA)
    assert error.path == "name" and "Invalid value" in error.message
