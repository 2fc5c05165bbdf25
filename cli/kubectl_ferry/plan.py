"""``kubectl ferry plan FILE... [--name NAME]``: the timeline a Rollout would follow, before it
is applied.

The Rollout is read as Ferry reads it (``kubectl ferry lint``'s checks first: a Rollout that
would be refused is not planned) and its steps are walked in order: the traffic split each
``setWeight`` leaves (and an experiment's templates' shares), pauses with their duration or
until promoted, analyses with their templates (taken from the other files given) and their
metrics rendered with the arguments the step passes (``shared.analysis.arguments`` and
``validation``: what an AnalysisRun would measure), experiments, gates (``spec.webhooks``),
load, header, cookie and mirror routes, and the background analysis. The earliest the rollout
can be done is the sum of the timed pauses, analyses and experiments, each analysis as long as
Ferry's own scheduling (``shared.analysis.decisions``) takes to reach its ``count``; what has
no end of its own (a pause until promoted, a metric without ``count``, a gate a person opens)
is listed. Each router's ``preview`` (``shared.routers``) renders the routing objects it would
write at each weight from the user's objects in the files (a stand-in when they are not there).

Pure but for reading the files; ``-o json`` prints the same plan for machines.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.kubectl_ferry import lint, views
from shared import models, routers, workloads
from shared.analysis import arguments, decisions, model, validation
from shared.analysis.measurements import Measurement
from shared.analysis.model import MeasurementPhase

Obj = dict[str, Any]
PLANNED, INVALID, UNREADABLE = 0, 1, 2
"""Exit codes of ``plan``."""
MAX_MEASUREMENTS = 100_000
"""Measurements simulated per metric at most (a count beyond is reported as unbounded)."""


def duration_text(seconds: float) -> str:
    """``90`` as ``1m30s``, ``3600`` as ``1h``, ``0.5`` as ``500ms``."""
    if seconds < 1 and seconds:
        return f"{seconds * 1000:g}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


# -- analyses ---------------------------------------------------------------------------------


@dataclass
class MetricPlan:
    name: str
    provider: str
    rendered: Obj
    """The provider's block with the arguments substituted (secrets masked)."""
    interval: float | None
    count: int | None
    initial_delay: float
    minimum: float | None
    """Seconds until it completes when every measurement succeeds; None: never on its own."""
    dry_run: bool = False

    def to_dict(self) -> Obj:
        return {
            "name": self.name,
            "provider": self.provider,
            self.provider: self.rendered,
            "interval": self.interval,
            "count": self.count,
            "initialDelay": self.initial_delay,
            "minimumSeconds": self.minimum,
            "dryRun": self.dry_run,
        }


@dataclass
class AnalysisPlan:
    templates: list[str]
    missing: list[str] = field(default_factory=list)
    """Templates that are not in the files (their metrics cannot be shown)."""
    args: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricPlan] = field(default_factory=list)
    problem: str = ""

    @property
    def known(self) -> bool:
        """Whether its metrics are known (every template given, and they render)."""
        return not self.missing and not self.problem

    @property
    def minimum(self) -> float | None:
        """Seconds until the run completes when every measurement succeeds (the longest of its
        metrics); None when one never completes on its own; 0 when unknown (not counted)."""
        found = [m.minimum for m in self.metrics]
        if any(m is None for m in found):
            return None
        return max((m for m in found if m is not None), default=0.0)

    def to_dict(self) -> Obj:
        return {
            "templates": self.templates,
            "notInFiles": self.missing,
            "args": self.args,
            "metrics": [m.to_dict() for m in self.metrics],
            "minimumSeconds": self.minimum,
            "problem": self.problem or None,
        }


def metric_minimum(metric: model.Metric) -> float | None:
    """How long ``metric`` takes to complete when every measurement succeeds at once, as Ferry
    schedules them (``decisions.next_measurement_at``); None when it never completes on its own
    (no ``count``: measured until the run ends)."""
    if metric.count is None:
        return None
    taken: list[Measurement] = []
    while len(taken) < MAX_MEASUREMENTS:
        due = decisions.next_measurement_at(metric, taken, 0.0)
        if due is None:
            return taken[-1].finished_at if taken else 0.0
        taken.append(Measurement(MeasurementPhase.SUCCESSFUL, due, due))
    return None


