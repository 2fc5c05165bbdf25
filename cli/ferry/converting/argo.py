"""Argo Rollouts' objects (``argoproj.io/v1alpha1``) as Ferry's.

Ferry takes Argo Rollouts' field names where it has the concept, so most of a spec is carried
as written; what differs is the workload model. An Argo Rollout runs its own ReplicaSets from
``spec.template`` (or the template of the Deployment ``workloadRef`` names); a Ferry Rollout
names a Deployment (``targetRef``) that runs the canary, keeps the stable revision in
``<target>-primary``, and keeps Services ``<service>``, ``<service>-primary`` and
``<service>-canary``. So:

- an inline ``template`` becomes a Deployment named after the Rollout (with its ``replicas``,
  ``selector``, ``minReadySeconds``, ``revisionHistoryLimit``); a ``workloadRef`` becomes the
  ``targetRef``, and when the Deployment is in the input its ``replicas`` (which Argo's users
  scale to 0) is set to the Rollout's, since Ferry runs the Deployment itself;
- ``spec.service`` is the canary's ``stableService`` (blue/green: ``activeService``), which the
  user's Ingress, HTTPRoute or VirtualService already routes to; its port is read from that
  Service when it is in the input, else from the pod template's first container port. A
  canary without traffic routing and without ``stableService`` takes the input's Service that
  selects the Rollout's Pods, else the Rollout's name. Argo's ``canaryService`` has no place:
  Ferry's canary Service is ``<service>-canary``;
- ``trafficRouting`` moves to ``spec.trafficRouting`` (nginx, istio, smi, and the Gateway API
  plugin ``argoproj-labs/gatewayAPI`` as Ferry's ``gatewayAPI``);
- AnalysisTemplates, ClusterAnalysisTemplates, AnalysisRuns and Experiments keep their fields,
  less the providers and options Ferry does not have.

Every piece goes through :class:`~cli.ferry.converting.building.Built`, so what Ferry would refuse
is reported and left out, never written.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from cli.ferry.converting.building import (
    Built,
    Context,
    Obj,
    mapping,
    opened,
    refusal,
)
from cli.ferry.converting.documents import Document, Path
from cli.ferry.converting.fields import Node
from cli.ferry.converting.reports import Scope
from shared import models

GROUP = "argoproj.io"
API_VERSION = "argoproj.io/v1alpha1"
KINDS = ("Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment")
GATEWAY_PLUGIN = "argoproj-labs/gatewayAPI"
PROVIDERS = ("prometheus", "web", "job")

NO_SCALE = (
    "Ferry sizes the canary itself: the stable size with a traffic router, the weight's share "
    "of replicas without one"
)
STEPS = ("spec", "strategy", "canary", "steps")
NO_ANALYSIS_RUN_OPTIONS = (
    "Ferry's Rollouts pass templates and args to an analysis; dryRun and measurementRetention "
    "belong in the AnalysisTemplate"
)


def convert(ctx: Context, doc: Document) -> list[Obj] | None:
    """The Ferry objects ``doc`` becomes; None when it is not an Argo Rollouts object
    ``ferry convert`` knows (it then passes through)."""
    if doc.api_version.split("/")[0] != GROUP or doc.kind not in KINDS:
        return None
    scope = Scope(doc, ctx.report)
    if doc.api_version != API_VERSION:
        scope.note((), f"read as {API_VERSION} (the only version ferry convert knows)")
    if doc.kind == "Rollout":
        return Rollout(ctx, doc, scope).convert()
    if doc.kind == "Experiment":
        return experiment(ctx, doc, scope)
    return analysis_object(ctx, doc, scope)


def _copy(value: Any) -> Any:
    return copy.deepcopy(value)


# -- Rollout -------------------------------------------------------------------------------


class Rollout:
    def __init__(self, ctx: Context, doc: Document, scope: Scope) -> None:
        self.ctx, self.doc, self.scope = ctx, doc, scope
        self.outputs: list[Obj] = []

    def convert(self) -> list[Obj]:
        found = opened(self.scope, self.doc)
        if found is None:
            return []
        self.root, self.meta = found
        self.name = str(self.meta.get("name") or "")
        self.namespace = str(self.meta.get("namespace") or "")
        spec = self.root.node("spec")
        self.spec = spec
        if not spec.is_mapping:
            self.scope.drop((), "it has no spec: nothing to convert")
            return []
        template = self._workload()
        if template is None:
            return []
        strategy = spec.node("strategy")
        if "blueGreen" in strategy:
            built = self._blue_green(strategy, template)
        else:
            if "canary" not in strategy:
                self.scope.note(
                    ("spec", "strategy"),
                    "no canary or blueGreen strategy: a canary with no steps (promoted at once, "
                    "as Argo's default)",
                )
            built = self._canary(strategy, template)
        strategy.finish()
        if built is None:
            return []
        self._common(built)
        spec.finish()
        self.root.finish()
        return [*self.outputs, built.obj]

    # -- the workload --------------------------------------------------------------------

    def _workload(self) -> Obj | None:
        """The target Deployment (written out when the Rollout holds its template), and the pod
        template (None: the Rollout cannot be converted)."""
        spec = self.spec
        replicas = spec.get("replicas")
        if "workloadRef" in spec:
            ref = spec.node("workloadRef")
            kind, api = ref.get("kind"), ref.get("apiVersion", "apps/v1")
            self.target = ref.get("name")
            if kind != "Deployment" or api != "apps/v1" or not isinstance(self.target, str):
                self.scope.drop(
                    ("spec", "workloadRef"),
                    f"Ferry's Rollout names a Deployment (apps/v1); {api} {kind} "
                    f"{self.target!r} cannot be converted, so neither can the Rollout",
                )
                return None
            scale = ref.get("scaleDown")
            if scale == "never":
                self.scope.drop(
                    ("spec", "workloadRef", "scaleDown"),
                    "Ferry runs the Deployment as the canary and scales it to zero at rest",
                )
            elif scale is not None:
                self.scope.note(
                    ("spec", "workloadRef", "scaleDown"),
                    "Ferry scales the Deployment to zero at rest once its primary copy serves",
                )
            ref.finish()
            if "template" in spec:
                spec.drop("template", "Argo takes either template or workloadRef; workloadRef used")
            found = self.ctx.find("Deployment", self.target, self.namespace)
            self._adjust_deployment(found, replicas)
            spec.get("selector")
            known = mapping(found.obj.get("spec")) if found is not None else {}
            return mapping(known.get("template"))
        if "template" not in spec:
            self.scope.drop((), "it has neither template nor workloadRef: no workload to convert")
            return None
        self.target = self.name
        template = spec.get("template")
        selector = spec.get("selector")
        existing = self.ctx.find("Deployment", self.name, self.namespace)
        if existing is not None:
            self.scope.drop(
                ("spec", "template"),
                f"the input holds a Deployment {self.name} already; the Rollout's template "
                "would replace it, so the Rollout names that Deployment instead",
            )
            return template if isinstance(template, dict) else {}
        deployment: Obj = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                k: v for k, v in self.meta.items() if k in ("name", "namespace", "labels")
            },
            "spec": {
                "replicas": replicas if replicas is not None else 1,
                "selector": _copy(selector),
                "template": _copy(template),
            },
        }
        for key in ("minReadySeconds", "revisionHistoryLimit"):
            if key in spec:
                deployment["spec"][key] = spec.value[key]
        self.scope.note(
            ("spec", "template"),
            f"Ferry's Rollout names a Deployment: Deployment {self.name} holds the template "
            "(Ferry runs it as the canary and a copy as the stable revision)",
        )
        self.outputs.append(deployment)
        spec.skip("minReadySeconds")
        return template if isinstance(template, dict) else {}

    def _adjust_deployment(self, found: Document | None, replicas: Any) -> None:
        spec = self.spec
        want = replicas if replicas is not None else 1
        out = self.ctx.passed(found) if found is not None else None
        if out is None:
            if replicas is not None:
                self.scope.drop(
                    ("spec", "replicas"),
                    f"the Deployment {self.target} is not in the input: give it replicas: "
                    f"{replicas} (Ferry runs the Deployment itself, and its primary copy at "
                    "that size)",
                )
            if "minReadySeconds" in spec:
                spec.drop(
                    "minReadySeconds",
                    f"set it on the Deployment {self.target} (not in the input)",
                )
            return
        dep_spec = out.obj.get("spec")
        if not isinstance(dep_spec, dict):
            return
        if dep_spec.get("replicas", 1) != want:
            self.scope.note(
                ("spec", "replicas"),
                f"Deployment {self.target}: replicas {dep_spec.get('replicas', 1)} -> {want} "
                "(Ferry runs the Deployment itself, and its primary copy at that size)",
            )
            dep_spec["replicas"] = want
        if "minReadySeconds" in spec:
            dep_spec["minReadySeconds"] = spec.get("minReadySeconds")
            self.scope.note(("spec", "minReadySeconds"), f"set on the Deployment {self.target}")

    # -- the Service ---------------------------------------------------------------------

    def _service(self, name: str | None, template: Obj, field: Path) -> tuple[str, Obj]:
        """The apex Service's name and Ferry's ``spec.service`` (port, targetPort); ``field``:
        where the source names it (stableService, activeService)."""
        where: Path = field if name else ("spec", "strategy")
        if not name:
            found = self._selecting_service(template)
            if found is not None:
                name = found.name
                self.scope.note(
                    where, f"spec.service.name {name}: the input's Service that selects the Pods"
                )
            else:
                name = self.name
                self.scope.note(
                    where,
                    f"spec.service.name {name} (the Rollout's name): Ferry keeps a Service in "
                    "front of the workload",
                )
        service_doc = self.ctx.find("Service", name, self.namespace)
        service: Obj = {}
        if service_doc is not None:
            ports = mapping(service_doc.obj.get("spec")).get("ports") or []
            if not isinstance(ports, list):
                ports = []
            first = ports[0] if ports and isinstance(ports[0], dict) else {}
            if isinstance(first.get("port"), int):
                service["port"] = first["port"]
                if first.get("targetPort") is not None:
                    service["targetPort"] = first["targetPort"]
                if len(ports) > 1:
                    self.scope.drop(
                        where,
                        f"the Service {name} has {len(ports)} ports; Ferry's Services carry one "
                        f"(port {first['port']})",
                    )
                return name, service
        port = _container_port(template)
        if port is not None:
            number, port_name = port
            service = {"port": number, "targetPort": port_name or number}
            self.scope.note(
                where,
                f"spec.service.port {number}: the pod template's first container port (no "
                f"Service {name} in the input)",
            )
        else:
            service = {"port": 80}
            self.scope.note(
                where,
                f"spec.service.port 80: no Service {name} in the input and no container port "
                "in the pod template; check it",
            )
        return name, service

    def _selecting_service(self, template: Obj) -> Document | None:
        labels = mapping(mapping(template.get("metadata")).get("labels"))
        for doc in self.ctx.documents:
            if doc.kind != "Service" or (
                doc.namespace and self.namespace and doc.namespace != self.namespace
            ):
                continue
            selector = mapping(doc.obj.get("spec")).get("selector") or {}
            if (
                selector
                and isinstance(selector, dict)
                and all(labels.get(k) == v for k, v in selector.items())
            ):
                return doc
        return None

    def _skeleton(self, service: Obj, strategy: Obj) -> Obj:
        return {
            "apiVersion": models.API_VERSION,
            "kind": models.KIND,
            "metadata": self.meta,
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.target},
                "service": service,
                "strategy": strategy,
            },
        }

    def _built(self, skeleton: Obj) -> Built | None:
        built = Built(self.ctx.checker, self.scope, skeleton)
        if built.refused:
            self.scope.drop((), f"Ferry refuses the Rollout it becomes: {'; '.join(built.refused)}")
            return None
        return built

    # -- canary --------------------------------------------------------------------------

    def _canary(self, strategy: Node, template: Obj) -> Built | None:
        canary = strategy.node("canary")
        stable, canary_service = canary.get("stableService"), canary.get("canaryService")
        name, service = self._service(stable, template, canary.at("stableService"))
        if canary_service is not None and canary_service != f"{name}-canary":
            self.scope.drop(
                canary.at("canaryService"),
                f"Ferry's canary Service is {name}-canary (it creates it); {canary_service} is "
                "no longer used",
            )
        built = self._built(self._skeleton({"name": name, **service}, {"canary": {"steps": []}}))
        if built is None:
            return None
        if "trafficRouting" in canary:
            routing = _traffic_routing(canary.node("trafficRouting"), self.namespace)
            if routing:
                built.put(canary.at("trafficRouting"), ["spec", "trafficRouting"], routing)
        kept: list[int] = []
        for i, item in enumerate(canary.items("steps")):
            step = _step(item)
            if step is None:
                continue
            if self._weightless(built, item, step) or built.append(item.path, STEPS, step):
                kept.append(i)
        if "analysis" in canary:
            node = canary.node("analysis")
            analysis = _analysis(node, background=True)
            start = node.get("startingStep")
            if isinstance(start, int) and not isinstance(start, bool):
                moved = sum(1 for i in kept if i < start)
                if moved != start:
                    self.scope.note(
                        node.at("startingStep"),
                        f"{start} -> {moved}: steps before it were not carried",
                    )
                if moved:
                    analysis["startingStep"] = moved
            elif start is not None:
                analysis["startingStep"] = start
            node.finish()
            built.put(node.path, ["spec", "strategy", "canary", "analysis"], analysis)
        if "abortScaleDownDelaySeconds" in canary:
            value = canary.get("abortScaleDownDelaySeconds")
            built.put(
                canary.at("abortScaleDownDelaySeconds"),
                ["spec", "strategy", "canary", "abortScaleDownDelaySeconds"],
                value,
            )
        canary.drop(
            "scaleDownDelaySeconds",
            "Ferry scales the canary down when the primary serves the promoted revision",
        )
        canary.drop("scaleDownDelayRevisionLimit", "Ferry keeps no older ReplicaSets scaled up")
        for key in ("maxSurge", "maxUnavailable"):
            canary.drop(
                key,
                "Ferry moves traffic by steps; the primary's Deployment rolls as its own "
                "strategy says",
            )
        canary.drop("antiAffinity", "Ferry sets no anti-affinity between the revisions")
        for key in ("canaryMetadata", "stableMetadata"):
            canary.drop(key, "Ferry adds no labels or annotations to the revisions' Pods")
        canary.drop("dynamicStableScale", NO_SCALE)
        canary.drop("minPodsPerReplicaSet", NO_SCALE)
        canary.drop("replicaProgressThreshold", NO_SCALE)
        canary.drop(
            "pingPong",
            "Ferry's stable revision is always <target>-primary behind <service>-primary",
        )
        canary.finish()
        return built

    def _weightless(self, built: Built, item: Node, step: Obj) -> bool:
        """An experiment step whose templates take a share of traffic the router cannot give:
        carried without the weights (Ferry runs the experiment, its templates get no traffic),
        each weight reported. False when that is not the case, or Ferry refuses it anyway."""
        templates = mapping(step.get("experiment")).get("templates")
        if not isinstance(templates, list) or not any(
            isinstance(t, dict) and "weight" in t for t in templates
        ):
            return False
        problems = built.checker.problems(_with_step(built.obj, step))
        if not problems or not any("share of traffic" in p for p in problems):
            return False
        bare = copy.deepcopy(step)
        for template in bare["experiment"]["templates"]:
            if isinstance(template, dict):
                template.pop("weight", None)
        if not built.append(item.path, STEPS, bare):
            return True
        for j, template in enumerate(templates):
            if isinstance(template, dict) and "weight" in template:
                self.scope.drop(
                    (*item.path, "experiment", "templates", j, "weight"),
                    refusal(problems, "the experiment runs, its templates get no traffic"),
                )
        return True

    # -- blue/green ----------------------------------------------------------------------

    def _blue_green(self, strategy: Node, template: Obj) -> Built | None:
        node = strategy.node("blueGreen")
        strategy.drop("canary", "Argo takes one strategy; blueGreen was converted")
        active = node.get("activeService")
        name, service = self._service(active, template, node.at("activeService"))
        built = self._built(self._skeleton(service, {"blueGreen": {"activeService": name}}))
        if built is None:
            return None
        for key in (
            "previewService",
            "autoPromotionEnabled",
            "autoPromotionSeconds",
            "previewReplicaCount",
            "scaleDownDelaySeconds",
            "abortScaleDownDelaySeconds",
        ):
            if key in node:
                value = node.get(key)
                built.put(node.at(key), ["spec", "strategy", "blueGreen", key], value)
        for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
            if key in node:
                analysis = _analysis(node.node(key))
                built.put(node.at(key), ["spec", "strategy", "blueGreen", key], analysis)
        node.drop("scaleDownDelayRevisionLimit", "Ferry keeps one previous revision warm, no more")
        node.drop("antiAffinity", "Ferry sets no anti-affinity between the revisions")
        for key in ("previewMetadata", "activeMetadata"):
            node.drop(key, "Ferry adds no labels or annotations to the revisions' Pods")
        node.drop("maxUnavailable", "the preview grows to full size before the switch")
        node.finish()
        return built

    # -- the rest of the spec ------------------------------------------------------------

    def _common(self, built: Built) -> None:
        spec = self.spec
        for key in ("progressDeadlineSeconds", "progressDeadlineAbort"):
            if key in spec:
                value = spec.get(key)
                built.put(spec.at(key), ["spec", key], value)
        if "revisionHistoryLimit" in spec:
            value = spec.get("revisionHistoryLimit")
            if isinstance(value, int) and not isinstance(value, bool) and value > 100:
                self.scope.drop(
                    spec.at("revisionHistoryLimit"),
                    f"Ferry keeps the configuration copies of at most 100 earlier revisions, "
                    f"not {value}: 100",
                )
                value = 100
            built.put(spec.at("revisionHistoryLimit"), ["spec", "revisionHistoryLimit"], value)
        spec.drop(
            "paused",
            "Ferry never takes a pause from the spec (Git owns it): kubectl ferry pause",
        )
        spec.drop(
            "restartAt", "Ferry takes a restart as a command (kubectl ferry), never from the spec"
        )
        spec.drop("rollbackWindow", "Ferry rolls back to the stable revision only")
        spec.drop(
            "analysis",
            "Ferry keeps the AnalysisRuns of the current attempt; it has no history limits",
        )
        if "replicas" in spec and "workloadRef" not in spec:
            spec.get("replicas")
        spec.skip("selector", "template", "replicas")


def _with_step(obj: Obj, step: Obj) -> Obj:
    candidate = copy.deepcopy(obj)
    candidate["spec"]["strategy"]["canary"]["steps"].append(step)
    return candidate


def _container_port(template: Obj) -> tuple[int, str] | None:
    containers = mapping(template.get("spec")).get("containers")
    for container in containers if isinstance(containers, list) else []:
        ports = mapping(container).get("ports")
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, dict) and isinstance(port.get("containerPort"), int):
                return port["containerPort"], str(port.get("name") or "")
    return None


def _traffic_routing(node: Node, namespace: str) -> Obj:
    """``spec.trafficRouting`` from Argo's ``strategy.canary.trafficRouting``."""
    out: Obj = {}
    if "managedRoutes" in node:
        out["managedRoutes"] = _copy(node.get("managedRoutes"))
    routers: list[tuple[str, Obj]] = []
    if "nginx" in node:
        routers.append(("nginx", _nginx(node.node("nginx"))))
    if "istio" in node:
        routers.append(("istio", _copy(node.get("istio"))))
    if "smi" in node:
        routers.append(("smi", _copy(node.get("smi"))))
    if "plugins" in node:
        plugins = node.node("plugins")
        if GATEWAY_PLUGIN in plugins:
            routers.append(("gatewayAPI", _gateway(plugins.node(GATEWAY_PLUGIN), namespace)))
        plugins.finish("Ferry has no traffic router of that plugin")
    for key in ("alb", "ambassador", "appMesh", "traefik", "apisix"):
        node.drop(
            key,
            f"Ferry has no {key} router (it has nginx, gatewayAPI, istio, smi): without one the "
            "canary's share of traffic is its share of replicas",
        )
    node.drop("maxTrafficWeight", "Ferry's weights are percentages (0-100)")
    node.finish()
    for name, _ in routers[1:]:
        node.scope.drop(node.at(name), f"Ferry takes one router; {routers[0][0]} was converted")
    if routers:
        out[routers[0][0]] = routers[0][1]
    elif "managedRoutes" in out:
        del out["managedRoutes"]
        node.scope.drop(node.at("managedRoutes"), "no router of Ferry's to route them")
    return out


