"""The Knative wiring: the Triggers, the Broker, the Services, the timer worker, the sources.

Covered: the Triggers' (function, type) pairs equal ``functions.ROUTES``; every Trigger filters
one type of ``shared.events.Type`` for a Knative Service defined here, is named after its
function and type, and has no delivery of its own; the Broker's delivery (5 retries,
exponential backoff from PT0.2S, the dead-letter Service) is what the local broker gives every
Trigger; one cluster-local Service per function plus the dead-letter one, each running its own
function; REDIS_URL from the Secret, the Broker's URL for the functions; the timer worker runs
rq with a scheduler and no Kubernetes identity; the sources send only routed types to the
Broker and watch exactly the kinds Ferry needs.
"""

from __future__ import annotations

import re

import yaml

from functions import DEAD_LETTER, ROUTES, SERVICE_PREFIX
from local.broker.manifests import load_manifests
from local.broker.routes import DeliverySpec, build_routes
from shared.analysis.providers import job
from shared.events import Type
from tests.manifests.helpers import (
    BROKER_REF,
    DEADLETTER,
    KNATIVE,
    KSVC,
    NAMESPACE,
    Obj,
    _manifest,
    _of_kind,
    _services,
    _short,
    _triggers,
)


def test_triggers_equal_routes() -> None:
    routed = {(SERVICE_PREFIX + fn, str(t)) for fn, types in ROUTES.items() for t in types}
    pairs = [
        (t["spec"]["subscriber"]["ref"]["name"], t["spec"]["filter"]["attributes"]["type"])
        for t in _triggers()
    ]
    assert len(pairs) == len(set(pairs)), "two Triggers deliver the same type to one function"
    assert set(pairs) == routed


def test_every_trigger_filters_one_known_type_for_a_service_defined_here() -> None:
    known = {str(t) for t in Type}
    services = _services()
    for trigger in _triggers():
        name, spec = trigger["metadata"]["name"], trigger["spec"]
        assert spec["broker"] == "ferry", name
        assert set(spec["filter"]["attributes"]) == {"type"}, name
        assert spec["filter"]["attributes"]["type"] in known, name
        ref = spec["subscriber"]["ref"]
        assert (ref["apiVersion"], ref["kind"]) == (KSVC, "Service"), name
        assert ref.get("namespace", NAMESPACE) == NAMESPACE, name
        assert ref["name"] in services, f"{name} delivers to an undefined Service {ref['name']}"


def test_trigger_names_follow_the_convention_and_no_trigger_has_its_own_delivery() -> None:
    for trigger in _triggers():
        spec = trigger["spec"]
        function = spec["subscriber"]["ref"]["name"].removeprefix(SERVICE_PREFIX)
        expected = f"{SERVICE_PREFIX}{function}-{_short(spec['filter']['attributes']['type'])}"
        assert trigger["metadata"]["name"] == expected
        # Knative applies the Broker's spec.delivery to a Trigger without one.
        assert "delivery" not in spec, trigger["metadata"]["name"]


def test_broker_dead_letters_to_the_deadletter_service() -> None:
    (broker,) = _manifest("broker.yaml")
    assert broker["metadata"]["name"] == BROKER_REF["name"]
    delivery = broker["spec"]["delivery"]
    assert (delivery["retry"], delivery["backoffPolicy"], delivery["backoffDelay"]) == (
        5,
        "exponential",
        "PT0.2S",
    )
    assert delivery["deadLetterSink"]["ref"]["name"] in _services()
    assert delivery["deadLetterSink"]["ref"]["name"] == DEADLETTER
    assert re.fullmatch(r"PT\d+(\.\d+)?S", delivery["backoffDelay"])
    assert delivery["deadLetterSink"]["ref"] == {
        "apiVersion": KSVC,
        "kind": "Service",
        "name": DEADLETTER,
    }