def analysis_plan(
    refs: Sequence[models.TemplateRef],
    args: Sequence[models.AnalysisArg],
    owner: Obj,
    objects: Sequence[lint.Found],
) -> AnalysisPlan:
    """An analysis's templates and their metrics with the arguments given rendered (a
    revision's pod template hash shown as ``<stable pod-template-hash>``, secrets masked)."""
    namespace = (owner.get("metadata") or {}).get("namespace") or None
    plan = AnalysisPlan([r.name for r in refs])
    templates: list[model.Template] = []
    for ref in refs:
        found = lint.find_template(objects, ref, namespace)
        if found is None or not isinstance(found.parsed, model.Template):
            plan.missing.append(ref.name)
        else:
            templates.append(found.parsed)
    given, _ = lint.given_args(args, owner, lambda which: f"<{which.lower()} pod-template-hash>")
    plan.args = {a.name: str(a.value) for a in given}
    if plan.missing:
        return plan
    try:
        merged = validation.merge_templates(templates)
        resolved = arguments.resolve_args(
            merged.args,
            given,
            secret=lambda name, key: arguments.MASK,
            field=lambda path: arguments.field_value(owner, path),
        )
        plan.args = resolved.masked()
        metrics = validation.metrics(merged, resolved)
    except models.InvalidSpec as exc:
        plan.problem = "; ".join(exc.problems)
        return plan
    for metric in metrics:
        plan.metrics.append(
            MetricPlan(
                metric.name,
                metric.provider,
                dict(metric.config),
                metric.interval,
                metric.count,
                metric.initial_delay,
                metric_minimum(metric),
                metric.dry_run,
            )
        )
    return plan


# -- the timeline -----------------------------------------------------------------------------