def _nginx(node: Node) -> Obj:
    out: Obj = {}
    if "stableIngress" in node:
        out["stableIngress"] = node.get("stableIngress")
    ingresses = node.get("stableIngresses")
    if isinstance(ingresses, list) and ingresses:
        if "stableIngress" not in out:
            out["stableIngress"] = ingresses[0]
            rest = ingresses[1:]
        else:
            rest = ingresses
        if rest:
            node.scope.drop(
                node.at("stableIngresses"),
                f"Ferry's nginx router splits one Ingress ({out['stableIngress']}); {rest} not",
            )
    for key in ("annotationPrefix", "additionalIngressAnnotations"):
        if key in node:
            out[key] = _copy(node.get(key))
    extra = node.get("canaryIngressAnnotations")
    if isinstance(extra, dict) and extra:
        merged = dict(out.get("additionalIngressAnnotations") or {})
        merged.update({str(k): str(v) for k, v in extra.items()})
        out["additionalIngressAnnotations"] = merged
        node.scope.note(
            node.at("canaryIngressAnnotations"),
            "in additionalIngressAnnotations: Ferry puts both on its canary Ingress",
        )
    node.finish()
    return out


def _gateway(node: Node, namespace: str) -> Obj:
    """Argo's Gateway API plugin configuration as Ferry's ``gatewayAPI``."""
    out: Obj = {}
    for key in ("httpRoute", "grpcRoute"):
        if key in node:
            out[key] = node.get(key)
    for key in ("httpRoutes", "grpcRoutes"):
        routes = []
        for item in node.items(key):
            routes.append({"name": item.get("name")})
            item.note("useHeaderRoutes", "Ferry adds the header routes of its steps to the routes")
            item.finish()
        if routes:
            out[key] = routes
    for key in ("tcpRoute", "tcpRoutes"):
        node.drop(key, "Ferry's gatewayAPI router splits HTTPRoutes and GRPCRoutes")
    route_ns = node.get("namespace")
    if route_ns and namespace and route_ns != namespace:
        node.scope.drop(
            node.at("namespace"),
            "Ferry splits routes in the Rollout's own namespace only (no ReferenceGrant yet)",
        )
    node.drop("configMap", "Ferry keeps what it changed in the route's own annotation")
    node.finish()
    return out


