"""The source emulators against the Kubernetes API simulator and a real HTTP sink.

Covered: ApiServerSource (Resource mode) sends add/update/delete with upstream's exact shape
(type, source = API URL, subject ``/apis/v1/...`` with the guessed plural, kind/name/namespace/
apiversion extensions, ceOverrides, data = whole object), watches only the source's namespace
and the resource's label selector, sends nothing for objects that existed before it started
(upstream) unless ``emit_existing``; recovery after the simulator compacted its history (410
Gone -> relist, gap reported with ``emit_existing``, lost without, watching resumes either way);
``namespaceSelector`` (labels, empty = all) with Reference mode data; a kind served only later
(CRD) is discovered once it appears; stop is prompt. PingSource ticks every interval, fires on
demand, and carries data/dataBase64, contentType and overrides. Pure shape helpers too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent
from kubernetes import client

from local import sources
from local.sim.cluster import Simulator
from local.sim.controllers import Settings
from shared import events
from tests.local.conftest import Answer, Receiver

FAST = Settings(pod_ready_delay=0.1, job_run_seconds=0.1, tick=0.01)


def core(api: client.ApiClient) -> Any:
    return client.CoreV1Api(api)


def apiserversource(spec: dict[str, Any], namespace: str = "ferry") -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "ApiServerSource",
        "metadata": {"name": "k8s", "namespace": namespace},
        "spec": {"mode": "Resource", "sink": {"uri": "http://unused"}, **spec},
    }


def namespace(api: client.ApiClient, name: str, **labels: str) -> None:
    core(api).create_namespace({"metadata": {"name": name, "labels": labels}})


def configmap(api: client.ApiClient, ns: str, name: str, **data: str) -> None:
    core(api).create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": data})


def subjects(receiver: Receiver) -> list[tuple[str, str]]:
    return [(e.get_type().rsplit(".", 1)[-1], e.get_subject() or "") for e in receiver.events]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(settings=FAST) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[client.ApiClient]:
    api_client = sim.api_client()
    yield api_client
    api_client.close()


@pytest.fixture
def sink() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


# -- ApiServerSource ----------------------------------------------------------------------


def test_changes_become_add_update_delete_events_shaped_as_upstream(
    sim: Simulator, api: client.ApiClient, sink: Receiver
) -> None:
    namespace(api, "ferry")
    namespace(api, "other")
    configmap(api, "ferry", "before")  # existed before the source: upstream sends nothing
    manifest = apiserversource(
        {
            "resources": [
                {"apiVersion": "v1", "kind": "ConfigMap"},
                {"apiVersion": "v1", "kind": "Secret", "selector": {"matchLabels": {"app": "web"}}},
            ],
            "ceOverrides": {"extensions": {"cluster": "local", "type": "ignored"}},
        }
    )
    with sources.ApiServerSourceEmulator(manifest, api, sink.url) as source:
        assert source.wait_synced(5)
        configmap(api, "ferry", "web-config", color="blue")
        configmap(api, "other", "elsewhere")  # another namespace: not watched
        core(api).patch_namespaced_config_map("web-config", "ferry", {"data": {"color": "red"}})
        core(api).delete_namespaced_config_map("web-config", "ferry")
        secret = {"metadata": {"name": "token", "labels": {"app": "web"}}, "data": {}}
        core(api).create_namespaced_secret("ferry", secret)
        core(api).create_namespaced_secret("ferry", {"metadata": {"name": "unlabelled"}})
        sink.wait_for(4)
        time.sleep(0.2)  # nothing else may arrive
    cm = "/apis/v1/namespaces/ferry/configmaps/web-config"
    assert sorted(subjects(sink)) == sorted(
        [
            ("add", cm),
            ("update", cm),
            ("delete", cm),
            ("add", "/apis/v1/namespaces/ferry/secrets/token"),
        ]
    )
    cm_events = [e for e in sink.events if e.get_subject() == cm]
    assert [e.get_type() for e in cm_events] == [
        "dev.knative.apiserver.resource.add",
        "dev.knative.apiserver.resource.update",
        "dev.knative.apiserver.resource.delete",
    ]
    added, updated, deleted = cm_events
    assert added.get_source() == sim.url
    attrs = added.get_attributes()
    assert (attrs["kind"], attrs["name"], attrs["namespace"], attrs["apiversion"]) == (
        "ConfigMap",
        "web-config",
        "ferry",
        "v1",
    )
    assert attrs["cluster"] == "local" and attrs["type"].endswith(".add")
    assert attrs["datacontenttype"] == "application/json"
    assert events.data(added)["data"] == {"color": "blue"}
    assert events.data(updated)["data"] == {"color": "red"}
    assert events.data(deleted)["metadata"]["name"] == "web-config"
    assert events.data(added)["kind"] == "ConfigMap"
    assert len({e.get_id() for e in sink.events}) == len(sink.events)  # a new id per send
    assert "ce-id" in sink.headers[0]  # binary content mode


def test_emit_existing_reports_objects_listed_at_start(
    api: client.ApiClient, sink: Receiver
) -> None:
    namespace(api, "ferry")
    configmap(api, "ferry", "before", a="1")
    manifest = apiserversource({"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}]})
    with sources.ApiServerSourceEmulator(manifest, api, sink.url, emit_existing=True) as source:
        assert source.wait_synced(5)
        (added,) = sink.wait_for(1)
    assert subjects(sink) == [("add", "/apis/v1/namespaces/ferry/configmaps/before")]
    assert events.data(added)["apiVersion"] == "v1"  # list items get apiVersion/kind back


def _churn(api: client.ApiClient, count: int) -> None:
    for i in range(count):
        core(api).create_namespaced_secret("ferry", {"metadata": {"name": f"churn-{i}"}})


def test_after_history_compaction_it_relists_and_reports_the_gap(
    sink: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="local.sources")
    gate = threading.Event()

    def respond(event: CloudEvent, n: int) -> Answer:
        gate.wait(5)  # hold the emulator between its list and its watch
        return 202, {}, b""

    sink.respond = respond
    with Simulator(settings=FAST, history=5) as sim:
        api = sim.api_client()
        namespace(api, "ferry")
        configmap(api, "ferry", "kept", v="1")
        configmap(api, "ferry", "removed")
        manifest = apiserversource({"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}]})
        source = sources.ApiServerSourceEmulator(manifest, api, sink.url, emit_existing=True)
        with source:
            sink.wait_for(1)  # the first listed add is being delivered; no watch yet
            core(api).patch_namespaced_config_map("kept", "ferry", {"data": {"v": "2"}})
            core(api).patch_namespaced_config_map("kept", "ferry", {"data": {"v": "3"}})
            core(api).delete_namespaced_config_map("removed", "ferry")
            configmap(api, "ferry", "created-in-gap")
            configmap(api, "ferry", "ephemeral")  # a relist never sees this one
            core(api).delete_namespaced_config_map("ephemeral", "ferry")
            _churn(api, 8)  # pushes the listed resourceVersion out of the history
            gate.set()
            sink.wait_for(5)
            configmap(api, "ferry", "after")
            sink.wait_for(6)
        api.close()
    base = "/apis/v1/namespaces/ferry/configmaps/"
    got = subjects(sink)
    assert sorted(got[:2]) == [("add", base + "kept"), ("add", base + "removed")]
    assert sorted(got[2:5]) == [
        ("add", base + "created-in-gap"),
        ("delete", base + "removed"),
        ("update", base + "kept"),
    ]
    assert got[5:] == [("add", base + "after")]
    updated = next(e for e in sink.events if e.get_type().endswith(".update"))
    assert events.data(updated)["data"] == {"v": "3"}  # the state at relist, once
    assert "410 Gone" in caplog.text


def test_after_history_compaction_upstream_mode_loses_the_gap_but_keeps_watching(
    sink: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="local.sources")
    gate = threading.Event()

    def respond(event: CloudEvent, n: int) -> Answer:
        if n == 1 and (event.get_subject() or "").endswith("/first"):
            gate.wait(5)  # hold the emulator until its (1 s) watch has ended server-side
        return 202, {}, b""

    sink.respond = respond
    with Simulator(settings=FAST, history=5) as sim:
        api = sim.api_client()
        namespace(api, "ferry")
        manifest = apiserversource({"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}]})
        source = sources.ApiServerSourceEmulator(manifest, api, sink.url, watch_timeout=1)
        with source:
            assert source.wait_synced(5)
            configmap(api, "ferry", "first")
            sink.wait_for(1)
            time.sleep(1.2)  # the watch's timeoutSeconds passes while the emulator is busy
            configmap(api, "ferry", "in-gap")
            _churn(api, 8)
            gate.set()
            time.sleep(0.2)
            configmap(api, "ferry", "after")
            sink.wait_for(2)
            time.sleep(0.1)
        api.close()
    base = "/apis/v1/namespaces/ferry/configmaps/"
    assert subjects(sink) == [("add", base + "first"), ("add", base + "after")]
    assert "410 Gone" in caplog.text


def test_namespace_selector_and_reference_mode(api: client.ApiClient, sink: Receiver) -> None:
    namespace(api, "team-a1", team="a")
    namespace(api, "team-a2", team="a")
    namespace(api, "team-b", team="b")
    picked = apiserversource(
        {
            "mode": "Reference",
            "resources": [{"apiVersion": "v1", "kind": "ConfigMap"}],
            "namespaceSelector": {"matchLabels": {"team": "a"}},
        }
    )
    everywhere = apiserversource(
        {"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}], "namespaceSelector": {}}
    )
    with Receiver() as all_sink:
        labelled = sources.ApiServerSourceEmulator(picked, api, sink.url)
        cluster = sources.ApiServerSourceEmulator(everywhere, api, all_sink.url)
        with labelled, cluster:
            assert labelled.wait_synced(5) and cluster.wait_synced(5)
            for ns in ("team-a1", "team-a2", "team-b"):
                configmap(api, ns, "cm")
            sink.wait_for(2)
            all_sink.wait_for(3)
            time.sleep(0.2)
        assert sorted(e.get_extension("namespace") for e in all_sink.events) == [
            "team-a1",
            "team-a2",
            "team-b",
        ]
    assert sorted(e.get_extension("namespace") for e in sink.events) == ["team-a1", "team-a2"]
    ref = sink.events[0]
    assert ref.get_type() == "dev.knative.apiserver.ref.add"
    assert events.data(ref) == {
        "kind": "ConfigMap",
        "namespace": ref.get_extension("namespace"),
        "name": "cm",
        "apiVersion": "v1",
    }


def test_a_kind_served_later_is_discovered_when_its_crd_appears(
    api: client.ApiClient, sink: Receiver
) -> None:
    namespace(api, "ferry")
    manifest = apiserversource(
        {"resources": [{"apiVersion": "ferry.dev/v1alpha1", "kind": "Gateway"}]}
    )
    with sources.ApiServerSourceEmulator(manifest, api, sink.url) as source:
        assert not source.wait_synced(0.2)
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gateways.ferry.dev"},
            "spec": {
                "group": "ferry.dev",
                "scope": "Namespaced",
                "names": {"plural": "gateways", "singular": "gateway", "kind": "Gateway"},
                "versions": [
                    {
                        "name": "v1alpha1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
        extensions: Any = client.ApiextensionsV1Api(api)  # plain dicts, as Ferry passes
        extensions.create_custom_resource_definition(crd)
        assert source.wait_synced(5)
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "ferry.dev",
            "v1alpha1",
            "ferry",
            "gateways",
            {"apiVersion": "ferry.dev/v1alpha1", "kind": "Gateway", "metadata": {"name": "gw"}},
        )
        (added,) = sink.wait_for(1)
        started = time.monotonic()
    assert time.monotonic() - started < 1.0  # stop interrupts the open watch
    # Upstream guesses the plural from the kind for the subject (and gets it wrong here).
    assert added.get_subject() == "/apis/ferry.dev/v1alpha1/namespaces/ferry/gatewaies/gw"


# -- PingSource ---------------------------------------------------------------------------


def pingsource(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": {"name": "reconcile", "namespace": "ferry"},
        "spec": {"schedule": "* * * * *", "sink": {"uri": "http://unused"}, **spec},
    }


def test_pingsource_ticks_every_interval(sink: Receiver) -> None:
    manifest = pingsource(
        contentType="application/json",
        data='{"reason": "tick"}',
        ceOverrides={"extensions": {"origin": "local"}},
    )
    with sources.PingSourceEmulator(manifest, sink.url, interval=0.1):
        ticks = sink.wait_for(3, timeout=2)
    assert len(ticks) >= 3
    assert all(t.get_type() == "dev.knative.sources.ping" for t in ticks)
    assert {t.get_source() for t in ticks} == {"/apis/v1/namespaces/ferry/pingsources/reconcile"}
    assert len({t.get_id() for t in ticks}) == len(ticks)
    assert events.data(ticks[0]) == {"reason": "tick"}
    assert ticks[0].get_extension("origin") == "local"
    assert sink.headers[0]["content-type"] == "application/json"
    gaps = [b - a for a, b in zip(sink.arrivals, sink.arrivals[1:], strict=False)]
    assert min(gaps) > 0.07


def test_pingsource_fires_on_demand_with_base64_data(sink: Receiver) -> None:
    encoded = "aGVsbG8="  # "hello"
    emulator = sources.PingSourceEmulator(
        pingsource(contentType="text/plain", dataBase64=encoded), sink.url, interval=60
    )
    assert emulator.fire_now()
    (tick,) = sink.wait_for(1)
    assert tick.get_data() == "hello" and tick.get_datacontenttype() == "text/plain"
    with pytest.raises(ValueError, match="not both"):
        sources.PingSourceEmulator(pingsource(data="x", dataBase64=encoded), sink.url, 1)
    closed = Receiver().start()
    url = closed.url
    closed.stop()
    assert not sources.PingSourceEmulator(pingsource(), url, 60).fire_now()


# -- shapes -------------------------------------------------------------------------------


def test_subjects_and_selectors_follow_upstream() -> None:
    assert sources.guess_plural("Rollout") == "rollouts"
    assert sources.guess_plural("Ingress") == "ingresses"
    assert sources.guess_plural("Policy") == "policies"
    assert sources.guess_plural("Endpoints") == "endpoints"
    assert sources.self_link("apps/v1", "Deployment", "ns", "web") == (
        "/apis/apps/v1/namespaces/ns/deployments/web"
    )
    assert sources.self_link("v1", "Secret", "ns", "s") == "/apis/v1/namespaces/ns/secrets/s"
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert sources.label_selector(selector) == "app=web,tier in (a,b),!canary"
