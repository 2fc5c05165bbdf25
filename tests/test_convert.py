"""``ferry convert``: Argo Rollouts' and Flagger's documented examples as Ferry's manifests.

Covered: each fixture in ``tests/fixtures/convert/`` (an upstream example, its source path and
commit in its header) converts to objects that pass their CRD's schema as the API server checks
it (pruning, OpenAPI validation, CEL rules) and Ferry's own parser (``shared.routers.checked``
for a Rollout, ``shared.analysis.validation``, ``shared.experiments.spec``); the fields that
matter are carried (steps, weights, pauses, analysis templates and arguments, queries and
thresholds, traffic routing, Service names, hooks); the report lists exactly the fields that were
not carried, each at its line; objects of other kinds pass through unchanged; what Flagger would
have generated (VirtualService, DestinationRules, HTTPRoute) passes the upstream Istio and Gateway
API CRDs; Flagger's built-in NGINX query is the one Ferry's data plane answers
(``local.demo.SUCCESS_RATE``). End to end, ``ferry convert`` as a subprocess: exit codes 0, 1
and 2, standard input, ``-o``, ``--report json``, a YAML error at ``file:line``, several files
read together. And by Hypothesis: any value under a known kind gives output or a report, never a
traceback, and never an object Ferry refuses.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.ferry import converting
from cli.ferry.converting import checks, documents
from cli.ferry.converting.documents import Document
from shared import models, routers, schemas
from shared.analysis import arguments, validation
from shared.experiments import spec as experiments

Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "convert"
FERRY = REPO / ".venv" / "bin" / "ferry"
UPSTREAM = REPO.parent / "shared" / "schemas"
"""Upstream CRDs beside the checkout (Istio, Gateway API): see ``../shared/schemas/README.md``."""
CHECKER = checks.Checker()


# -- helpers ---------------------------------------------------------------------------------


class Converted:
    """One conversion: the objects written, the report, and ways to look into both."""

    def __init__(self, *names: str) -> None:
        self.documents = [
            doc for name in names for doc in documents.read(name, (FIXTURES / name).read_text())
        ]
        outputs, self.report = converting.convert(self.documents, checker=CHECKER)
        self.outputs = outputs
        self.objects = [o.obj for o in outputs]

    def one(self, kind: str, name: str | None = None, api: str | None = None) -> Obj:
        found = [
            o
            for o in self.objects
            if o["kind"] == kind
            and (name is None or o["metadata"].get("name") == name)
            and (api is None or o["apiVersion"].startswith(api))
        ]
        assert len(found) == 1, (kind, name, [o["kind"] for o in self.objects])
        return found[0]

    def rollout(self) -> Obj:
        return self.one("Rollout", api="ferry.dev")

    @property
    def not_carried(self) -> set[tuple[str, str]]:
        """(source object, path) of every field not carried over."""
        return {(e.origin.label, e.path) for e in self.report.not_carried}

    def line(self, path: str) -> int:
        (entry,) = [e for e in self.report.entries if e.path == path]
        return entry.line

    def notes(self) -> str:
        return "\n".join(e.text() for e in self.report.notes)


def steps(rollout: Obj) -> list[Obj]:
    found: list[Obj] = rollout["spec"]["strategy"]["canary"]["steps"]
    return found


def accepted(obj: Obj) -> None:
    """``obj`` passes its CRD's schema (as the API server checks it) and Ferry's parser."""
    schema = CHECKER.schemas[obj["kind"]]
    kept = copy.deepcopy(obj)
    schemas.apply_defaults(kept, schema)
    assert schemas.prune(kept, schema) == [], obj
    assert [str(e) for e in schemas.validate(kept, schema)] == [], obj
    assert [str(e) for e in schemas.check_rules(kept, schema)] == [], obj
    if obj["kind"] == "Rollout":
        routers.checked(obj)
    elif obj["kind"] == "Experiment":
        experiments.parse(obj)
    elif obj["kind"] == "AnalysisRun":
        validation.parse_run(obj)
    else:
        validation.parse_template(obj)


def upstream_schema(path: str, kind: str, version: str) -> schemas.Schema:
    if not UPSTREAM.is_dir():
        pytest.fail(f"the upstream CRDs are missing: expected them in {UPSTREAM}")
    for crd in yaml.safe_load_all((UPSTREAM / path).read_text()):
        if crd and crd["spec"]["names"]["kind"] == kind:
            schema = schemas.schema_for_version(crd, version)
            assert schema is not None
            return schema
    raise AssertionError(f"no {kind} in {path}")


def upstream_valid(obj: Obj, path: str) -> None:
    """``obj`` (an Istio or Gateway API object) passes the upstream CRD's schema."""
    version = obj["apiVersion"].rpartition("/")[2]
    schema = upstream_schema(path, obj["kind"], version)
    kept = copy.deepcopy(obj)
    schemas.apply_defaults(kept, schema)
    assert schemas.prune(kept, schema) == [], obj
    assert [str(e) for e in schemas.validate(kept, schema)] == [], obj
    assert [str(e) for e in schemas.check_rules(kept, schema)] == [], obj


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