@dataclass
class StepPlan:
    index: int
    kind: str
    text: str
    starts: float
    """Seconds from the start at the earliest (when nothing before it waits for a person)."""
    minimum: float | None = 0.0
    """Seconds the step takes at least; None: it has no end of its own."""
    waits_for: str = ""
    split: dict[str, int] | None = None
    """The traffic once the step is done, when it changes it: ``canary``, ``stable`` and each
    experiment template's Service."""
    written: list[routers.Written] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    """The gates that hold the rollout before the step."""
    analysis: AnalysisPlan | None = None
    analyses: dict[str, AnalysisPlan] = field(default_factory=dict)
    """An experiment step's analyses, by name."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> Obj:
        return {
            "step": self.index,
            "kind": self.kind,
            "text": self.text,
            "startsAtSeconds": self.starts,
            "minimumSeconds": self.minimum,
            "waitsFor": self.waits_for or None,
            "gates": self.gates,
            "split": self.split,
            "routing": [_written_dict(w) for w in self.written],
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "analyses": {k: v.to_dict() for k, v in self.analyses.items()},
            "notes": self.notes,
        }


def _written_dict(written: routers.Written) -> Obj:
    return {"object": written.obj, "standIn": written.assumed or None}


@dataclass
class Plan:
    spec: models.RolloutSpec
    router: str
    steps: list[StepPlan]
    before: list[str]
    """What happens before the first step (gates, the canary scaled up)."""
    promotion: StepPlan
    background: AnalysisPlan | None
    background_from: int
    minimum: float
    unbounded: list[str]
    """What has no end of its own, in order."""
    after: list[str]

    def to_dict(self) -> Obj:
        spec = self.spec
        return {
            "name": spec.name,
            "namespace": spec.namespace,
            "strategy": spec.strategy,
            "router": self.router,
            "before": self.before,
            "steps": [s.to_dict() for s in self.steps],
            "promotion": self.promotion.to_dict(),
            "backgroundAnalysis": (
                None
                if self.background is None
                else {"startingStep": self.background_from + 1, **self.background.to_dict()}
            ),
            "minimumSeconds": self.minimum,
            "bounded": not self.unbounded,
            "unbounded": self.unbounded,
            "after": self.after,
        }


def _finder(docs: Sequence[lint.Doc]) -> routers.Found:
    """The user's objects of the files, by kind and name (for the routers' previews)."""
    by_key: dict[tuple[str, str], Obj] = {}
    for doc in docs:
        for member in lint.members(doc):
            obj = member.obj
            if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
                by_key.setdefault((str(obj.get("kind")), str(obj["metadata"].get("name"))), obj)

    def found(kind: str, name: str) -> Obj | None:
        return by_key.get((kind, name))

    return found


def _stable_pods(spec: models.RolloutSpec, target: Obj | None) -> int | None:
    """The replicas the primary is created with (``shared.workloads``, as ``initialize``),
    when they are known here: ``spec.replicas``, or the target Deployment's in the files."""
    if spec.replicas is None:
        if target is None:
            return None
        body = target.get("spec")
        replicas = body.get("replicas", 1) if isinstance(body, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return None  # not a Deployment the API server would take: not ours to lint
    return workloads.stable_replicas(spec, target)


def _gate(hook: models.Hook, ns_flag: str, rollout: str) -> str:
    if hook.url:
        every = duration_text(hook.interval)
        return f"{hook.type} {hook.name}: calls {hook.url} every {every} until it answers 2xx"
    return f"{hook.type} {hook.name}: waits for kubectl ferry confirm {rollout}{ns_flag}"


def _step_text(spec: models.RolloutSpec, raw_steps: list[Any], index: int) -> str:
    if spec.blue_green is not None:
        return spec.step_text(index)
    raw = raw_steps[index] if index < len(raw_steps) else {}
    return views.describe_step(raw)


def build(rollout: lint.Found, objects: Sequence[lint.Found], docs: Sequence[lint.Doc]) -> Plan:
    """The plan of a valid Rollout (``rollout.parsed``), its templates among ``objects``."""
    spec = rollout.parsed
    assert isinstance(spec, models.RolloutSpec)
    obj = rollout.obj
    found = _finder(docs)
    ns_flag = "" if spec.namespace == "default" else f" -n {spec.namespace}"
    promote = f"kubectl ferry promote {spec.name}{ns_flag}"
    confirm = f"kubectl ferry confirm {spec.name}{ns_flag}"
    raw_steps = list(
        ((obj.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
    )
    gates = {t: [_gate(h, ns_flag, spec.name) for h in spec.hooks_of(t)] for t in models.HOOK_TYPES}
    manual = {t: [h.name for h in spec.hooks_of(t) if not h.url] for t in models.HOOK_TYPES}
    unbounded: list[str] = []
    before = []
    for kind in ("confirm-rollout", "pre-rollout"):
        before += gates[kind]
        if manual[kind]:
            unbounded.append(f"the {kind} gate ({confirm})")
    scaled = "the canary is" if spec.blue_green is None else "the preview (Service "
    if spec.blue_green is not None:
        scaled += f"{spec.blue_green.preview_service}) is"
    before.append(
        f"{scaled} scaled up and must be ready within {spec.progress_deadline}s "
        "(progressDeadlineSeconds)"
    )
    if spec.load_test is not None:
        before.append(f"load: {spec.load_test.rps} rps from the first step (spec.loadTest)")
    weight = 0
    active: tuple[int, ...] = ()
    clock = 0.0
    steps: list[StepPlan] = []

    def traffic(backends: tuple[routers.Backend, ...] = ()) -> routers.Traffic:
        return routers.Traffic(weight, models.routes_at(spec.steps, active), backends)

    def split(now: routers.Traffic) -> dict[str, int]:
        if spec.blue_green is not None:
            return {"new revision": now.weight, "previous revision": now.stable}
        shares = {"canary": now.weight, "stable": now.stable}
        shares.update({b.service: b.weight for b in now.backends})
        return shares

    stable_pods = _stable_pods(spec, found("Deployment", spec.target))

    def pods(now: routers.Traffic) -> list[str]:
        """Without routing objects, a weight is the canary's share of Pods."""
        if not routers.by_replicas(spec.router):
            return []
        if stable_pods is None:
            return [f"the canary runs {now.weight}% of the stable replicas, rounded up"]
        canary = routers.share_of(now.weight, stable_pods)
        return [f"the canary runs {canary} Pods beside the stable {stable_pods}"]

    for i, step in enumerate(spec.steps):
        plan = StepPlan(i + 1, models.step_kind(step), _step_text(spec, raw_steps, i), clock)
        if models.raises_weight(step, weight):
            plan.gates = list(gates["confirm-traffic-increase"])
            if manual["confirm-traffic-increase"]:
                unbounded.append(f"step {i + 1}: the confirm-traffic-increase gate ({confirm})")
        if isinstance(step, models.SetWeight):
            weight = step.weight
            now = traffic()
            plan.split = split(now)
            plan.written = routers.preview(spec.router, spec, now, found)
            plan.notes += pods(now)
        elif isinstance(step, models.ROUTE_STEPS):
            active = models.routes_after(spec.steps, active, i)
            now = traffic()
            plan.split = split(now)
            plan.written = routers.preview(spec.router, spec, now, found)
        elif isinstance(step, models.Pause):
            plan.minimum = step.duration
            if step.duration is None:
                plan.waits_for = promote
                unbounded.append(f"step {i + 1}: the pause until promoted ({promote})")
        elif isinstance(step, models.Analysis):
            plan.analysis = analysis_plan(step.templates, step.args, obj, objects)
            plan.minimum = plan.analysis.minimum
            if not plan.analysis.known:
                plan.notes.append("its metrics are not known here: its time is not counted")
            elif plan.minimum is None:
                unbounded.append(
                    f"step {i + 1}: the analysis has a metric without count (measured until "
                    "it fails or the step is promoted)"
                )
        elif isinstance(step, models.Experiment):
            backends = tuple(
                routers.Backend(f"{spec.name}-<revision>-<attempt>-{i}-{t.name}", t.weight)
                for t in step.templates
                if t.weight
            )
            for analysis in step.analyses:
                plan.analyses[analysis.name] = analysis_plan(
                    (analysis.template,), analysis.args, obj, objects
                )
            required = [plan.analyses[a.name].minimum for a in step.analyses if a.required]
            if step.duration is not None:
                plan.minimum = step.duration
                plan.notes.append("from when every template is available")
            elif required and all(m is not None for m in required):
                plan.minimum = max(m for m in required if m is not None)
            else:
                plan.minimum = None
                unbounded.append(f"step {i + 1}: the experiment has no duration")
            if backends:
                now = traffic(backends)
                plan.split = split(now)
                plan.written = routers.preview(spec.router, spec, now, found)
                plan.notes.append("its templates' shares end with the experiment")
        elif isinstance(step, models.Load):
            rps = step.load.rps
            plan.notes.append(f"load {rps} rps from here on" if rps else "load stopped")
        if plan.minimum is not None:
            clock += plan.minimum
        steps.append(plan)
    end = StepPlan(len(spec.steps) + 1, "promotion", "", clock)
    end.gates = list(gates["confirm-promotion"])
    if manual["confirm-promotion"]:
        unbounded.append(f"the confirm-promotion gate ({confirm})")
    if spec.blue_green is None:
        end.text = "the stable revision takes the new template and all traffic"
        weight, active = 0, ()
        now = traffic()
        end.split = split(now)
        end.written = routers.preview(spec.router, spec, now, found)
    else:
        end.text = "the new revision is the stable one (the previous one is scaled down)"
    background = None
    background_from = 0
    if spec.background_analysis is not None:
        bg = spec.background_analysis
        background = analysis_plan(bg.templates, bg.args, obj, objects)
        background_from = bg.starting_step
    after = list(gates["post-rollout"])
    rollback = gates["rollback"]
    if rollback:
        after = [f"while it runs: {g}" for g in rollback] + after
    return Plan(
        spec,
        spec.router,
        steps,
        before,
        end,
        background,
        background_from,
        clock,
        unbounded,
        after,
    )


# -- rendering --------------------------------------------------------------------------------


def _refs(refs: list[Obj], name_of: Any) -> str:
    parts = []
    for ref in refs:
        if isinstance(ref, dict):
            weight = ref.get("weight")
            parts.append(f"{name_of(ref)}" + ("" if weight is None else f"={weight}"))
    return ", ".join(parts) or "-"


def _destination(ref: Obj) -> str:
    destination = ref.get("destination") or {}
    host = str(destination.get("host"))
    return host + (f"/{destination['subset']}" if destination.get("subset") else "")


def routing_lines(written: routers.Written) -> list[str]:
    """A routing object in a few lines: an Ingress's annotations, a route's weights per rule,
    a TrafficSplit's backends."""
    obj = written.obj
    kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
    head = f"{kind} {name}"
    spec = obj.get("spec") or {}
    lines: list[str] = []
    if kind == "Ingress":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(annotations.items()))
        lines.append(f"{head}: {shown}")
    elif kind in ("HTTPRoute", "GRPCRoute"):
        lines.append(f"{head}:")
        for i, rule in enumerate(spec.get("rules") or []):
            label = rule.get("name") or f"rule {i}"
            extra = ""
            for f in rule.get("filters") or []:
                mirror = (f or {}).get("requestMirror")
                if mirror:
                    to = (mirror.get("backendRef") or {}).get("name")
                    extra += f" (mirror {mirror.get('percent', 100)}% to {to})"
            headers = [h for m in rule.get("matches") or [] for h in m.get("headers") or []]
            if headers and str(label).startswith("ferry-"):
                extra += (
                    " ("
                    + ", ".join(
                        f"{h.get('name')} {h.get('type')} {h.get('value')}" for h in headers
                    )
                    + ")"
                )
            lines.append(
                f"  {label}: {_refs(rule.get('backendRefs') or [], lambda r: r.get('name'))}{extra}"
            )
    elif kind == "VirtualService":
        lines.append(f"{head}:")
        for section in ("http", "tcp", "tls"):
            for i, rule in enumerate(spec.get(section) or []):
                label = f"{section}[{rule.get('name') or i}]"
                extra = ""
                if rule.get("mirror"):
                    percent = (rule.get("mirrorPercentage") or {}).get("value", 100)
                    extra = f" (mirror {percent:g}% to {rule['mirror'].get('host')})"
                headers = [h for m in rule.get("match") or [] for h in (m.get("headers") or {})]
                if headers and str(rule.get("name", "")).startswith("ferry-"):
                    extra += f" (headers {', '.join(headers)})"
                lines.append(f"  {label}: {_refs(rule.get('route') or [], _destination)}{extra}")
    elif kind == "TrafficSplit":
        backends = ", ".join(
            f"{b.get('service')}={b.get('weight')}" for b in spec.get("backends") or []
        )
        lines.append(f"{head} (service {spec.get('service')}): {backends}")
    else:
        lines.append(f"{head}: {json.dumps(spec, sort_keys=True)}")
    return lines


def _split_text(split: dict[str, int] | None) -> str:
    if split is None:
        return ""
    return ", ".join(f"{k} {v}%" for k, v in split.items())


def _analysis_lines(plan: AnalysisPlan, indent: str) -> list[str]:
    lines = []
    if plan.args:
        lines.append(f"{indent}args: " + ", ".join(f"{k}={v}" for k, v in plan.args.items()))
    for name in plan.missing:
        lines.append(
            f"{indent}template {name}: not in these files (Ferry reads it from the cluster)"
        )
    if plan.problem:
        lines.append(f"{indent}cannot render: {plan.problem}")
    for metric in plan.metrics:
        when = "once"
        if metric.interval is not None:
            every = duration_text(metric.interval)
            when = f"{metric.count} times, every {every}" if metric.count else f"every {every}"
        if metric.initial_delay:
            when += f", first after {duration_text(metric.initial_delay)}"
        least = "never on its own" if metric.minimum is None else duration_text(metric.minimum)
        dry = " (dry run)" if metric.dry_run else ""
        lines.append(f"{indent}{metric.name}{dry}: {metric.provider}, {when}; done after {least}")
        shown = dict(metric.rendered)
        for key in ("query", "url"):
            if key in shown:
                lines.append(f"{indent}  {key}: {' '.join(str(shown[key]).split())}")
    return lines


def _stand_in(plan: Plan) -> str:
    """What a router's ``preview`` made of the routing objects not given (``routers.Written``)."""
    if plan.router == "nginx":  # the canary Ingress copies the stable Ingress's rules
        return (
            "so the canary Ingress is shown without the hosts and paths it copies from it "
            "(pass its file too)"
        )
    return (
        "so a minimal one sending all traffic to the stable revision stands in for it "
        "(pass its file too)"
    )


def text(plan: Plan) -> str:
    """The plan in the plugin's style (``views``): labelled rows, then numbered steps."""
    spec = plan.spec
    strategy = spec.strategy + f", {len(spec.steps)} steps"
    rows = [
        ("Name", spec.name),
        ("Namespace", spec.namespace),
        ("Strategy", strategy),
        ("Router", plan.router),
    ]
    assumed = sorted(
        {w.assumed for s in [*plan.steps, plan.promotion] for w in s.written if w.assumed}
    )
    if assumed:
        rows.append(("Stand-ins", f"{', '.join(assumed)}: not in these files, {_stand_in(plan)}"))
    lines = [f"{label + ':':<12}{value}" for label, value in rows]
    lines.append("Before:")
    lines += [f"  {line}" for line in plan.before]
    lines.append("Steps:" if plan.steps else "Steps:      none")
    width = max((len(s.text) for s in plan.steps), default=0)
    for step in [*plan.steps, plan.promotion]:
        for gate in step.gates:
            lines.append(f"      gate: {gate}")
        if step.kind == "promotion":
            at = f"at {duration_text(step.starts)}"
            split = f"; {_split_text(step.split)}" if step.split else ""
            lines.append(f"Promotion:  {at}: {step.text}{split}")
            lines += [f"        {line}" for w in step.written for line in routing_lines(w)]
            continue
        label = f"{step.index:>2}."
        took = ""
        if step.kind in ("pause", "analysis", "experiment"):
            took = (
                "until promoted"
                if step.waits_for
                else ("no end of its own" if step.minimum is None else duration_text(step.minimum))
            )
            if step.analysis and not step.analysis.known:
                took = "unknown"
        start = f"at {duration_text(step.starts)}"
        columns = [c for c in (start, took, _split_text(step.split)) if c]
        lines.append(f"  {label} {step.text:<{width}}  {'   '.join(columns)}")
        indent = "        "
        for written in step.written:
            lines += [f"{indent}{line}" for line in routing_lines(written)]
        if step.analysis is not None:
            lines += _analysis_lines(step.analysis, indent)
        for name, analysis in step.analyses.items():
            lines.append(f"{indent}analysis {name} ({', '.join(analysis.templates)}):")
            lines += _analysis_lines(analysis, indent + "  ")
        lines += [f"{indent}({note})" for note in step.notes]
    if plan.background is not None:
        lines.append(
            f"Background analysis: from step {plan.background_from + 1} until the rollout ends "
            f"({', '.join(plan.background.templates)})"
        )
        lines += _analysis_lines(plan.background, "  ")
    else:
        lines.append("Background analysis: none")
    if plan.after:
        lines.append("After:")
        lines += [f"  {line}" for line in plan.after]
    least = f"Minimum time: {duration_text(plan.minimum)}"
    if plan.unbounded:
        least += ", plus what has no end of its own:"
    lines.append(least)
    lines += [f"  {item}" for item in plan.unbounded]
    return "\n".join(lines)


# -- the command ------------------------------------------------------------------------------


def run(session: object, args: argparse.Namespace) -> int:
    """The command (``session`` is None: it needs no cluster; its options are in
    ``cli.kubectl_ferry.main``, which imports this module only to run it)."""
    crds = lint.crds_of(args)
    if crds is None:
        return UNREADABLE
    docs, unreadable = lint.load(args.files)
    if unreadable:
        for line in unreadable:
            print(line, file=sys.stderr)
        return UNREADABLE
    report = lint.check(docs, crds)
    rollouts = [f for f in report.objects if f.kind == models.KIND]
    names = sorted(str((f.obj.get("metadata") or {}).get("name")) for f in rollouts)
    if args.name is not None:
        rollouts = [f for f in rollouts if (f.obj.get("metadata") or {}).get("name") == args.name]
    if not rollouts:
        where = f" named {args.name!r}" if args.name else ""
        print(
            f"error: no Rollout{where} in these files (found: {', '.join(names) or 'none'})",
            file=sys.stderr,
        )
        return INVALID
    if len(rollouts) > 1:
        print(
            f"error: these files hold several Rollouts ({', '.join(names)}): choose one with "
            "--name",
            file=sys.stderr,
        )
        return INVALID
    (rollout,) = rollouts
    for message in report.messages:
        print(message, file=sys.stderr)
    if not rollout.valid or not isinstance(rollout.parsed, models.RolloutSpec):
        name = (rollout.obj.get("metadata") or {}).get("name")
        print(
            f"error: Ferry would refuse Rollout {name!r}: fix it first (kubectl ferry lint)",
            file=sys.stderr,
        )
        return INVALID
    plan = build(rollout, report.objects, docs)
    if args.output == "json":
        print(json.dumps(plan.to_dict(), indent=2, default=str))
    else:
        print(text(plan))
    return INVALID if report.errors else PLANNED
