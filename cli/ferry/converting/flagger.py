"""Flagger's objects (``flagger.app/v1beta1`` Canary and MetricTemplate) as Ferry's.

Ferry's workload model is Flagger's: a Canary's target Deployment runs the canary,
``<target>-primary`` the stable revision, behind Services ``<service>``, ``<service>-primary``
and ``<service>-canary`` (same names). What differs is how the analysis is written. Flagger runs
a control loop every ``analysis.interval``: it checks the metrics and webhooks, then raises the
weight by ``stepWeight`` up to ``maxWeight`` (or along ``stepWeights``), or counts
``iterations``, and rolls back once ``threshold`` checks failed. Ferry writes that as steps:

- **canary** (``stepWeight``/``stepWeights``): ``setWeight: w`` then ``pause: interval`` for each
  weight, and the metrics as a background analysis (``strategy.canary.analysis``) measured every
  ``interval`` from one interval in, ``failureLimit: threshold - 1`` (a run fails when failures
  exceed the limit; Flagger rolls back when they reach the threshold) — Flagger's cadence as Ferry
  writes it (``bench/blast_radius.py``);
- **A/B testing** (``match`` with ``iterations``): a ``setHeaderRoute`` or ``setCookieRoute`` per
  match, then an ``analysis`` step whose metrics are measured ``count: iterations`` times (README,
  A/B testing);
- **blue/green** (``iterations`` without ``match``): Ferry's ``blueGreen``, its preview Service
  Flagger's ``<service>-canary`` and the metrics its ``prePromotionAnalysis`` (``count:
  iterations``); with ``mirror``, a ``setMirrorRoute`` step before the analysis instead.

Metrics become one AnalysisTemplate per Canary (``<canary>-analysis``): Flagger's built-in
``request-success-rate`` and ``request-duration`` are Prometheus queries (Flagger's own, per
provider, asked of ``metricsServer``), a ``templateRef`` takes the MetricTemplate's query. In
queries, Flagger's ``{{ namespace }}``, ``{{ target }}``, ``{{ name }}``, ``{{ service }}`` and
``{{ ingress }}`` become Ferry's ``{{args.NAME}}`` read from the Rollout (``fieldRef``);
``{{ interval }}`` (the query's window) and ``{{ variables.NAME }}`` are the metric's own values.
A measurement without data fails (Flagger counts "no values found" as a failed check). A
MetricTemplate is also written as an AnalysisTemplate of its own, with those variables as
arguments.

Webhooks of the types Ferry runs become ``spec.webhooks`` (called every ``interval``; a
pre-rollout hook aborts after ``threshold`` failures). The traffic router comes from
``provider``: nginx (``ingressRef``), istio (the VirtualService Flagger would generate, written out:
Git owns it now), linkerd/smi/osm (Ferry's ``smi``), gatewayapi (the HTTPRoute Flagger would
generate) and kubernetes (none).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from cli.ferry.converting import queries
from cli.ferry.converting.building import (
    Built,
    Context,
    Obj,
    dns_name,
    duration_text,
    opened,
    refusal,
    seconds,
)
from cli.ferry.converting.documents import Document
from cli.ferry.converting.fields import Node
from cli.ferry.converting.reports import Scope
from shared import models

GROUP = "flagger.app"
KINDS = ("Canary", "MetricTemplate")
ISTIO_API = "networking.istio.io/v1"
GATEWAY_API = "gateway.networking.k8s.io"

DEFAULT_INTERVAL = 60.0
"""Flagger's ``analysis.interval`` default (``AnalysisInterval``)."""
MIN_INTERVAL = 10.0
"""Flagger runs its loop at most every 10 s (``GetAnalysisInterval``)."""
DEFAULT_WINDOW = "1m"
"""Flagger's default metric ``interval`` (the query's window, ``MetricInterval``)."""

HOOK_TYPES = models.HOOK_TYPES
SMI_PROVIDERS = ("linkerd", "osm")


def convert(ctx: Context, doc: Document) -> list[Obj] | None:
    if doc.api_version.split("/")[0] != GROUP or doc.kind not in KINDS:
        return None
    scope = Scope(doc, ctx.report)
    if doc.api_version != f"{GROUP}/v1beta1":
        scope.note((), f"read as {GROUP}/v1beta1 (the version ferry convert knows)")
    if doc.kind == "MetricTemplate":
        return metric_template(ctx, doc, scope)
    return Canary(ctx, doc, scope).convert()


def router_of(provider: str) -> str:
    """Ferry's router for Flagger's ``provider`` ("" for none, "?" for one Ferry lacks)."""
    if provider == "nginx":
        return "nginx"
    if provider == "istio":
        return "istio"
    if provider in SMI_PROVIDERS or provider.startswith("smi"):
        return "smi"
    if provider.startswith("gatewayapi"):
        return "gatewayAPI"
    if provider == "kubernetes":
        return ""
    return "?"