ALL = sorted(p.name for p in FIXTURES.glob("*.yaml"))


# -- every fixture ---------------------------------------------------------------------------


def test_every_fixture_names_its_upstream_source() -> None:
    assert len(ALL) >= 16
    for name in ALL:
        head = (FIXTURES / name).read_text().splitlines()[0]
        assert head.startswith("# Upstream: argoproj/argo-rollouts ") or head.startswith(
            "# Upstream: fluxcd/flagger "
        ), name


@pytest.mark.parametrize("name", ALL)
def test_everything_written_is_accepted_and_the_rest_passes_through(name: str) -> None:
    done = Converted(name)
    sources = {(d.api_version, d.kind, d.name): d for d in done.documents}
    for output in done.outputs:
        if output.obj.get("apiVersion") == models.API_VERSION:
            accepted(output.obj)
            assert output.source is not None
        elif output.source is None:
            original = sources[
                (output.obj["apiVersion"], output.obj["kind"], output.obj["metadata"]["name"])
            ]
            if "workload-ref" not in name:
                assert output.obj == original.obj  # unchanged
    converted = {(o.kind, o.name) for o, _ in done.report.converted}
    for doc in done.documents:
        group = doc.api_version.split("/")[0]
        if group in ("argoproj.io", "flagger.app"):
            assert (doc.kind, doc.name) in converted
    text = "\n".join(done.report.lines())
    for entry in done.report.entries:
        assert entry.line >= 1 and entry.origin.file == name
        assert entry.text() in text


# -- Argo Rollouts ---------------------------------------------------------------------------


def test_argo_canary_steps_and_workload() -> None:
    done = Converted("argo-canary.yaml")
    rollout = done.rollout()
    assert steps(rollout) == [
        {"setWeight": 20},
        {"pause": {}},
        {"setWeight": 40},
        {"pause": {"duration": 40}},
        {"setWeight": 60},
        {"pause": {"duration": 20}},
        {"setWeight": 80},
        {"pause": {"duration": 20}},
    ]
    deployment = done.one("Deployment", "rollout-canary")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "rollout-canary"}}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "argoproj/rollouts-demo:blue"
    )
    assert rollout["spec"]["targetRef"]["name"] == "rollout-canary"
    assert rollout["spec"]["service"] == {
        "name": "rollout-canary",
        "port": 8080,
        "targetPort": 8080,
    }
    assert rollout["spec"]["revisionHistoryLimit"] == 2
    assert "trafficRouting" not in rollout["spec"]  # Argo's basic canary: replica shares
    assert done.not_carried == set()
    assert "spec.service.port 8080" in done.notes()


def test_argo_blue_green_keeps_its_services() -> None:
    done = Converted("argo-bluegreen.yaml")
    spec = done.rollout()["spec"]
    assert spec["strategy"] == {
        "blueGreen": {
            "activeService": "rollout-bluegreen-active",
            "previewService": "rollout-bluegreen-preview",
            "autoPromotionEnabled": False,
        }
    }
    assert spec["service"] == {"port": 80, "targetPort": 8080}  # the active Service's
    assert models.parse(done.rollout()).blue_green is not None
    assert {o["metadata"]["name"] for o in done.objects if o["kind"] == "Service"} == {
        "rollout-bluegreen-active",
        "rollout-bluegreen-preview",
    }
    assert done.not_carried == set()


def test_argo_analysis_templates_and_their_use() -> None:
    done = Converted("argo-analysis.yaml")
    canary = done.rollout()["spec"]["strategy"]["canary"]
    assert canary["analysis"] == {
        "templates": [{"templateName": "success-rate"}],
        "args": [{"name": "service-name", "value": "guestbook-svc.default.svc.cluster.local"}],
        "startingStep": 2,
    }
    assert canary["steps"][-1]["analysis"]["templates"] == [
        {"templateName": "args-example"},
        {"templateName": "always-pass", "clusterScope": True},
    ]
    assert {"name": "latest-hash", "valueFrom": {"podTemplateHashValue": "Latest"}} in canary[
        "steps"
    ][-1]["analysis"]["args"]
    source = yaml.safe_load_all((FIXTURES / "argo-analysis.yaml").read_text())
    rate = next(d for d in source if d["metadata"]["name"] == "success-rate")
    metric = done.one("AnalysisTemplate", "success-rate")["spec"]["metrics"][0]
    assert metric["provider"]["prometheus"] == rate["spec"]["metrics"][0]["provider"]["prometheus"]
    assert (metric["interval"], metric["successCondition"], metric["failureLimit"]) == (
        "5m",
        "result >= 0.95",
        3,
    )
    web = done.one("AnalysisTemplate", "args-example")["spec"]
    assert web["metrics"][0]["provider"]["web"]["url"] == (
        "{{ args.api-url }}?service={{ args.service-name }}"
    )
    assert {
        "name": "api-token",
        "valueFrom": {"secretKeyRef": {"name": "token-secret", "key": "apiToken"}},
    } in web["args"]
    job = done.one("ClusterAnalysisTemplate", "always-pass")["spec"]["metrics"][0]
    assert job["provider"]["job"]["spec"]["backoffLimit"] == 0
    assert done.not_carried == set()
    assert "spec.service.port 80" in done.notes()  # no Service, no container port: said so