def _step(node: Node) -> Obj | None:
    if not node.is_mapping or len(node.value) != 1:
        node.scope.drop(node.path, "a step holds exactly one action")
        return None
    (kind,) = node.value
    if kind == "setWeight":
        return {"setWeight": node.get(kind)}
    if kind == "pause":
        pause = node.node("pause")
        out: Obj = {}
        if "duration" in pause:
            out["duration"] = pause.get("duration")
        pause.finish()
        return {"pause": out}
    if kind == "analysis":
        return {"analysis": _analysis(node.node("analysis"))}
    if kind == "experiment":
        return {"experiment": _experiment_step(node.node("experiment"))}
    if kind in ("setHeaderRoute", "setMirrorRoute"):
        return {kind: _copy(node.get(kind))}
    if kind == "setCanaryScale":
        node.drop(kind, NO_SCALE)
        return None
    if kind == "plugin":
        node.drop(kind, "Ferry runs no step plugins")
        return None
    node.drop(kind, f"Ferry has no {kind!r} step")
    return None


def _analysis(node: Node, *, background: bool = False) -> Obj:
    """An analysis step, the background analysis or a blue/green analysis: templates and args."""
    templates: list[Obj] = []
    for item in node.items("templates"):
        ref = {k: item.get(k) for k in ("templateName", "clusterScope") if k in item}
        item.finish()
        templates.append(ref)
    if "templateName" in node:
        templates.append({"templateName": node.get("templateName")})
        node.scope.note(node.at("templateName"), "Argo's old single template: in templates")
    out: Obj = {"templates": templates}
    if "args" in node:
        out["args"] = _copy(node.get("args"))
    for key in ("dryRun", "measurementRetention", "analysisRunMetadata"):
        node.drop(key, NO_ANALYSIS_RUN_OPTIONS)
    if background:
        node.skip("startingStep")
    else:
        node.finish()
    return out