def test_one_service_per_routed_function_plus_deadletter() -> None:
    services = _services()
    assert set(services) == {SERVICE_PREFIX + fn for fn in [*ROUTES, DEAD_LETTER]}
    for name, service in services.items():
        function = name.removeprefix(SERVICE_PREFIX)
        labels = service["metadata"]["labels"]
        assert labels["networking.knative.dev/visibility"] == "cluster-local", name
        template = service["spec"]["template"]
        (container,) = template["spec"]["containers"]
        assert [*container["command"], *container["args"]] == ["ferry", "serve", function]
        assert container["ports"] == [{"containerPort": 8080}], name
        annotations = template["metadata"]["annotations"]
        low = int(annotations["autoscaling.knative.dev/min-scale"])
        high = int(annotations["autoscaling.knative.dev/max-scale"])
        assert 0 <= low <= high and high >= 1, name


AUDIENCE = "ferry.dev/functions/"
SENDERS = f"system:serviceaccount:{NAMESPACE}:*"


def test_workloads_take_redis_url_from_the_secret_and_functions_the_broker_url() -> None:
    functions = [s["spec"]["template"]["spec"]["containers"][0] for s in _services().values()]
    (worker,) = _manifest("timer-worker.yaml")[0]["spec"]["template"]["spec"]["containers"]
    broker_url = f"http://broker-ingress.knative-eventing.svc.cluster.local/{NAMESPACE}/ferry"
    redis_url = {
        "name": "REDIS_URL",
        "valueFrom": {"secretKeyRef": {"name": "ferry-redis", "key": "url"}},
    }
    token_file = {"name": "FERRY_BROKER_TOKEN_FILE", "value": "/var/run/ferry/broker/token"}
    for container in functions:
        env = {e["name"]: e for e in container["env"]}
        function = container["args"][1]
        assert env == {
            "REDIS_URL": redis_url,
            "FERRY_BROKER_URL": {"name": "FERRY_BROKER_URL", "value": broker_url},
            "FERRY_BROKER_TOKEN_FILE": token_file,
            "FERRY_AUDIENCE": {
                "name": "FERRY_AUDIENCE",
                "value": f"ferry.dev/functions/{function}",
            },
            "FERRY_SENDERS": {
                "name": "FERRY_SENDERS",
                "value": f"system:serviceaccount:{NAMESPACE}:*",
            },
            # only the trigger acts on sealed webhooks: only it holds the key
            **(
                {
                    "FERRY_WEBHOOK_KEY_FILE": {
                        "name": "FERRY_WEBHOOK_KEY_FILE",
                        "value": "/var/run/ferry/webhook-key/key",
                    }
                }
                if function == "trigger"
                else {}
            ),
        }
    # A timer job carries the Broker's URL itself (shared.timers.fire): the worker needs Redis,
    # and a token for the Broker.
    assert worker["env"] == [redis_url, token_file]


def test_every_token_is_issued_for_its_receiver() -> None:
    """Sender identity: each Trigger asks for tokens for its function's audience, the dead
    letter sink names the dead-letter function's, and what Ferry posts itself carries a
    projected token for the Broker's."""
    broker_audience = f"eventing.knative.dev/broker/{NAMESPACE}/ferry"
    for trigger in _of_kind(_manifest("triggers.yaml"), "Trigger"):
        subscriber = trigger["spec"]["subscriber"]
        name = subscriber["ref"]["name"].removeprefix(SERVICE_PREFIX)
        assert subscriber["audience"] == f"ferry.dev/functions/{name}", trigger["metadata"]
    (broker,) = _manifest("broker.yaml")
    sink = broker["spec"]["delivery"]["deadLetterSink"]
    assert sink["audience"] == "ferry.dev/functions/deadletter"
    pods = [s["spec"]["template"]["spec"] for s in _services().values()]
    pods.append(_manifest("timer-worker.yaml")[0]["spec"]["template"]["spec"])
    for pod in pods:
        (volume,) = [v for v in pod["volumes"] if "projected" in v]
        (source,) = volume["projected"]["sources"]
        assert source["serviceAccountToken"]["audience"] == broker_audience