def test_argos_old_max_failures_is_failure_limit() -> None:
    done = Converted("argo-analysis-templates.yaml")
    for name in ("pass", "random-fail"):
        metric = done.one("AnalysisTemplate", name)["spec"]["metrics"][0]
        assert metric["failureLimit"] == 1 and "maxFailures" not in metric
    assert done.not_carried == set()
    assert "old name of failureLimit" in done.notes()


def test_argo_analysis_run() -> None:
    done = Converted("argo-analysisrun.yaml")
    run = done.one("AnalysisRun")
    assert [m["name"] for m in run["spec"]["metrics"]] == ["success-rate", "error-rate"]
    assert run["spec"]["args"] == [
        {"name": "service-name", "value": "guestbook-svc.default.svc.cluster.local"}
    ]
    assert done.not_carried == set()


def test_argo_experiment() -> None:
    done = Converted("argo-experiment.yaml")
    spec = done.one("Experiment")["spec"]
    assert (spec["duration"], spec["progressDeadlineSeconds"]) == ("20m", 30)
    assert [t["name"] for t in spec["templates"]] == ["purple", "orange"]
    assert spec["templates"][1]["minReadySeconds"] == 10
    assert [a["name"] for a in spec["analyses"]] == ["purple", "orange", "compare-results"]
    assert spec["analyses"][2]["requiredForCompletion"] is True
    assert done.not_carried == set()


def test_argo_workload_ref_gives_the_deployment_its_replicas() -> None:
    done = Converted("argo-workload-ref.yaml")
    assert done.rollout()["spec"]["targetRef"]["name"] == "rollout-ref-deployment"
    deployment = done.one("Deployment", "rollout-ref-deployment")
    assert deployment["spec"]["replicas"] == 5  # Argo's users scale it to 0; Ferry runs it
    assert done.not_carried == set()
    assert "replicas 0 -> 5" in done.notes()


def test_argo_fields_ferry_lacks_are_reported_exactly() -> None:
    done = Converted("argo-alb-experiment.yaml")
    rollout = "Rollout alb-rollout"
    assert done.not_carried == {
        (rollout, "spec.strategy.canary.canaryService"),
        (rollout, "spec.strategy.canary.trafficRouting.alb"),
        (rollout, "spec.strategy.canary.steps[1].experiment.templates[0].weight"),
    }
    assert done.line("spec.strategy.canary.trafficRouting.alb") == 90
    spec = done.rollout()["spec"]
    assert spec["service"]["name"] == "alb-rollout-stable"  # the stableService the routes use
    assert steps(done.rollout())[1] == {
        "experiment": {"templates": [{"name": "experiment-alb", "specRef": "canary"}]}
    }


def test_argo_notifications_in_ferrys_domain() -> None:
    done = Converted("argo-notifications.yaml")
    annotations = done.rollout()["metadata"]["annotations"]
    assert annotations == {
        f"notifications.ferry.dev/subscribe.{t}.slack": "argoproj-deployments-notifications"
        for t in ("on-rollout-completed", "on-rollout-step-completed", "on-rollout-updated")
    }
    prefix = "metadata.annotations['notifications.argoproj.io/subscribe."
    assert done.not_carried == {
        ("Rollout rollout-canary", f"{prefix}on-scaling-replica-set.slack']"),
        ("Rollout rollout-canary", f"{prefix}on-purple.slack']"),
    }
    # the input's Service that selects the Pods (and that the Ingress routes to) is the apex
    assert done.rollout()["spec"]["service"] == {
        "name": "rollouts-canary",
        "port": 8080,
        "targetPort": 8080,
    }