def _experiment_step(node: Node) -> Obj:
    out: Obj = {}
    if "duration" in node:
        out["duration"] = node.get("duration")
    templates = []
    for item in node.items("templates"):
        template = {k: item.get(k) for k in ("name", "specRef", "replicas", "weight") if k in item}
        if "service" in item:
            item.get("service")
            template["service"] = {}
            service = item.value.get("service")
            if isinstance(service, dict) and service.get("name"):
                item.scope.drop(
                    item.at("service", "name"),
                    "Ferry names a step's template Service itself (<experiment>-<template>)",
                )
        for key in ("metadata", "selector"):
            item.drop(
                key,
                "Ferry runs the stable or canary revision's Pods with the selector labels "
                "suffixed with the template's name",
            )
        item.finish()
        templates.append(template)
    out["templates"] = templates
    if "analyses" in node:
        out["analyses"] = _copy(node.get("analyses"))
    for key in ("dryRun", "measurementRetention", "analysisRunMetadata"):
        node.drop(key, NO_ANALYSIS_RUN_OPTIONS)
    node.finish()
    return out


# -- AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun ---------------------------------


def analysis_object(ctx: Context, doc: Document, scope: Scope) -> list[Obj]:
    found = opened(scope, doc)
    if found is None:
        return []
    root, meta = found
    spec = root.node("spec")
    converted = analysis_spec(ctx, scope, doc.kind, meta, spec)
    root.finish()
    return [converted] if converted is not None else []