# -- queries ---------------------------------------------------------------------------------


# -- MetricTemplate --------------------------------------------------------------------------


def _provider_config(
    ctx: Context, node: Node, default_address: str, what: str
) -> tuple[Obj | None, str]:
    """A MetricTemplate's ``provider`` as Ferry's Prometheus block (without the query)."""
    kind = node.get("type")
    if kind != "prometheus":
        node.scope.drop(
            node.at("type"),
            f"Ferry has no {kind} metric provider (it asks Prometheus, web endpoints and Jobs): "
            f"{what} is left out",
        )
        node.skip("address", "secretRef", "insecureSkipVerify", "region")
        node.finish()
        return None, ""
    config: Obj = {}
    address = node.get("address")
    if not address:
        address = default_address
        node.scope.note(node.path, f"no address: Flagger's metrics server {address}")
    config["address"] = address
    if node.get("insecureSkipVerify"):
        config["insecure"] = True
    node.drop(
        "secretRef",
        "Ferry sends Prometheus credentials as headers: add headers [{key: Authorization, "
        "value: 'Bearer {{args.token}}'}] and an argument token with valueFrom.secretKeyRef "
        "(the Secret in the Rollout's namespace)",
    )
    node.drop("region", "a Prometheus provider has no region")
    node.finish()
    return config, str(address)


def metric_template(ctx: Context, doc: Document, scope: Scope) -> list[Obj]:
    found = opened(scope, doc)
    if found is None:
        return []
    root, meta = found
    spec = root.node("spec")
    config, _ = _provider_config(
        ctx, spec.node("provider"), ctx.options.metrics_server, f"MetricTemplate {doc.name}"
    )
    query = spec.get("query")
    spec.finish()
    root.finish()
    if config is None:
        return []
    if not isinstance(query, str) or not query.strip():
        scope.drop(("spec", "query"), "no query to carry")
        return []
    text, used, unknown = queries.query_with_args(query, None, None)
    if unknown:
        scope.drop(
            ("spec", "query"),
            f"Ferry's templating fills {{{{args.NAME}}}} only; {', '.join(unknown)} cannot be "
            "carried, so neither can the query",
        )
        return []
    template: Obj = {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": meta,
        "spec": {
            "metrics": [
                {
                    "name": str(meta.get("name") or "metric"),
                    "provider": {"prometheus": {**config, "query": text.strip()}},
                }
            ]
        },
    }
    if used:
        template["spec"]["args"] = queries.query_args(used)
    scope.note(
        ("spec", "query"),
        "an AnalysisTemplate with its query, Flagger's variables as arguments; a MetricTemplate "
        "has no threshold, so the Canaries that use it carry theirs in their own template",
    )
    problems = ctx.checker.problems(template)
    if problems:
        scope.drop((), f"Ferry refuses the AnalysisTemplate it becomes: {'; '.join(problems)}")
        return []
    return [template]


# -- Canary ----------------------------------------------------------------------------------