def test_argo_experiment_template_selectors_are_reported() -> None:
    done = Converted("argo-canary-preview.yaml")
    at = "spec.strategy.canary.steps[0].experiment.templates[0]"
    assert done.not_carried == {
        ("Rollout rollout-canary-preview", f"{at}.selector"),
        ("Rollout rollout-canary-preview", f"{at}.metadata"),
    }
    assert steps(done.rollout()) == [
        {"experiment": {"templates": [{"name": "canary-preview", "specRef": "canary"}]}}
    ]


def test_argo_istio_subsets() -> None:
    done = Converted("argo-istio-subset.yaml")
    spec = done.rollout()["spec"]
    assert spec["trafficRouting"] == {
        "istio": {
            "virtualService": {"name": "istio-subset-split-vsvc", "routes": ["primary"]},
            "destinationRule": {
                "name": "istio-subset-split-destrule",
                "canarySubsetName": "canary",
                "stableSubsetName": "stable",
            },
        }
    }
    assert spec["service"] == {"name": "istio-subset-split", "port": 80, "targetPort": "http"}
    assert done.not_carried == set()


# -- Flagger ---------------------------------------------------------------------------------


def weights_and_pauses(rollout: Obj) -> list[tuple[int, str]]:
    found = steps(rollout)
    assert all("setWeight" in s for s in found[::2]) and all("pause" in s for s in found[1::2])
    return [
        (w["setWeight"], p["pause"]["duration"])
        for w, p in zip(found[::2], found[1::2], strict=True)
    ]


def test_flagger_nginx_podinfo_canary() -> None:
    done = Converted("flagger-nginx.yaml")
    rollout = done.rollout()
    spec = rollout["spec"]
    assert weights_and_pauses(rollout) == [(w, "10s") for w in range(5, 55, 5)]
    assert spec["strategy"]["canary"]["analysis"] == {
        "templates": [{"templateName": "podinfo-analysis"}]
    }
    assert spec["trafficRouting"] == {"nginx": {"stableIngress": "podinfo"}}
    assert spec["service"] == {"name": "podinfo", "port": 80, "targetPort": 9898}
    assert (spec["progressDeadlineSeconds"], spec["progressDeadlineAbort"]) == (60, True)
    assert spec["webhooks"] == [
        {
            "name": "acceptance-test",
            "type": "pre-rollout",
            "url": "http://flagger-loadtester.test/",
            "timeout": "25s",
            "interval": "10s",
            "failureLimit": 10,
            "metadata": {
                "type": "bash",
                "cmd": "curl -sd 'test' http://podinfo-canary/token | grep token",
            },
        }
    ]
    template = done.one("AnalysisTemplate", "podinfo-analysis")
    (metric,) = template["spec"]["metrics"]
    assert {k: v for k, v in metric.items() if k != "provider"} == {
        "name": "request-success-rate",
        "interval": "10s",  # a check every analysis interval,
        "initialDelay": "10s",  # the first one interval in,
        "failureLimit": 9,  # the tenth failure rolls back (threshold 10)
        "consecutiveErrorLimit": 9,
        "noDataPolicy": "Failed",  # Flagger: "no values found" is a failed check
        "thresholdRange": {"min": 99},
    }
    assert template["spec"]["args"] == [
        {"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {
            "name": "ingress",
            "valueFrom": {"fieldRef": {"fieldPath": "spec.trafficRouting.nginx.stableIngress"}},
        },
    ]
    prometheus = metric["provider"]["prometheus"]
    assert prometheus["address"] == "http://prometheus:9090"  # Flagger's -metrics-server default
    # Flagger's built-in query, as Ferry's data plane answers it (local.demo, window 30s there)
    from local import demo

    rendered = arguments.render(prometheus["query"], {"namespace": "default", "ingress": "podinfo"})
    assert squash(rendered) == squash(demo.SUCCESS_RATE.replace("[30s]", "[1m]"))
    # Ferry starts a run of it: the arguments come from the Rollout, as Ferry resolves fieldRefs
    parsed = validation.parse_template(template)
    run = arguments.run_spec(parsed, field=lambda path: arguments.field_value(rollout, path))
    values = {a["name"]: a["value"] for a in run["args"]}
    assert values == {"namespace": "test", "ingress": "podinfo"}
    (measured,) = validation.metrics(parsed, values)
    assert 'namespace="test",' in measured.config["query"]
    assert done.not_carried == {
        ("Canary test/podinfo", "spec.analysis.webhooks[0].timeout"),
        ("Canary test/podinfo", "spec.analysis.webhooks[1]"),
        ("Canary test/podinfo", "spec.autoscalerRef"),
    }
    assert done.line("spec.autoscalerRef") == 123
    # the Deployment and the Ingress pass through unchanged
    source = {d.kind: d.obj for d in done.documents}
    assert done.one("Ingress") == source["Ingress"]
    assert done.one("Deployment") == source["Deployment"]