def analysis_spec(ctx: Context, scope: Scope, kind: str, meta: Obj, spec: Node) -> Obj | None:
    """A template's (or run's) spec: arguments, then metrics one by one, then the dryRun and
    measurementRetention rules, each checked by Ferry as it is added."""

    def obj(args: list[Obj], metrics: list[Obj]) -> Obj:
        body: Obj = {"metrics": metrics}
        if args:
            body["args"] = args
        return {"apiVersion": models.API_VERSION, "kind": kind, "metadata": meta, "spec": body}

    probe = {"name": "probe", "provider": {"web": {"url": "http://probe.invalid"}}}
    args: list[Obj] = []
    for item in spec.items("args"):
        spec_arg = _copy(item.raw)
        problems = ctx.checker.problems(obj([*args, spec_arg], [probe]))
        if problems:
            scope.drop(item.path, refusal(problems))
        else:
            args.append(spec_arg)
    metrics: list[Obj] = []
    for item in spec.items("metrics"):
        metric = _metric(item)
        if metric is None:
            continue
        problems = ctx.checker.problems(obj(args, [*metrics, metric]))
        if problems:
            scope.drop(item.path, refusal(problems, "Ferry refuses the metric"))
        else:
            metrics.append(metric)
    if not metrics:
        scope.drop((), "none of its metrics could be carried, and Ferry needs one")
        spec.skip("dryRun", "measurementRetention", "terminate")
        spec.finish()
        return None
    built = Built(ctx.checker, scope, obj(args, metrics))
    for key in ("dryRun", "measurementRetention"):
        for item in spec.items(key):
            rule = _copy(item.raw)
            built.append(item.path, ["spec", key], rule)
    if kind == "AnalysisRun" and "terminate" in spec:
        value = spec.get("terminate")
        built.put(spec.at("terminate"), ["spec", "terminate"], value)
    spec.finish()
    if built.refused:
        scope.drop((), f"Ferry refuses the {kind} it becomes: {'; '.join(built.refused)}")
        return None
    return built.obj


