"""Fields: every object uses only fields its kind declares, and the real schemas accept it.

Covered: built-in kinds against the official client's models, custom kinds against their CRD
schemas, including where upstream preserves unknown fields (where a real cluster would accept a
typo silently), and both checks catch a typo; Ferry's CRDs use only fields of a CRD; every
object of the installation is created in the simulator with ``fieldValidation=Strict`` and
keeps its fields; misspelled, mistyped and missing fields of Triggers, Services and sources are
rejected, except a misspelled field where upstream preserves unknown ones.
"""

from __future__ import annotations

from kubernetes.dynamic import DynamicClient

from tests.manifests.helpers import (
    KNATIVE,
    _builtin_errors,
    _contains,
    _create,
    _ferry_crds,
    _installed,
    _manifest,
    _of_kind,
    _rejection,
    _schema_of,
    _services,
    _triggers,
    _undeclared,
)
from tests.manifests.objects import _analysis_examples

# -- without a server ---------------------------------------------------------------------


def test_builtin_objects_use_only_fields_of_their_kind() -> None:
    builtin = [d for d in _installed() if "knative.dev" not in d["apiVersion"]]
    assert {d["kind"] for d in builtin} >= {"Namespace", "ClusterRole", "Deployment"}
    for doc in builtin:
        assert _builtin_errors(doc) == [], f"{doc['kind']} {doc['metadata']['name']}"


def test_builtin_field_check_catches_a_typo() -> None:
    (deployment,) = _manifest("timer-worker.yaml")
    deployment["spec"]["template"]["spec"]["serviceAcountName"] = "ferry-timer"
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = "worker"
    assert _builtin_errors(deployment) == [
        "spec.template.spec.containers[0].args: expected a list",
        "spec.template.spec.serviceAcountName: unknown field of V1PodSpec",
    ]


def test_custom_objects_use_only_declared_fields_even_where_upstream_preserves_unknown() -> None:
    custom = [d for d in _installed() if "knative.dev" in d["apiVersion"]]
    assert {d["kind"] for d in custom} == {
        "Service",
        "Broker",
        "Trigger",
        "ApiServerSource",
        "PingSource",
    }
    for doc in [*custom, *_manifest("examples/rollout.yaml"), *_analysis_examples()]:
        schema = _schema_of(doc["apiVersion"], doc["kind"])
        assert _undeclared(doc, schema) == [], f"{doc['kind']} {doc['metadata']['name']}"


def test_declared_field_check_catches_typos_below_preserved_fields() -> None:
    trigger = _triggers()[0]
    trigger["spec"]["delivery"] = {"retries": 5}
    trigger["spec"]["fitler"] = trigger["spec"].pop("filter")
    trigger["spec"]["filter"] = {"attributes": {"anything": "goes"}}
    schema = _schema_of(trigger["apiVersion"], "Trigger")
    assert _undeclared(trigger, schema) == ["spec.delivery.retries", "spec.fitler"]


def test_ferry_crds_use_only_fields_of_a_crd() -> None:
    for crd in _ferry_crds():
        assert _builtin_errors(crd) == [], crd["metadata"]["name"]


# -- the real schemas, in the simulator ---------------------------------------------------


def test_the_installation_is_accepted_by_the_real_schemas(cluster: DynamicClient) -> None:
    for doc in _installed():
        if doc["kind"] == "CustomResourceDefinition":
            continue  # installed by the fixture
        stored = _create(cluster, doc)
        where = f"{doc['kind']} {doc['metadata']['name']}"
        assert stored["metadata"].get("namespace") == doc["metadata"].get("namespace"), where
        if "spec" in doc:
            assert _contains(stored["spec"], doc["spec"]), f"{where} lost fields: {stored}"


def test_the_route_watch_sources_are_accepted_by_the_real_schemas(cluster: DynamicClient) -> None:
    """Each optional ``route-watch/`` file: its RBAC and its ApiServerSource (no field lost)."""
    files = sorted((KNATIVE / "route-watch").glob("*.yaml"))
    assert [p.name for p in files] == ["gatewayapi.yaml", "istio.yaml", "smi.yaml"]
    for path in files:
        for doc in _manifest(f"route-watch/{path.name}"):
            stored = _create(cluster, doc)
            if "spec" in doc:
                assert _contains(stored["spec"], doc["spec"]), f"{path.name} lost fields"


def test_a_misspelled_trigger_field_is_rejected(cluster: DynamicClient, scratch: str) -> None:
    trigger = _triggers()[0]
    trigger["metadata"] = {"name": "typo"}
    trigger["spec"]["subscriber"]["reff"] = trigger["spec"]["subscriber"].pop("ref")
    status, body = _rejection(cluster, trigger, scratch)
    assert status == 400
    assert 'unknown field "spec.subscriber.reff"' in body


def test_a_mistyped_trigger_field_is_rejected(cluster: DynamicClient, scratch: str) -> None:
    trigger = _triggers()[0]
    trigger["metadata"] = {"name": "mistyped"}
    trigger["spec"]["delivery"] = {"retry": "five"}
    status, body = _rejection(cluster, trigger, scratch)
    assert status == 422
    assert "spec.delivery.retry: Invalid value" in body


def test_a_misspelled_top_level_trigger_field_passes_the_real_schema(
    cluster: DynamicClient, scratch: str
) -> None:
    # Upstream marks Trigger.spec x-kubernetes-preserve-unknown-fields: a real cluster keeps
    # `spec.fitler` and the Trigger then has no filter at all (it receives every event).
    # Only the static declared-fields check above catches this.
    trigger = _triggers()[0]
    trigger["metadata"] = {"name": "fitler"}
    trigger["spec"]["fitler"] = trigger["spec"].pop("filter")
    stored = _create(cluster, trigger, scratch)
    assert "fitler" in stored["spec"] and "filter" not in stored["spec"]


def test_missing_required_fields_are_rejected(cluster: DynamicClient, scratch: str) -> None:
    source, _ = _of_kind(_manifest("sources.yaml"), "ApiServerSource")
    source["metadata"] = {"name": "no-resources"}
    del source["spec"]["resources"]
    status, body = _rejection(cluster, source, scratch)
    assert status == 422 and "spec.resources: Required value" in body

    service = _services()["ferry-detect"]
    service["metadata"] = {"name": "no-containers"}
    del service["spec"]["template"]["spec"]["containers"]
    status, body = _rejection(cluster, service, scratch)
    assert status == 422 and "spec.template.spec.containers: Required value" in body

    service = _services()["ferry-detect"]
    service["metadata"] = {"name": "no-secret-key"}
    env = service["spec"]["template"]["spec"]["containers"][0]["env"]
    del env[0]["valueFrom"]["secretKeyRef"]["key"]
    status, body = _rejection(cluster, service, scratch)
    assert status == 422
    assert "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key" in body