def test_flagger_istio_canary_writes_what_flagger_generated() -> None:
    done = Converted("flagger-istio.yaml")
    rollout = done.rollout()
    assert weights_and_pauses(rollout) == [(w, "1m") for w in (10, 20, 30, 40, 50)]
    assert rollout["spec"]["trafficRouting"] == {"istio": {"virtualService": {"name": "podinfo"}}}
    service = done.one("VirtualService", "podinfo")
    assert service["spec"]["hosts"] == ["app.example.com", "podinfo"]
    assert service["spec"]["gateways"] == ["public-gateway.istio-system.svc.cluster.local", "mesh"]
    (route,) = service["spec"]["http"]
    assert route["retries"] == {
        "attempts": 3,
        "perTryTimeout": "1s",
        "retryOn": "gateway-error,connect-failure,refused-stream",
    }
    assert route["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 100}]
    upstream_valid(service, "istio/virtualservices.yaml")
    for name in ("podinfo-primary", "podinfo-canary"):
        rule = done.one("DestinationRule", name)
        assert rule["spec"] == {"host": name, "trafficPolicy": {"tls": {"mode": "DISABLE"}}}
        upstream_valid(rule, "istio/destinationrules.yaml")
    metrics = done.one("AnalysisTemplate", "podinfo-analysis")["spec"]["metrics"]
    assert [(m["name"], m.get("thresholdRange")) for m in metrics] == [
        ("request-success-rate", {"min": 99}),
        ("request-duration", {"max": 500}),
    ]
    queries = [m["provider"]["prometheus"]["query"] for m in metrics]
    assert "istio_requests_total" in queries[0] and "}[1m]" in queries[0]
    assert "istio_request_duration_milliseconds_bucket" in queries[1] and "}[30s]" in queries[1]
    assert all('destination_workload=~"{{args.target}}"' in q for q in queries)
    assert done.not_carried == {
        ("Canary test/podinfo", "spec.analysis.webhooks[0].timeout"),
        ("Canary test/podinfo", "spec.analysis.webhooks[1]"),
        ("Canary test/podinfo", "spec.autoscalerRef"),
    }


def test_flagger_blue_green_by_iterations() -> None:
    done = Converted("flagger-bluegreen.yaml")
    spec = done.rollout()["spec"]
    assert spec["strategy"] == {
        "blueGreen": {
            # Flagger's canary Service: its load tests still reach the new revision
            "previewService": "podinfo-canary",
            "prePromotionAnalysis": {"templates": [{"templateName": "podinfo-analysis"}]},
        }
    }
    assert "trafficRouting" not in spec  # provider kubernetes: the active Service's selector
    metrics = done.one("AnalysisTemplate", "podinfo-analysis")["spec"]["metrics"]
    for metric in metrics:
        assert (metric["count"], metric["interval"], metric["failureLimit"]) == (10, "30s", 1)
    # Flagger's HTTP duration is in seconds and it multiplies by 1000: the query does here
    assert metrics[1]["provider"]["prometheus"]["query"].rstrip().endswith("* 1000")
    assert done.not_carried == {
        ("Canary test/podinfo", "spec.service.portDiscovery"),
        ("Canary test/podinfo", "spec.analysis.webhooks[1]"),
        ("Canary test/podinfo", "spec.autoscalerRef"),
    }


def test_flagger_traffic_mirroring_then_promotion() -> None:
    done = Converted("flagger-istio-mirror.yaml")
    assert steps(done.rollout()) == [
        {"setMirrorRoute": {"name": "mirror", "percentage": 100}},
        {"analysis": {"templates": [{"templateName": "podinfo-analysis"}]}},
    ]
    for metric in done.one("AnalysisTemplate", "podinfo-analysis")["spec"]["metrics"]:
        assert (metric["count"], metric["failureLimit"]) == (10, 4)
    assert done.not_carried == {
        ("Canary test/podinfo", "spec.analysis.webhooks[0].timeout"),
        ("Canary test/podinfo", "spec.analysis.webhooks[1]"),
        ("Canary test/podinfo", "spec.autoscalerRef"),
    }
    # nginx cannot mirror: the step Ferry would refuse is reported, the rest converted
    text = (FIXTURES / "flagger-istio-mirror.yaml").read_text()
    text = text.replace("spec:\n", "spec:\n  provider: nginx\n  ingressRef: {name: podinfo}\n", 1)
    outputs, report = converting.convert(documents.read("m.yaml", text), checker=CHECKER)
    assert "spec.analysis.mirror" in {e.path for e in report.not_carried}
    rollout = next(o.obj for o in outputs if o.obj["kind"] == "Rollout")
    assert steps(rollout) == [{"analysis": {"templates": [{"templateName": "podinfo-analysis"}]}}]


def test_flagger_ab_testing_on_istio() -> None:
    done = Converted("flagger-ab-istio.yaml")
    assert steps(done.rollout()) == [
        {
            "setHeaderRoute": {
                "name": "match-0",
                "match": [{"headerName": "user-agent", "headerValue": {"regex": ".*Firefox.*"}}],
            }
        },
        {"setCookieRoute": {"name": "match-1", "cookieName": "type", "value": "insider"}},
        {"analysis": {"templates": [{"templateName": "podinfo-analysis"}]}},
    ]
    for metric in done.one("AnalysisTemplate", "podinfo-analysis")["spec"]["metrics"]:
        assert (metric["count"], metric["interval"], metric["failureLimit"]) == (10, "1m", 1)
    assert done.not_carried == {
        ("Canary test/podinfo", "spec.analysis.webhooks[0]"),
        ("Canary test/podinfo", "spec.autoscalerRef"),
    }


def test_flagger_ab_testing_on_nginx() -> None:
    done = Converted("flagger-ab-nginx.yaml")
    assert steps(done.rollout()) == [
        {
            "setHeaderRoute": {
                "name": "match-0",
                "match": [{"headerName": "x-canary", "headerValue": {"exact": "insider"}}],
            }
        },
        # ingress-nginx's canary-by-cookie: the cookie canary set to always
        {"setCookieRoute": {"name": "match-1", "cookieName": "canary"}},
        {"analysis": {"templates": [{"templateName": "podinfo-analysis"}]}},
    ]
    assert done.not_carried == {("Canary test/podinfo", "spec.analysis.webhooks[0]")}


def test_flagger_metric_templates_take_arguments() -> None:
    done = Converted("flagger-metrictemplate.yaml")
    template = done.one("AnalysisTemplate", "not-found-percentage")
    assert template["metadata"]["namespace"] == "istio-system"
    assert template["spec"]["args"] == [
        {"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "target", "valueFrom": {"fieldRef": {"fieldPath": "spec.targetRef.name"}}},
        {"name": "interval"},  # the query's window: the Rollout gives it
    ]
    (metric,) = template["spec"]["metrics"]
    query = metric["provider"]["prometheus"]["query"]
    assert 'destination_workload="{{args.target}}"' in query and "}[{{args.interval}}]" in query
    assert metric["provider"]["prometheus"]["address"] == "http://prometheus.istio-system:9090"
    latency = done.one("AnalysisTemplate", "my-metric")
    assert {"name": "variables.direction"} in latency["spec"]["args"]
    assert (
        'direction="{{args.variables.direction}}"'
        in (latency["spec"]["metrics"][0]["provider"]["prometheus"]["query"])
    )
    assert done.not_carried == set()


def test_flagger_gateway_api_with_metric_templates_in_another_namespace() -> None:
    done = Converted("flagger-gatewayapi.yaml")
    route = done.one("HTTPRoute", "podinfo")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1beta1"
    assert route["spec"]["parentRefs"] == [{"name": "contour", "namespace": "projectcontour"}]
    assert route["spec"]["hostnames"] == ["localproject.contour.io"]
    assert route["spec"]["rules"] == [
        {"backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": 100}]}
    ]
    upstream_valid(route, "gateway-api/httproutes.yaml")
    assert done.rollout()["spec"]["trafficRouting"] == {"gatewayAPI": {"httpRoute": "podinfo"}}
    metrics = done.one("AnalysisTemplate", "podinfo-analysis")["spec"]["metrics"]
    assert [(m["name"], m["thresholdRange"]) for m in metrics] == [
        ("error-rate", {"max": 1}),
        ("latency", {"max": 0.5}),
    ]
    error_rate = metrics[0]["provider"]["prometheus"]
    assert error_rate["address"] == "http://flagger-prometheus:9090"  # the MetricTemplate's
    assert "envoy_response_code!~" in error_rate["query"] and "}[1m]" in error_rate["query"]
    assert "}[30s]" in metrics[1]["provider"]["prometheus"]["query"]
    assert '"{{args.namespace}}_{{args.target}}-canary' in error_rate["query"]
    # the MetricTemplates are written too, as AnalysisTemplates of their own
    assert done.one("AnalysisTemplate", "latency")["metadata"]["namespace"] == "flagger-system"
    assert done.not_carried == {
        ("Canary test/podinfo", "spec.analysis.webhooks[1]"),
        ("Canary test/podinfo", "spec.autoscalerRef"),
    }