def test_timer_worker_runs_rq_with_scheduler_and_no_kubernetes_identity() -> None:
    (deployment,) = _manifest("timer-worker.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert [*container["command"], *container["args"]] == [
        "rq",
        "worker",
        "--with-scheduler",
        "--url",
        "$(REDIS_URL)",
        "ferry-timers",
    ]
    assert pod["serviceAccountName"] == "ferry-timer"
    assert pod["automountServiceAccountToken"] is False
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_sources_send_only_routed_types_to_the_broker() -> None:
    routed = {t for types in ROUTES.values() for t in types}
    docs = _manifest("sources.yaml")
    api_source, configs_source = _of_kind(docs, "ApiServerSource")
    (ping,) = _of_kind(docs, "PingSource")
    assert api_source["spec"]["mode"] == "Resource"
    assert {Type.RESOURCE_ADDED, Type.RESOURCE_UPDATED, Type.RESOURCE_DELETED} <= routed
    # ConfigMaps as references only: their data never travels through the Broker
    assert configs_source["spec"]["mode"] == "Reference"
    assert configs_source["spec"]["resources"] == [{"apiVersion": "v1", "kind": "ConfigMap"}]
    assert configs_source["spec"]["namespaceSelector"] == {}
    assert {Type.REFERENCE_ADDED, Type.REFERENCE_UPDATED, Type.REFERENCE_DELETED} <= routed
    assert Type.TICK in routed
    for source in (api_source, configs_source, ping):
        assert source["spec"]["sink"]["ref"] == BROKER_REF
    assert api_source["spec"]["namespaceSelector"] == {}, "an empty selector: all namespaces"
    assert {(r["apiVersion"], r["kind"]) for r in api_source["spec"]["resources"]} == {
        ("ferry.dev/v1alpha1", "Rollout"),
        ("apps/v1", "Deployment"),
        ("networking.k8s.io/v1", "Ingress"),
        ("v1", "Service"),
        ("ferry.dev/v1alpha1", "AnalysisRun"),
        ("ferry.dev/v1alpha1", "Experiment"),
        ("batch/v1", "Job"),
    }
    selectors = {r["kind"]: r.get("selector") for r in api_source["spec"]["resources"]}
    # Only the job provider's Jobs: the label it sets on them, whatever its value (the run).
    assert selectors.pop("Job") == {
        "matchExpressions": [{"key": job.RUN_LABEL, "operator": "Exists"}]
    }
    # Only the Services Ferry keeps (drift on them is healed at once).
    assert selectors.pop("Service") == {"matchLabels": {"app.kubernetes.io/managed-by": "ferry"}}
    assert set(selectors.values()) == {None}, "every other kind is watched whole"
    assert ping["spec"]["schedule"] == "* * * * *"
    assert ping["spec"]["contentType"] == "application/json"
    assert yaml.safe_load(ping["spec"]["data"]) == {"reason": "reconcile"}


def test_the_local_broker_gives_every_trigger_the_brokers_delivery() -> None:
    # Knative applies the Broker's spec.delivery to a Trigger without one; the local runtime's
    # broker, which routes by these very files, must do the same.
    def resolve(ref: Obj) -> str:
        return f"http://{ref['name']}.{ref['namespace']}.svc/"

    manifests = load_manifests([KNATIVE / "broker.yaml", KNATIVE / "triggers.yaml"])
    routes, _ = build_routes(manifests, resolve, NAMESPACE, None)
    (broker_routes,) = routes.values()
    assert len(broker_routes) == len(_triggers())
    for route in broker_routes:
        assert route.delivery == DeliverySpec(
            retry=5,
            backoff_policy="exponential",
            backoff_delay=0.2,
            dead_letter_sink=f"http://{DEADLETTER}.{NAMESPACE}.svc/",
            dead_letter_audience="ferry.dev/functions/deadletter",
        ), route.trigger