METRIC_FIELDS = (
    "name",
    "interval",
    "initialDelay",
    "count",
    "successCondition",
    "failureCondition",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
)


def _metric(node: Node) -> Obj | None:
    out: Obj = {k: _copy(node.get(k)) for k in METRIC_FIELDS if k in node}
    if "maxFailures" in node:
        if "failureLimit" in out:
            node.drop("maxFailures", "failureLimit is given too (maxFailures is its old name)")
        else:
            out["failureLimit"] = node.get("maxFailures")
            node.scope.note(node.at("maxFailures"), "Argo's old name of failureLimit")
    node.drop(
        "consecutiveSuccessLimit",
        "Ferry decides a metric by failureLimit and inconclusiveLimit over count measurements",
    )
    provider = _provider(node.node("provider"), str(out.get("name")))
    node.finish()
    if provider is None:
        return None
    out["provider"] = provider
    return out


def _provider(node: Node, metric: str) -> Obj | None:
    names = list(node.value)
    if not node.is_mapping or len(names) != 1:
        node.scope.drop(node.path, f"metric {metric}: a provider block names exactly one provider")
        return None
    (name,) = names
    if name not in PROVIDERS:
        node.drop(
            name,
            f"Ferry has no {name} metric provider (it has {', '.join(PROVIDERS)}): the metric "
            f"{metric} is left out",
        )
        return None
    inner = node.node(name)
    if name == "prometheus":
        out = {
            k: _copy(inner.get(k))
            for k in ("address", "query", "timeout", "insecure", "headers")
            if k in inner
        }
        inner.drop(
            "authentication",
            "Ferry sends a credential as a header: headers with a value from an argument "
            "(valueFrom.secretKeyRef)",
        )
    elif name == "web":
        out = {
            k: _copy(inner.get(k))
            for k in ("url", "method", "headers", "body", "jsonPath", "timeoutSeconds", "insecure")
            if k in inner
        }
        if "jsonBody" in inner:
            body = inner.get("jsonBody")
            out["body"] = json.dumps(body, separators=(",", ":"))
            headers = out.setdefault("headers", [])
            if isinstance(headers, list) and not any(
                isinstance(h, dict) and str(h.get("key", "")).lower() == "content-type"
                for h in headers
            ):
                headers.append({"key": "Content-Type", "value": "application/json"})
            inner.scope.note(inner.at("jsonBody"), "sent as body, with Content-Type JSON")
        inner.drop(
            "authentication",
            "Ferry sends a credential as a header: headers with a value from an argument",
        )
    else:
        out = {k: _copy(inner.get(k)) for k in ("metadata", "spec") if k in inner}
    inner.finish()
    node.finish()
    return {name: out}