def test_flagger_webhooks_of_every_type() -> None:
    done = Converted("flagger-webhooks.yaml")
    hooks = {h["name"]: h for h in done.rollout()["spec"]["webhooks"]}
    assert {n: h["type"] for n, h in hooks.items()} == {
        "start-gate": "confirm-rollout",
        "helm-test": "pre-rollout",
        "promotion-gate": "confirm-promotion",
        "notify": "post-rollout",
        "rollback-gate": "rollback",
    }
    assert hooks["helm-test"]["timeout"] == "25s" and hooks["helm-test"]["failureLimit"] == 10
    assert hooks["rollback-gate"]["interval"] == "10s"
    assert hooks["notify"]["metadata"] == {"some": "message"}
    assert done.not_carried == {
        ("Canary test/podinfo", "spec.analysis.webhooks[1].timeout"),  # 3m: Ferry waits 25s
        ("Canary test/podinfo", "spec.analysis.webhooks[2]"),  # rollout (load test)
        ("Canary test/podinfo", "spec.analysis.webhooks[6]"),  # event
    }
    assert "start-gate (a Kubernetes name)" in done.notes()


def test_a_canary_whose_metric_template_is_not_in_the_input() -> None:
    text = (FIXTURES / "flagger-gatewayapi.yaml").read_text()
    canary = text[text.index("kind: Canary") - len("apiVersion: flagger.app/v1beta1\n") :]
    docs = documents.read("canary.yaml", canary)
    outputs, report = converting.convert(docs, checker=CHECKER)
    paths = {e.path for e in report.not_carried}
    assert "spec.analysis.metrics[0].templateRef" in paths
    assert "spec.analysis.metrics[1].templateRef" in paths
    kinds = [o.obj["kind"] for o in outputs]
    assert "AnalysisTemplate" not in kinds  # no metric left: no analysis, nothing invented
    rollout = next(o.obj for o in outputs if o.obj["kind"] == "Rollout")
    assert "analysis" not in rollout["spec"]["strategy"]["canary"]
    accepted(rollout)