class Canary:
    def __init__(self, ctx: Context, doc: Document, scope: Scope) -> None:
        self.ctx, self.doc, self.scope = ctx, doc, scope
        self.outputs: list[Obj] = []

    def convert(self) -> list[Obj]:
        found = opened(self.scope, self.doc)
        if found is None:
            return []
        root, self.meta = found
        self.root = root
        self.name = str(self.meta.get("name") or "")
        self.namespace = str(self.meta.get("namespace") or "")
        spec = root.node("spec")
        self.spec = spec
        if not spec.is_mapping:
            self.scope.drop((), "it has no spec: nothing to convert")
            return []
        provider = spec.get("provider")
        if not provider:
            provider = self.ctx.options.mesh_provider
            self.scope.note(("spec",), f"no provider: Flagger's mesh provider {provider}")
        self.provider = str(provider)
        self.router = router_of(self.provider)
        target = self._target()
        if target is None:
            return []
        self.target = target
        service = self._service()
        if service is None:
            return []
        self.service = service
        self.apex = service["name"]
        if "analysis" in spec:
            analysis = spec.node("analysis")
            spec.drop("canaryAnalysis", "analysis is given too (canaryAnalysis is its old name)")
        else:
            analysis = spec.node("canaryAnalysis")
            if analysis.is_mapping:
                self.scope.note(("spec", "canaryAnalysis"), "Flagger's old name of analysis")
        self.analysis = analysis
        self._cadence()
        routing = self._routing()
        template = self._metrics()
        built = self._strategy(routing, template)
        if built is None:
            return []
        self._hooks(built)
        self._rest(built)
        analysis.finish()
        spec.finish()
        root.finish()
        return [*self.outputs, *([template] if template else []), built.obj]

    # -- what the Canary names ----------------------------------------------------------

    def _target(self) -> str | None:
        ref = self.spec.node("targetRef")
        kind, api, name = ref.get("kind"), ref.get("apiVersion", "apps/v1"), ref.get("name")
        ref.finish()
        if kind != "Deployment" or api != "apps/v1" or not isinstance(name, str) or not name:
            self.scope.drop(
                ("spec", "targetRef"),
                f"Ferry's Rollout names a Deployment (apps/v1); {api} {kind} {name!r} cannot be "
                "converted, so neither can the Canary",
            )
            return None
        return name

    def _service(self) -> Obj | None:
        node = self.spec.node("service")
        name = node.get("name") or self.target
        port = node.get("port")
        if isinstance(port, float) and port.is_integer():
            port = int(port)
        if not isinstance(port, int) or isinstance(port, bool):
            self.scope.drop(
                ("spec", "service", "port"),
                f"Ferry needs the Service's port, got {port!r}: the Canary cannot be converted",
            )
            return None
        service: Obj = {"name": name, "port": port}
        if node.get("targetPort") is not None:
            service["targetPort"] = node.get("targetPort")
        port_name = node.get("portName")
        if port_name not in (None, "", "http"):
            node.scope.drop(node.at("portName"), "Ferry names its Services' port http")
        if node.get("portDiscovery"):
            node.scope.drop(
                node.at("portDiscovery"),
                f"Ferry's Services carry one port ({port}), not every container port",
            )
        node.drop("appProtocol", "Ferry's Services set no appProtocol")
        for key in ("apex", "primary", "canary"):
            node.drop(key, "Ferry adds no labels or annotations of yours to its Services")
        node.drop("headless", "Ferry's Services are ClusterIP Services")
        node.drop("meshName", "Ferry has no App Mesh router")
        node.drop("backends", "Ferry has no App Mesh router")
        node.drop("serviceDiscovery", "Ferry has no App Mesh router")
        self.service_node = node
        return service

    def _cadence(self) -> None:
        node = self.analysis
        raw = node.get("interval")
        interval = seconds(raw) if raw is not None else DEFAULT_INTERVAL
        if interval is None:
            self.scope.drop(node.at("interval"), f"not a duration: {raw!r}; Flagger's 60s taken")
            interval = DEFAULT_INTERVAL
        if interval < MIN_INTERVAL:
            self.scope.note(node.at("interval"), "Flagger runs its loop at most every 10s: 10s")
            interval = MIN_INTERVAL
        self.interval = duration_text(interval)
        self.interval_seconds = interval
        threshold = node.get("threshold")
        if isinstance(threshold, float) and threshold.is_integer():
            threshold = int(threshold)
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
            if threshold is not None:
                self.scope.drop(node.at("threshold"), f"not a count: {threshold!r}; 1 taken")
            threshold = 1
        self.threshold = threshold
        iterations = node.get("iterations")
        if isinstance(iterations, float) and iterations.is_integer():
            iterations = int(iterations)
        self.iterations = (
            iterations if isinstance(iterations, int) and not isinstance(iterations, bool) else 0
        )
        if iterations is not None and self.iterations < 1:
            self.scope.drop(node.at("iterations"), f"not a count: {iterations!r}")
            self.iterations = 0
        match = node.get("match")
        self.match = match if isinstance(match, list) else []
        # Flagger's scheduler: match with iterations is A/B testing, iterations alone blue/green
        # (whatever stepWeight says), else weights
        if self.match and self.iterations:
            self.mode = "ab"
        elif self.iterations:
            self.mode = "bluegreen"
        else:
            self.mode = "canary"
            if self.match:
                self.scope.drop(
                    node.at("match"),
                    "Flagger's A/B testing needs iterations; converted as a canary by weights",
                )
        self.mirror = bool(node.get("mirror"))
        mirror_weight = node.value.get("mirrorWeight")
        self.mirror_weight = (
            int(mirror_weight)
            if isinstance(mirror_weight, int | float)
            and not isinstance(mirror_weight, bool)
            and 1 <= mirror_weight <= 100
            else 100
        )

    # -- routing --------------------------------------------------------------------------

    def _routing(self) -> Obj | None:
        """Ferry's router configuration (None: none), writing the objects Flagger would have
        generated (VirtualService, DestinationRules, HTTPRoute)."""
        spec, service = self.spec, self.service_node
        ingress = spec.node("ingressRef")
        istio_fields = (
            "gateways",
            "hosts",
            "match",
            "rewrite",
            "retries",
            "headers",
            "corsPolicy",
            "timeout",
            "trafficPolicy",
            "delegation",
        )
        if self.router == "?":
            self.scope.drop(
                ("spec", "provider"),
                f"Ferry has no {self.provider} router (it has nginx, gatewayAPI, istio, smi): "
                "without one the canary's share of traffic is its share of replicas",
            )
            self.router = ""
        if self.router != "nginx":
            ingress.skip("apiVersion", "kind", "name")
            spec.drop("ingressRef", f"the {self.provider} provider routes no Ingress")
        if self.router != "istio":
            for key in istio_fields:
                if key in ("hosts",) and self.router == "gatewayAPI":
                    continue
                service.drop(key, f"Flagger's {self.provider} provider does not use it either")
        if self.router != "gatewayAPI":
            service.drop("gatewayRefs", f"Flagger's {self.provider} provider does not use it")
        spec.drop("upstreamRef", "Ferry has no Gloo router")
        if self.router == "nginx":
            name = ingress.get("name")
            ingress.skip("apiVersion", "kind")
            ingress.finish()
            if not name:
                self.scope.drop(
                    ("spec", "provider"),
                    "Flagger's nginx provider needs ingressRef: no traffic router",
                )
                return None
            return {"nginx": {"stableIngress": name}}
        if self.router == "istio":
            return self._istio()
        if self.router == "smi":
            return {"smi": {"rootService": self.apex, "trafficSplitName": self.apex}}
        if self.router == "gatewayAPI":
            return self._gateway()
        return None

    def _istio(self) -> Obj:
        node = self.service_node
        hosts = node.strings("hosts")
        if self.apex not in hosts:
            hosts.append(self.apex)
        gateways = node.strings("gateways")
        if "mesh" not in gateways:
            gateways.append("mesh")
        route: Obj = {}
        shapes = {
            "match": list,
            "rewrite": dict,
            "timeout": str,
            "retries": dict,
            "headers": dict,
            "corsPolicy": dict,
        }
        for key, shape in shapes.items():
            value = node.get(key)
            if isinstance(value, shape):
                route[key] = copy.deepcopy(value)
            elif value is not None:
                node.scope.drop(node.at(key), f"not {shape.__name__}-shaped: {value!r}")
        route["route"] = [{"destination": {"host": f"{self.apex}-primary"}, "weight": 100}]
        meta: Obj = {"name": self.apex}
        if self.namespace:
            meta["namespace"] = self.namespace
        self.outputs.append(
            {
                "apiVersion": ISTIO_API,
                "kind": "VirtualService",
                "metadata": meta,
                "spec": {"hosts": hosts, "gateways": gateways, "http": [route]},
            }
        )
        self.scope.note(
            ("spec", "service"),
            f"VirtualService {self.apex}: the one Flagger generated (hosts, gateways, match, "
            "rewrite, timeout, retries, headers, corsPolicy), now yours; Ferry sets the weights "
            f"of {self.apex}-primary and {self.apex}-canary in it",
        )
        policy = node.mapping("trafficPolicy")
        if policy:
            for suffix in ("primary", "canary"):
                host = f"{self.apex}-{suffix}"
                self.outputs.append(
                    {
                        "apiVersion": ISTIO_API,
                        "kind": "DestinationRule",
                        "metadata": {**meta, "name": host},
                        "spec": {"host": host, "trafficPolicy": copy.deepcopy(policy)},
                    }
                )
            self.scope.note(
                ("spec", "service", "trafficPolicy"),
                f"DestinationRules {self.apex}-primary and {self.apex}-canary, as Flagger "
                "generated them",
            )
        node.drop("delegation", "Ferry splits the VirtualService it names, not a delegate")
        return {"istio": {"virtualService": {"name": self.apex}}}

    def _gateway(self) -> Obj:
        node = self.service_node
        version = "v1beta1" if self.provider.endswith(":v1beta1") else "v1"
        refs = node.get("gatewayRefs")
        if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
            if refs is not None:
                node.scope.drop(node.at("gatewayRefs"), f"must list Gateways, got {refs!r}")
            refs = []
        route: Obj = {
            "parentRefs": copy.deepcopy(refs),
            "rules": [
                {
                    "backendRefs": [
                        {
                            "name": f"{self.apex}-primary",
                            "port": self.service["port"],
                            "weight": 100,
                        }
                    ]
                }
            ],
        }
        hosts = node.strings("hosts")
        if hosts:
            route["hostnames"] = hosts
        meta: Obj = {"name": self.apex}
        if self.namespace:
            meta["namespace"] = self.namespace
        self.outputs.append(
            {
                "apiVersion": f"{GATEWAY_API}/{version}",
                "kind": "HTTPRoute",
                "metadata": meta,
                "spec": route,
            }
        )
        self.scope.note(
            ("spec", "service"),
            f"HTTPRoute {self.apex}: the one Flagger generated (gatewayRefs, hosts), now yours; "
            f"Ferry sets the weights of {self.apex}-primary and {self.apex}-canary in it",
        )
        for key in (
            "match",
            "rewrite",
            "timeout",
            "retries",
            "headers",
            "corsPolicy",
            "trafficPolicy",
            "delegation",
            "gateways",
        ):
            node.drop(key, "not carried into the generated HTTPRoute")
        return {"gatewayAPI": {"httpRoute": self.apex}}

    # -- metrics --------------------------------------------------------------------------

    def _metrics(self) -> Obj | None:
        """The Canary's AnalysisTemplate (None when it has no metric Ferry can measure)."""
        node = self.analysis
        template_name = f"{self.name}-analysis"
        metrics: list[Obj] = []
        args: list[Obj] = []
        names: set[str] = set()
        for item in node.items("metrics"):
            metric, used = self._metric(item)
            if metric is None:
                continue
            for name in used:
                if name not in names:
                    names.add(name)
                    args.extend(queries.query_args([name]))
            candidate = self._template(template_name, args, [*metrics, metric])
            problems = self.ctx.checker.problems(candidate)
            if problems:
                self.scope.drop(item.path, refusal(problems, "Ferry refuses the metric"))
            else:
                metrics.append(metric)
        if not metrics:
            return None
        return self._template(template_name, args, metrics)

    def _template(self, name: str, args: list[Obj], metrics: list[Obj]) -> Obj:
        meta: Obj = {"name": name}
        if self.namespace:
            meta["namespace"] = self.namespace
        spec: Obj = {"metrics": metrics}
        if args:
            spec["args"] = [a for a in args if _uses(metrics, a["name"])]
            if not spec["args"]:
                del spec["args"]
        return {
            "apiVersion": models.API_VERSION,
            "kind": "AnalysisTemplate",
            "metadata": meta,
            "spec": spec,
        }

    def _metric(self, node: Node) -> tuple[Obj | None, list[str]]:
        name = node.get("name")
        if not isinstance(name, str) or not name:
            node.scope.drop(node.path, "a metric needs a name")
            node.finish()
            return None, []
        window = node.get("interval") or DEFAULT_WINDOW
        if not isinstance(window, str) or seconds(window) is None:
            node.scope.drop(
                node.at("interval"), f"not a duration: {window!r}; the metric {name} is left out"
            )
            node.finish()
            return None, []
        variables = node.mapping("templateVariables")
        address = str(self.spec.value.get("metricsServer") or self.ctx.options.metrics_server)
        config: Obj | None
        if "templateRef" in node:
            ref = node.node("templateRef")
            ref_name, ref_ns = ref.get("name"), ref.get("namespace") or self.namespace
            ref.finish()
            found = self.ctx.find("MetricTemplate", str(ref_name), ref_ns, api=GROUP)
            node.skip("query")
            if found is None:
                node.scope.drop(
                    node.at("templateRef"),
                    f"the MetricTemplate {ref_ns + '/' if ref_ns else ''}{ref_name} is not in the "
                    f"input, so its query is unknown: the metric {name} is left out",
                )
                node.finish()
                return None, []
            mt = Node(Scope(found, self.ctx.report), found.obj)
            mt_spec = mt.node("spec")
            config, _ = _provider_config(
                self.ctx, mt_spec.node("provider"), address, f"the metric {name}"
            )
            query = mt_spec.value.get("query")
            if config is None:
                node.scope.drop(
                    node.at("templateRef"),
                    f"its MetricTemplate's provider is not Prometheus: the metric {name} is "
                    "left out",
                )
                node.finish()
                return None, []
        elif node.get("query"):
            query = node.get("query")
            config = {"address": address}
        elif name in (queries.SUCCESS_RATE, queries.DURATION):
            builtin = queries.queries_of(self.provider)
            if builtin is None:
                node.scope.drop(
                    node.path,
                    f"ferry convert does not know Flagger's {self.provider} query for {name}: "
                    "write it as a MetricTemplate",
                )
                node.finish()
                return None, []
            query = builtin[name]
            config = {"address": address}
        else:
            node.scope.drop(
                node.path,
                f"{name} is not a Flagger built-in metric and has no templateRef or query",
            )
            node.finish()
            return None, []
        text, used, missing = queries.query_with_args(
            str(query), str(window), {str(k): str(v) for k, v in variables.items()}
        )
        if missing:
            node.scope.drop(
                node.path,
                f"its query uses {', '.join(missing)}, which Ferry cannot fill: the metric "
                f"{name} is left out",
            )
            node.finish()
            return None, []
        metric: Obj = {
            "name": name,
            "interval": self.interval,
            "initialDelay": self.interval,
        }
        failure_limit = self.threshold - 1
        if self.mode != "canary":
            metric["count"] = self.iterations
            failure_limit = min(failure_limit, self.iterations)
        metric["failureLimit"] = failure_limit
        metric["consecutiveErrorLimit"] = failure_limit
        metric["noDataPolicy"] = "Failed"
        bounds = self._bounds(node, name)
        if bounds:
            metric["thresholdRange"] = bounds
        metric["provider"] = {"prometheus": {**(config or {}), "query": text.strip()}}
        node.finish()
        return metric, used

    def _bounds(self, node: Node, name: str) -> Obj:
        bounds: Obj = {}
        if "thresholdRange" in node:
            found = node.node("thresholdRange")
            for key in ("min", "max"):
                value = found.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    bounds[key] = value
            found.finish()
            node.drop("threshold", "thresholdRange is given too (threshold is its old form)")
        elif "threshold" in node:
            value = node.get("threshold")
            if isinstance(value, int | float) and not isinstance(value, bool):
                # Flagger's old threshold: the least success rate, the most of anything else
                bounds["min" if name == queries.SUCCESS_RATE else "max"] = value
        return bounds

    # -- steps ----------------------------------------------------------------------------

    def _strategy(self, routing: Obj | None, template: Obj | None) -> Built | None:
        node = self.analysis
        service = dict(self.service)
        ref = {"templates": [{"templateName": template["metadata"]["name"]}]} if template else None
        if self.mode == "bluegreen" and not self.mirror:
            blue_green: Obj = {"previewService": f"{self.apex}-canary"}
            if ref is not None:
                blue_green["prePromotionAnalysis"] = ref
            else:
                blue_green["autoPromotionSeconds"] = int(self.interval_seconds * self.iterations)
            strategy: Obj = {"blueGreen": blue_green}
            self.scope.note(
                node.at("iterations"),
                f"blue/green: the new revision runs behind {self.apex}-canary (Flagger's "
                f"canary Service), {self.iterations} checks every {self.interval}, then all "
                "traffic switches at once",
            )
        else:
            strategy = {"canary": {"steps": []}}
        skeleton: Obj = {
            "apiVersion": models.API_VERSION,
            "kind": models.KIND,
            "metadata": self.meta,
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.target},
                "service": service,
                "strategy": strategy,
            },
        }
        built = Built(self.ctx.checker, self.scope, skeleton)
        if built.refused:
            self.scope.drop((), f"Ferry refuses the Rollout it becomes: {'; '.join(built.refused)}")
            return None
        if routing:
            built.put(("spec", "provider"), ["spec", "trafficRouting"], routing)
        if "blueGreen" in strategy:
            self._drop_weights(node, "iterations are given: Flagger runs blue/green")
            node.drop("mirrorWeight", "no mirroring without mirror: true")
            node.skip("match", "mirror")
            return built
        steps: list[tuple[Any, Obj]] = []
        if self.mode == "bluegreen":
            self._drop_weights(node, "iterations are given: Flagger runs blue/green")
        if self.mirror:
            steps += self._mirror_steps(node)
        elif "mirrorWeight" in node:
            node.drop("mirrorWeight", "no mirroring without mirror: true")
        if self.mode == "ab":
            steps += self._match_steps(node)
            self._drop_weights(node, "A/B testing routes by match, not by weight")
        if self.mode in ("ab", "bluegreen"):
            if ref is not None:
                steps.append((node.at("iterations"), {"analysis": ref}))
            else:
                wait = duration_text(self.interval_seconds * self.iterations)
                steps.append((node.at("iterations"), {"pause": {"duration": wait}}))
        else:
            for path, weight in self._weights(node):
                steps.append((path, {"setWeight": weight}))
                steps.append((node.at("interval"), {"pause": {"duration": self.interval}}))
            node.drop("stepWeightPromotion", "Ferry's promotion moves all traffic in one write")
        for path, step in steps:
            built.append(path, ["spec", "strategy", "canary", "steps"], step)
        if self.mode == "canary" and ref is not None:
            built.put(node.at("metrics"), ["spec", "strategy", "canary", "analysis"], ref)
        return built

    def _drop_weights(self, node: Node, why: str) -> None:
        for key in ("stepWeight", "stepWeights", "maxWeight", "stepWeightPromotion"):
            node.drop(key, why)

    def _weights(self, node: Node) -> list[tuple[Any, int]]:
        """The weights Flagger's loop sets, each with the field it comes from."""
        found: list[tuple[Any, int]] = []
        if "stepWeights" in node:
            listed = node.get("stepWeights")
            if not isinstance(listed, list):
                self.scope.drop(node.at("stepWeights"), f"must list weights, got {listed!r}")
                listed = []
            for i, value in enumerate(listed):
                if isinstance(value, int | float) and 0 < value <= 100 and value == int(value):
                    found.append((node.at("stepWeights", i), int(value)))
                else:
                    self.scope.drop(node.at("stepWeights", i), f"not a weight: {value!r}")
            node.drop("stepWeight", "stepWeights is given too")
            node.drop("maxWeight", "the last of stepWeights is the highest weight")
            return found
        step = node.get("stepWeight")
        top = node.get("maxWeight", 100)
        if isinstance(top, bool) or not isinstance(top, int | float) or not 0 < top <= 100:
            self.scope.drop(node.at("maxWeight"), f"not a weight: {top!r}; 100 taken")
            top = 100
        if not isinstance(step, int | float) or isinstance(step, bool) or not 1 <= step <= 100:
            self.scope.drop(
                node.at("stepWeight") if "stepWeight" in node else node.path,
                "no stepWeight, stepWeights or iterations: no steps, the canary is promoted "
                "at once",
            )
            return found
        weight = 0.0
        while weight < top:
            weight = min(weight + step, top)
            found.append((node.at("stepWeight"), int(weight)))
        return found

    def _mirror_steps(self, node: Node) -> list[tuple[Any, Obj]]:
        mirror = {"name": "mirror", "percentage": self.mirror_weight}
        node.get("mirrorWeight")
        steps: list[tuple[Any, Obj]] = [(node.at("mirror"), {"setMirrorRoute": mirror})]
        if self.mode == "canary":
            # Flagger mirrors before it shifts any weight: one interval, then the weights
            steps.append((node.at("mirror"), {"pause": {"duration": self.interval}}))
            steps.append((node.at("mirror"), {"setMirrorRoute": {"name": "mirror"}}))
            self.scope.note(
                node.at("mirror"),
                f"{self.mirror_weight}% of the requests mirrored to the canary for one interval "
                "before the weights (Flagger's mirroring stage)",
            )
        else:
            self.scope.note(
                node.at("mirror"),
                f"{self.mirror_weight}% of the requests mirrored to the canary while it is "
                "analysed, then promoted",
            )
        return steps

    def _match_steps(self, node: Node) -> list[tuple[Any, Obj]]:
        """A route step per ``match`` item (Flagger's items are alternatives; a route's header
        matches must all hold)."""
        steps: list[tuple[Any, Obj]] = []
        for i, item in enumerate(node.items("match")):
            headers = item.node("headers")
            matches: list[Obj] = []
            cookie: Obj | None = None
            for header, value in headers.value.items():
                headers.skip(header)
                condition = _string_match(value)
                if condition is None:
                    self.scope.drop(
                        headers.at(header),
                        f"not a match Ferry has (exact, prefix, regex): {value!r}",
                    )
                    continue
                found = _cookie(str(header), condition, self.router)
                if found is not None and cookie is None:
                    cookie = found
                else:
                    matches.append({"headerName": str(header), "headerValue": condition})
            headers.finish()
            for key in list(item.value):
                if key != "headers":
                    item.drop(key, "Ferry routes the canary by headers and cookies only")
            item.finish()
            name = f"match-{i}"
            if cookie is not None and not matches:
                steps.append((item.path, {"setCookieRoute": {"name": name, **cookie}}))
            elif cookie is not None:
                # the cookie as a header match beside the others: all must hold
                cookie_match = {
                    "headerName": "Cookie",
                    "headerValue": {"regex": _cookie_regex(cookie)},
                }
                steps.append(
                    (
                        item.path,
                        {"setHeaderRoute": {"name": name, "match": [*matches, cookie_match]}},
                    )
                )
            elif matches:
                steps.append((item.path, {"setHeaderRoute": {"name": name, "match": matches}}))
        return steps

    # -- hooks and the rest ---------------------------------------------------------------

    def _hooks(self, built: Built) -> None:
        names: set[str] = set()
        for item in self.analysis.items("webhooks"):
            kind = item.get("type") or "rollout"
            name = item.get("name")
            if kind == "rollout":
                item.scope.drop(
                    item.path,
                    "Ferry runs no rollout (load test) webhooks: spec.loadTest makes the load "
                    "itself, a web or job metric checks during the analysis",
                )
                item.skip(*item.value)
                continue
            if kind == "event":
                item.scope.drop(
                    item.path,
                    "Ferry sends events as notifications: a service.webhook in the namespace's "
                    "ConfigMap ferry-notifications",
                )
                item.skip(*item.value)
                continue
            if kind not in HOOK_TYPES:
                item.scope.drop(item.at("type"), f"Ferry has no {kind!r} hook")
                item.skip(*item.value)
                continue
            hook: Obj = {"name": dns_name(str(name or kind), 253), "type": kind}
            if hook["name"] in names:
                hook["name"] = f"{hook['name']}-{len(names)}"
            names.add(hook["name"])
            if hook["name"] != name:
                item.scope.note(item.at("name"), f"{hook['name']} (a Kubernetes name)")
            if item.get("url"):
                hook["url"] = item.get("url")
            timeout = item.get("timeout")
            if timeout is not None:
                value = seconds(timeout)
                if value is None:
                    item.scope.drop(item.at("timeout"), f"not a duration: {timeout!r}")
                elif value > models.MAX_HOOK_TIMEOUT:
                    item.scope.drop(
                        item.at("timeout"),
                        f"Ferry waits at most {models.MAX_HOOK_TIMEOUT:g}s for a hook: "
                        f"{models.MAX_HOOK_TIMEOUT:g}s, not {timeout}",
                    )
                    hook["timeout"] = f"{models.MAX_HOOK_TIMEOUT:g}s"
                else:
                    hook["timeout"] = str(timeout)
            if kind in models.GATE_TYPES or kind == "rollback":
                hook["interval"] = self.interval
            if kind == "pre-rollout":
                hook["failureLimit"] = self.threshold
            metadata = item.get("metadata")
            if isinstance(metadata, dict) and metadata:
                hook["metadata"] = {str(k): str(v) for k, v in metadata.items()}
            item.drop("muteAlert", "Ferry's notifications are subscribed per trigger")
            item.drop("retries", "Ferry calls a gate again every interval until it opens")
            item.finish()
            built.append(item.path, ["spec", "webhooks"], hook)

    def _rest(self, built: Built) -> None:
        spec, node = self.spec, self.analysis
        deadline = spec.get("progressDeadlineSeconds")
        if isinstance(deadline, float) and deadline.is_integer():
            deadline = int(deadline)
        if deadline is not None:
            built.put(
                spec.at("progressDeadlineSeconds"), ["spec", "progressDeadlineSeconds"], deadline
            )
        # Flagger rolls back a canary that misses its deadline
        built.put(("spec",), ["spec", "progressDeadlineAbort"], True)
        spec.skip("metricsServer", "provider")
        spec.drop(
            "autoscalerRef",
            "Ferry does not scale <target>-primary with a HorizontalPodAutoscaler: the HPA keeps "
            "scaling the Deployment it names (the canary)",
        )
        spec.drop(
            "skipAnalysis",
            "Ferry has no switch to skip the analysis: kubectl ferry promote --full promotes a "
            "running rollout at once",
        )
        spec.note(
            "revertOnDeletion", "Ferry always hands the Deployment back when its Rollout is deleted"
        )
        node.drop(
            "alerts",
            "Ferry's notifications: services in the namespace's ConfigMap ferry-notifications, "
            "subscriptions as annotations (notifications.ferry.dev/subscribe.<trigger>.<service>)",
        )
        node.drop("sessionAffinity", "Ferry routes by weight, headers and cookies; no affinity")
        for key in ("primaryReadyThreshold", "canaryReadyThreshold"):
            node.drop(key, "Ferry waits for every replica of a revision to be ready")
        node.skip("interval", "threshold", "iterations", "mirror", "match", "metrics")