# -- Experiment ----------------------------------------------------------------------------


def experiment(ctx: Context, doc: Document, scope: Scope) -> list[Obj]:
    found = opened(scope, doc)
    if found is None:
        return []
    root, meta = found
    spec = root.node("spec")

    def obj(templates: list[Obj]) -> Obj:
        return {
            "apiVersion": models.API_VERSION,
            "kind": models.EXPERIMENT_KIND,
            "metadata": meta,
            "spec": {"templates": templates},
        }

    templates: list[Obj] = []
    for item in spec.items("templates"):
        template = {
            k: _copy(item.get(k))
            for k in ("name", "replicas", "minReadySeconds", "selector", "template", "service")
            if k in item
        }
        item.finish()
        problems = ctx.checker.problems(obj([*templates, template]))
        if problems:
            scope.drop(item.path, refusal(problems, "Ferry refuses the template"))
        else:
            templates.append(template)
    if not templates:
        scope.drop((), "none of its templates could be carried, and an Experiment needs one")
        return []
    built = Built(ctx.checker, scope, obj(templates))
    for key in ("duration", "progressDeadlineSeconds", "scaleDownDelaySeconds", "terminate"):
        if key in spec:
            value = spec.get(key)
            built.put(spec.at(key), ["spec", key], value)
    for item in spec.items("analyses"):
        analysis = _copy(item.raw)
        built.append(item.path, ["spec", "analyses"], analysis)
    for key in ("dryRun", "measurementRetention", "analysisRunMetadata"):
        spec.drop(key, NO_ANALYSIS_RUN_OPTIONS)
    spec.finish()
    root.finish()
    if built.refused:
        scope.drop((), f"Ferry refuses the Experiment it becomes: {'; '.join(built.refused)}")
        return []
    return [built.obj]