# -- the command -----------------------------------------------------------------------------


def ferry(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FERRY), "convert", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_exit_0_when_everything_is_carried() -> None:
    done = ferry(str(FIXTURES / "argo-canary.yaml"))
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout)]
    assert kinds == ["Deployment", "Rollout"]
    assert "everything carried over" in done.stderr
    assert "# ferry convert: from argoproj.io/v1alpha1 Rollout rollout-canary" in done.stdout


def test_exit_1_with_every_field_not_carried_on_stderr() -> None:
    done = ferry("tests/fixtures/convert/flagger-nginx.yaml")
    assert done.returncode == 1
    assert (
        "tests/fixtures/convert/flagger-nginx.yaml:123: Canary test/podinfo: spec.autoscalerRef: "
        "not carried: " in done.stderr
    )
    assert done.stderr.count(": not carried: ") == 3
    assert [d["kind"] for d in yaml.safe_load_all(done.stdout)] == [
        "Deployment",
        "Ingress",
        "AnalysisTemplate",
        "Rollout",
    ]


def test_standard_input_output_file_and_json_report(tmp_path: Path) -> None:
    out = tmp_path / "ferry.yaml"
    text = (FIXTURES / "flagger-webhooks.yaml").read_text()
    done = ferry("-", "-o", str(out), "--report", "json", stdin=text)
    assert done.returncode == 1
    assert done.stdout == ""
    assert [d["kind"] for d in yaml.safe_load_all(out.read_text())] == [
        "AnalysisTemplate",
        "Rollout",
    ]
    report = json.loads(done.stderr)
    assert {e["path"] for e in report["notCarried"]} == {
        "spec.analysis.webhooks[1].timeout",
        "spec.analysis.webhooks[2]",
        "spec.analysis.webhooks[6]",
    }
    (first, *_) = report["notCarried"]
    assert first["object"] == {
        "file": "<stdin>",
        "line": 5,
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "namespace": "test",
        "name": "podinfo",
    }
    assert isinstance(first["line"], int) and first["reason"]
    assert report["converted"][0]["into"] == [
        "AnalysisTemplate podinfo-analysis",
        "Rollout podinfo",
    ]