def _uses(metrics: list[Obj], arg: str) -> bool:
    return f"{{{{args.{arg}}}}}" in str(metrics)


def _string_match(value: Any) -> Obj | None:
    """Flagger's (Istio's) StringMatch as Ferry's: exact, prefix or regex (a suffix as a regex)."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((kind, text),) = value.items()
    if kind in ("exact", "prefix", "regex") and isinstance(text, str):
        return {kind: text}
    if kind == "suffix" and isinstance(text, str):
        return {"regex": f"^.*{re.escape(text)}$"}
    return None


_COOKIE_REGEX = re.compile(
    r"^\^\(\.\*\?;\)\?\(([!#$%&'*+.^_`|~0-9A-Za-z-]+)=([^;()]+)\)\(;\.\*\)\?\$$"
)
"""Flagger's documented cookie match: ``^(.*?;)?(name=value)(;.*)?$``."""


def _cookie(header: str, condition: Obj, router: str) -> Obj | None:
    """A match on the Cookie header as Ferry's ``setCookieRoute`` (``cookieName``, ``value``), when
    it is one: Flagger's regex form, or, with NGINX, ``exact: NAME`` (ingress-nginx's
    ``canary-by-cookie``: the cookie NAME set to ``always``)."""
    if header.lower() != "cookie":
        return None
    if "regex" in condition:
        found = _COOKIE_REGEX.match(condition["regex"])
        if found is not None:
            return {"cookieName": found.group(1), "value": found.group(2)}
    if "exact" in condition and router == "nginx":
        return {"cookieName": condition["exact"]}
    return None


def _cookie_regex(cookie: Obj) -> str:
    name, value = re.escape(cookie["cookieName"]), re.escape(cookie.get("value", "always"))
    return f"^(.*?;\\s*)?{name}={value}(;.*)?$"