def test_files_are_read_together(tmp_path: Path) -> None:
    """The Deployment a workloadRef names is found in another file."""
    source = (FIXTURES / "argo-workload-ref.yaml").read_text()
    deployment, rollout = source.split("\n---\n")
    (tmp_path / "deployment.yaml").write_text(deployment)
    (tmp_path / "rollout.yaml").write_text(rollout)
    done = ferry(str(tmp_path / "deployment.yaml"), str(tmp_path / "rollout.yaml"))
    assert done.returncode == 0, done.stderr
    objs = list(yaml.safe_load_all(done.stdout))
    assert [o["kind"] for o in objs] == ["Deployment", "Rollout"]
    assert objs[0]["spec"]["replicas"] == 5


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("apiVersion: v1\nkind: Service\nmetadata:\n  name: [a\n", 5, "not valid YAML"),
        (
            "apiVersion: v1\nkind: Service\n---\n- just\n- a list\n",
            4,
            "must be a Kubernetes object",
        ),
        ("kind: Service\nmetadata: {name: x}\n", 1, "no apiVersion"),
        ("a: b\n  c: d\n", 2, "not valid YAML"),
    ],
)
def test_exit_2_where_the_input_cannot_be_read(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    done = ferry(str(FIXTURES / "argo-canary.yaml"), str(bad))
    assert done.returncode == 2
    assert f"{bad}:{line}: " in done.stderr and says in done.stderr
    assert done.stdout == ""  # nothing half-written


def test_flaggers_defaults_can_be_given() -> None:
    """A Canary without provider takes --mesh-provider; its built-in metrics ask
    --metrics-server (Flagger's -mesh-provider and -metrics-server)."""
    done = ferry(
        "tests/fixtures/convert/flagger-istio.yaml",
        "--mesh-provider",
        "linkerd",
        "--metrics-server",
        "http://prometheus.linkerd-viz:9090",
    )
    objs = {o["kind"]: o for o in yaml.safe_load_all(done.stdout)}
    assert objs["Rollout"]["spec"]["trafficRouting"] == {
        "smi": {"rootService": "podinfo", "trafficSplitName": "podinfo"}
    }
    (rate, _) = objs["AnalysisTemplate"]["spec"]["metrics"]
    assert rate["provider"]["prometheus"]["address"] == "http://prometheus.linkerd-viz:9090"
    assert "response_total{" in rate["provider"]["prometheus"]["query"]  # Linkerd's query
    assert "VirtualService" not in objs
    # the Istio fields have no Linkerd equivalent: reported
    for field in ("gateways", "hosts", "trafficPolicy", "retries"):
        assert f"spec.service.{field}: not carried" in done.stderr


def test_exit_2_for_a_missing_file() -> None:
    done = ferry("no-such-file.yaml")
    assert done.returncode == 2 and "cannot read no-such-file.yaml" in done.stderr


def test_objects_of_other_kinds_pass_through_unchanged() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1', b: x}\n---\n"
        "apiVersion: ferry.dev/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec: {x: 1}\n"
    )
    done = ferry("-", stdin=text)
    assert done.returncode == 0, done.stderr
    assert list(yaml.safe_load_all(done.stdout)) == list(yaml.safe_load_all(text))
    assert "2 passed through unchanged" in done.stderr


def test_ferry_lists_the_command() -> None:
    done = subprocess.run([str(FERRY), "--help"], capture_output=True, text=True, timeout=60)
    assert "convert" in done.stdout


# -- never a traceback ------------------------------------------------------------------------

KINDS = [
    ("argoproj.io/v1alpha1", k)
    for k in ("Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment")
] + [("flagger.app/v1beta1", k) for k in ("Canary", "MetricTemplate")]
KEYS = [
    "name", "spec", "steps", "setWeight", "pause", "duration", "templates", "templateName",
    "args", "metrics", "provider", "prometheus", "query", "address", "analysis", "interval",
    "threshold", "stepWeight", "maxWeight", "iterations", "match", "headers", "webhooks", "type",
    "url", "service", "port", "targetRef", "kind", "apiVersion", "workloadRef", "template",
    "strategy", "canary", "blueGreen", "trafficRouting", "nginx", "istio", "stableIngress",
    "activeService", "previewService", "templateRef", "thresholdRange", "min", "max", "mirror",
    "stepWeights", "ingressRef", "metadata", "labels", "experiment", "cookie", "regex",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["1m", "30s", "Deployment", "apps/v1", "nginx", "podinfo", "{{ target }}"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
EXAMPLES = [d for name in ALL for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*prefix, i))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_value_under_a_known_kind_gives_output_or_a_report(data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        # a real example with one field replaced by anything
        obj = copy.deepcopy(data.draw(st.sampled_from(EXAMPLES)))
        paths = [p for p in _paths(obj) if p and p[0] not in ("apiVersion", "kind")]
        path = data.draw(st.sampled_from(paths))
        node = obj
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = data.draw(VALUES)
    else:
        api, kind = data.draw(st.sampled_from(KINDS))
        obj = {"apiVersion": api, "kind": kind, "metadata": data.draw(VALUES)}
        obj["spec"] = data.draw(VALUES)
    outputs, report = converting.convert([Document("any.yaml", 1, obj)], checker=CHECKER)
    for output in outputs:
        if output.source is not None and output.obj.get("apiVersion") == models.API_VERSION:
            assert CHECKER.problems(output.obj) == [], output.obj
    assert outputs or report.not_carried or report.passed
