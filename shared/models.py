"""The Rollout resource as Ferry reads it: parsing, validation and derived names.

A Rollout's spec arrives as a dict (from the API or an event); :func:`parse` turns it into frozen
dataclasses or raises :class:`InvalidSpec` with every problem in one readable message. Names of
the objects Ferry manages (``<target>-primary``, ``<service>-canary``, ...) are derived here
and nowhere else. Pure data: no I/O.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

GROUP = "ferry.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Rollout"
PLURAL = "rollouts"
EXPERIMENT_KIND = "Experiment"
EXPERIMENT_PLURAL = "experiments"

FINALIZER = "ferry.dev/cleanup"
"""Keeps a deleted Rollout until Ferry has handed its target back."""
DEFAULT_PROGRESS_DEADLINE = 600
DEFAULT_ABORT_SCALE_DOWN_DELAY = 30
"""Seconds the canary keeps running after an abort (Argo's default; 0: never scaled down)."""
DEFAULT_SCALE_DOWN_DELAY = 30
"""Seconds the previous revision stays warm after a blue/green switch (Argo's default)."""
DEFAULT_REVISION_HISTORY_LIMIT = 3
"""Earlier stable revisions whose ConfigMap and Secret copies are kept."""
BY_REPLICAS = "noop"
"""The router of a canary without ``spec.trafficRouting``: weights as shares of replicas."""
BY_SELECTOR = "service"
"""The router of blue/green without ``spec.trafficRouting``: the active Service's selector."""
CANARY = "canary"
BLUE_GREEN = "blueGreen"
BLUE_GREEN_FIELDS = (
    "activeService",
    "previewService",
    "previewHeaderRoute",
    "autoPromotionEnabled",
    "autoPromotionSeconds",
    "prePromotionAnalysis",
    "postPromotionAnalysis",
    "previewReplicaCount",
    "scaleDownDelaySeconds",
    "abortScaleDownDelaySeconds",
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*(?<!-)$")
"""A Kubernetes port name (IANA_SVC_NAME): a letter somewhere, no leading, trailing or double
'-'; at most 15 characters."""


class InvalidSpec(ValueError):
    """The Rollout's spec cannot be acted on; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``5m``, ``1h30m``, ``500ms`` or a whole number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return float(text)
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    raise ValueError(
        f"invalid duration {value!r}: use a number of seconds or a duration like 30s, 5m, 1h30m"
    )


@dataclass(frozen=True)
class SetWeight:
    weight: int


@dataclass(frozen=True)
class Pause:
    duration: float | None
    """Seconds, or None for an indefinite pause (wait for a promote)."""


@dataclass(frozen=True)
class TemplateRef:
    """An AnalysisTemplate (or, with ``cluster_scope``, a ClusterAnalysisTemplate) by name."""

    name: str
    cluster_scope: bool = False


@dataclass(frozen=True)
class AnalysisArg:
    """An argument the Rollout passes to its templates: a value, the pod template hash of the
    stable or canary revision (``pod_template_hash``: ``Stable`` | ``Latest``), or a field of
    the Rollout (``field_path``, e.g. ``metadata.labels['app']``). Exactly one is set."""

    name: str
    value: str | None = None
    pod_template_hash: str | None = None
    field_path: str | None = None


@dataclass(frozen=True)
class Analysis:
    """A step: run an AnalysisRun of these templates and wait until it completes."""

    templates: tuple[TemplateRef, ...]
    args: tuple[AnalysisArg, ...] = ()


@dataclass(frozen=True)
class ExperimentAnalysis:
    """One analysis of an experiment (Argo's ``analyses[]``): a template and its arguments.
    ``required``: the experiment does not complete before it does (``requiredForCompletion``)."""

    name: str
    template: TemplateRef
    args: tuple[AnalysisArg, ...] = ()
    required: bool = False


SPEC_REFS = ("stable", "canary")
"""What an experiment step's template may run: the stable or the canary revision's Pods."""


@dataclass(frozen=True)
class ExperimentTemplate:
    """A template of an experiment step: ``replicas`` Pods of the stable or canary revision
    (``spec_ref``), with a Service of its own when ``service`` (or a ``weight``) asks;
    ``weight``: the percentage of live traffic it receives once the experiment runs (taken
    from the stable revision's share; routers that declare per-backend weights)."""

    name: str
    spec_ref: str
    replicas: int = 1
    weight: int | None = None
    service: bool = False


@dataclass(frozen=True)
class Experiment:
    """A step: run an Experiment (Argo's ``experiment`` step) and wait until it completes:
    Successful goes on, Failed or Error aborts the rollout."""

    templates: tuple[ExperimentTemplate, ...]
    analyses: tuple[ExperimentAnalysis, ...] = ()
    duration: float | None = None


@dataclass(frozen=True)
class BackgroundAnalysis:
    """``strategy.canary.analysis``: an AnalysisRun that runs beside the steps, from step
    ``starting_step`` until the rollout ends."""

    templates: tuple[TemplateRef, ...]
    args: tuple[AnalysisArg, ...] = ()
    starting_step: int = 0


@dataclass(frozen=True)
class BlueGreen:
    """``strategy.blueGreen`` (Argo Rollouts' fields), run as steps of their own
    (:func:`blue_green_steps`): the preview runs beside the stable revision with no production
    traffic, the pre-promotion analysis must pass, a pause waits for a promote (or
    ``autoPromotionSeconds``), then all traffic switches at once (``switch_step``: weight 100 in
    one write), the post-promotion analysis runs while the previous revision is kept warm, and
    it stays warm ``scaleDownDelaySeconds`` more before the primary takes the new template. An
    abort before that switches back at once."""

    active_service: str
    preview_service: str
    auto_promotion: bool = True
    auto_promotion_seconds: int | None = None
    pre_promotion: Analysis | None = None
    post_promotion: Analysis | None = None
    preview_replicas: int | None = None
    """Replicas of the preview until the switch (None: as many as the stable revision)."""
    scale_down_delay: int = 30
    switch_step: int = 0
    """The index of the switch (``setWeight: 100``) among the steps."""
    preview_route: bool = False
    """``previewHeaderRoute``: the first step sends requests with the header to the preview."""
    preview_named: bool = False
    """``previewService`` was given: the Service may be the user's (Git's), so Ferry sets its
    selector and ports but never owns or deletes it."""

    def replicas(self, step: int, stable: int) -> int:
        """The preview's replicas at step index ``step`` when the stable revision runs
        ``stable``: ``previewReplicaCount`` before the switch step, full size from it on."""
        if self.preview_replicas is None or step >= self.switch_step:
            return stable
        return self.preview_replicas


@dataclass(frozen=True)
class StringMatch:
    """How a request's header, path or method is matched: ``exact``, ``prefix`` or ``regex``
    (Argo Rollouts' ``headerValue`` and Istio's StringMatch)."""

    kind: str
    value: str


@dataclass(frozen=True)
class HeaderMatch:
    """``{headerName, headerValue: {exact|prefix|regex}}``."""

    name: str
    value: StringMatch


@dataclass(frozen=True)
class RequestMatch:
    """One way a request is matched: every one of its parts must match (an empty one matches
    every request)."""

    headers: tuple[HeaderMatch, ...] = ()
    method: StringMatch | None = None
    path: StringMatch | None = None


@dataclass(frozen=True)
class SetHeaderRoute:
    """A step: requests that match go to the canary, whatever the weight (Argo Rollouts'
    ``setHeaderRoute``); no ``match`` removes the route of that name."""

    name: str
    match: tuple[HeaderMatch, ...] = ()


@dataclass(frozen=True)
class SetMirrorRoute:
    """A step: ``percentage`` percent of the requests that match any of ``match`` are copied to
    the canary, its answers ignored (Argo Rollouts' ``setMirrorRoute``); no ``match`` removes
    the route of that name."""

    name: str
    match: tuple[RequestMatch, ...] = ()
    percentage: int = 100


@dataclass(frozen=True)
class SetCookieRoute:
    """A step: requests carrying the cookie ``cookie_name`` with the value ``value`` go to the
    canary, whatever the weight (ingress-nginx's ``canary-by-cookie``, whose value is
    ``always``); no ``cookie_name`` removes the route of that name."""

    name: str
    cookie_name: str = ""
    value: str = "always"

    @property
    def match(self) -> tuple[HeaderMatch, ...]:
        """The same route as a match on the Cookie header (for routers that match headers):
        the cookie anywhere in the header, with exactly that value."""
        if not self.cookie_name:
            return ()
        pattern = rf"^(.*?;\s*)?{re.escape(self.cookie_name)}={re.escape(self.value)}(;.*)?$"
        return (HeaderMatch("Cookie", StringMatch("regex", pattern)),)


RouteStep = SetHeaderRoute | SetMirrorRoute | SetCookieRoute


@dataclass(frozen=True)
class LoadTest:
    """Load Ferry generates while a canary runs (``spec.loadTest``, or a step's ``load``):
    ``rps`` requests a second, open-loop (a request not sent at its time because ``concurrency``
    requests are still waiting counts as missed: ``shared.loadgen``), ``paths`` in turn, with
    ``headers``, to ``url`` or to the Pods behind Service ``service`` (``shared.loads`` says
    which when neither is given), for ``duration`` seconds at most (None: until the rollout ends).
    ``stop_on_pause``: a person's pause stops it until resumed. ``rps`` 0 stops it."""

    rps: int
    concurrency: int = 8
    url: str = ""
    service: str = ""
    port: int = 0
    """The Service's port (0: the rollout's service port)."""
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    paths: tuple[str, ...] = ()
    """Empty: the URL's own path (``/`` for a Service)."""
    duration: float | None = None
    timeout: float = 5.0
    stop_on_pause: bool = True


@dataclass(frozen=True)
class Load:
    """A step: from here on, the load is this one (``rps: 0`` stops it); completes at once."""

    load: LoadTest


ROUTE_STEPS = (SetHeaderRoute, SetMirrorRoute, SetCookieRoute)
INSTANT_STEPS = (SetWeight, Load, *ROUTE_STEPS)
"""Steps that complete as soon as their state is committed."""
Step = (
    SetWeight
    | Pause
    | Analysis
    | SetHeaderRoute
    | SetMirrorRoute
    | SetCookieRoute
    | Experiment
    | Load
)


def step_kind(step: Step) -> str:
    """The step's name in the spec (``setWeight``, ``setCookieRoute``, ...)."""
    kinds = {
        SetWeight: "setWeight",
        Pause: "pause",
        Analysis: "analysis",
        SetHeaderRoute: "setHeaderRoute",
        SetMirrorRoute: "setMirrorRoute",
        SetCookieRoute: "setCookieRoute",
        Experiment: "experiment",
        Load: "load",
    }
    return kinds[type(step)]


def raises_weight(step: Step, weight: int) -> bool:
    """Whether ``step`` raises the canary's weight from ``weight`` (a ``setWeight`` above it):
    the moves a ``confirm-traffic-increase`` gate holds back (``shared.moves``; ``kubectl ferry
    plan`` shows the gate before them)."""
    return isinstance(step, SetWeight) and step.weight > weight


def routes_at(steps: tuple[Step, ...], active: tuple[int, ...]) -> tuple[RouteStep, ...]:
    """The routes in effect: the steps at the indexes ``active`` (a rollout's, in the order
    they were set), each the step that last set its route (an index that is not a route step
    of this spec, which may have changed since, is left out)."""
    found = [steps[i] for i in active if 0 <= i < len(steps)]
    return tuple(s for s in found if isinstance(s, ROUTE_STEPS) and s.match)


def routes_after(steps: tuple[Step, ...], active: tuple[int, ...], index: int) -> tuple[int, ...]:
    """The routes in effect once the route step at ``index`` has run: its route set (in the
    place of an earlier definition of the same name, or last), or removed when it has no
    match."""
    step = steps[index]
    assert isinstance(step, ROUTE_STEPS)
    named = {
        i for i in active if 0 <= i < len(steps) and getattr(steps[i], "name", None) == step.name
    }
    if not step.match:
        return tuple(i for i in active if i not in named)
    if named:
        return tuple(index if i in named else i for i in active)
    return (*active, index)


@dataclass(frozen=True)
class HookHeader:
    """A header a hook is called with: a value, or a key of a Secret of the namespace."""

    name: str
    value: str = ""
    secret: str = ""
    key: str = ""


HOOK_TYPES = (
    "confirm-rollout",
    "pre-rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "rollback",
    "post-rollout",
)
"""Flagger's webhook types Ferry runs, in the order a rollout meets them."""
GATE_TYPES = HOOK_TYPES[:4]
"""The types that hold the rollout until they open (rollback aborts it, post-rollout tells)."""
MAX_HOOK_TIMEOUT = 25.0
"""Seconds a hook call may take at most (a function answers within 30 s)."""


@dataclass(frozen=True)
class Hook:
    """One of ``spec.webhooks`` (Flagger's ``analysis.webhooks``): a URL Ferry calls at a point
    of the rollout, or (without ``url``) a gate a person or a webhook confirms."""

    name: str
    type: str
    url: str = ""
    timeout: float = 10.0
    interval: float = 10.0
    """Seconds between calls while a gate stays closed (and between rollback checks)."""
    failure_limit: int = 2
    """pre-rollout: failed calls after which the rollout aborts."""
    metadata: tuple[tuple[str, str], ...] = ()
    headers: tuple[HookHeader, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    target_port: int | str


@dataclass(frozen=True)
class RolloutSpec:
    namespace: str
    name: str
    target: str
    service: ServiceSpec
    router: str
    """The traffic router's name (``shared.routers``): ``noop`` without trafficRouting."""
    routing: dict[str, Any]
    """The router's configuration, ``spec.trafficRouting.<router>`` as written (empty without
    trafficRouting); each router reads and validates its own (``shared.routers``)."""
    steps: tuple[Step, ...]
    progress_deadline: int
    background_analysis: BackgroundAnalysis | None = None
    abort_scale_down_delay: int = DEFAULT_ABORT_SCALE_DOWN_DELAY
    """Seconds after an abort before the canary is scaled down; 0: it is left running."""
    progress_deadline_abort: bool = False
    """Abort (not only report) when progressDeadlineSeconds passes without progress."""
    hooks: tuple[Hook, ...] = ()
    """``spec.webhooks``: gates and hooks (Flagger's webhooks)."""
    revision_history_limit: int = DEFAULT_REVISION_HISTORY_LIMIT
    """``spec.revisionHistoryLimit``: how many earlier stable revisions keep the copies of
    their ConfigMaps and Secrets (``shared.configs``), so their ReplicaSets can still run."""
    blue_green: BlueGreen | None = None
    """``strategy.blueGreen`` (its steps are ``steps``); None for a canary."""
    load_test: LoadTest | None = None
    """``spec.loadTest``: the load from the canary's first step on (steps' ``load`` change
    it)."""
    replicas: int | None = None
    """``spec.replicas``: the Pods of the stable revision (the primary); None: as many as the
    target ran when Ferry took it over, then whatever the primary is scaled to (a person, an
    HPA). Set, the target Deployment in Git can leave ``replicas`` out, so applying it again
    starts no Pods (README: "Git re-applies")."""

    @property
    def strategy(self) -> str:
        return BLUE_GREEN if self.blue_green is not None else CANARY

    def step_label(self, index: int) -> str:
        """How a person knows step ``index``: ``step 2/5`` for a canary; for blue/green what
        the step is for (its steps are Ferry's, not written in the spec)."""
        if self.blue_green is None or not 0 <= index < len(self.steps):
            return f"step {index + 1}/{len(self.steps)}"
        switch = self.blue_green.switch_step
        if index == switch:
            return "switch"
        if isinstance(self.steps[index], SetHeaderRoute):
            return "preview route"
        if isinstance(self.steps[index], Analysis):
            return "pre-promotion analysis" if index < switch else "post-promotion analysis"
        return "waiting for promotion" if index < switch else "scale-down delay"

    def step_where(self, index: int) -> str:
        """Where step ``index`` is written in the spec (for messages)."""
        if self.blue_green is None:
            return f"spec.strategy.canary.steps[{index}].{step_kind(self.steps[index])}"
        if isinstance(self.steps[index], SetHeaderRoute):
            return "spec.strategy.blueGreen.previewHeaderRoute"
        return f"spec.strategy.blueGreen (step {index})"

    def step_text(self, index: int) -> str:
        """Blue/green's step ``index`` in words (what :meth:`step_label` says, and how)."""
        step, label = self.steps[index], self.step_label(index)
        if isinstance(step, Analysis):
            return f"{label} {', '.join(t.name for t in step.templates)}"
        if isinstance(step, SetWeight):
            return f"{label}: {self.service.name} sends all traffic to the new revision"
        if isinstance(step, SetHeaderRoute):
            matches = ", ".join(f"{m.name} {m.value.kind} {m.value.value!r}" for m in step.match)
            return f"{label} {step.name}: requests with {matches} reach the preview"
        if not isinstance(step, Pause):
            return label
        if step.duration is None:
            return f"{label} (until promoted)"
        if self.blue_green is not None and index < self.blue_green.switch_step:
            return f"{label} (promoted after {step.duration:g}s)"
        return f"{label} {step.duration:g}s (the previous revision kept warm)"

    def hooks_of(self, type_: str) -> tuple[Hook, ...]:
        return tuple(h for h in self.hooks if h.type == type_)

    # -- names of what Ferry manages -----------------------------------------------------
    @property
    def primary(self) -> str:
        return f"{self.target}-primary"

    @property
    def primary_service(self) -> str:
        return f"{self.service.name}-primary"

    @property
    def canary_service(self) -> str:
        """The Service of the canary's Pods (blue/green: the preview Service)."""
        if self.blue_green is not None:
            return self.blue_green.preview_service
        return f"{self.service.name}-canary"


def blue_green_steps(rollout: dict[str, Any]) -> list[str] | None:
    """A blue/green Rollout object's steps in words, as Ferry runs them (empty when its spec is
    invalid); None for a canary."""
    strategy = (rollout.get("spec") or {}).get("strategy")
    if not isinstance(strategy, dict) or BLUE_GREEN not in strategy:
        return None
    try:
        spec = parse(rollout)
    except InvalidSpec:
        return []
    return [spec.step_text(i) for i in range(len(spec.steps))]


def _is_target_port(value: Any) -> bool:
    """What a Service's targetPort accepts: a port number or a container port name (anything
    else passes the CRD's int-or-string but is refused by the API server when the Service is
    written, half-way through initialization)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1 <= value <= 65535
    return isinstance(value, str) and len(value) <= 15 and bool(_PORT_NAME.match(value))


def name_of(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value:
        problems.append(f"{where} is required")
        return ""
    if len(value) > 253 or not _DNS_NAME.match(value):
        problems.append(f"{where} {value!r} is not a valid Kubernetes name")
    return value


_STEP_KINDS = (
    "setWeight, pause, analysis, experiment, setHeaderRoute, setMirrorRoute, setCookieRoute, load"
)
_COOKIE_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""A cookie name (an HTTP token)."""
_MATCH_KINDS = ("exact", "prefix", "regex")
_ROUTE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""A route name: a DNS label (it names the rules Ferry adds to a user's route)."""
_HASH_SOURCES = ("Stable", "Latest")


def _templates(raw: Any, where: str, problems: list[str]) -> tuple[TemplateRef, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where} must list at least one template")
        return ()
    refs: list[TemplateRef] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) - {"templateName", "clusterScope"}:
            problems.append(f"{at} must be {{templateName: ..., clusterScope: true|false}}")
            continue
        name = name_of(item.get("templateName"), f"{at}.templateName", problems)
        scope = item.get("clusterScope", False)
        if not isinstance(scope, bool):
            problems.append(f"{at}.clusterScope must be true or false, got {scope!r}")
            scope = False
        refs.append(TemplateRef(name, scope))
    return tuple(refs)


def analysis_args(raw: Any, where: str, problems: list[str]) -> tuple[AnalysisArg, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list")
        return ()
    args: list[AnalysisArg] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) - {"name", "value", "valueFrom"}:
            problems.append(
                f"{at} must be {{name: ..., value: ...}} or {{name: ..., valueFrom: ...}}"
            )
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{at}.name is required")
            continue
        if name in seen:
            problems.append(f"{at}.name {name!r} is given twice")
        seen.add(name)
        value, source = item.get("value"), item.get("valueFrom")
        if (value is None) == (source is None):
            problems.append(f"{at} must have exactly one of value, valueFrom")
        elif value is not None:
            if not isinstance(value, str):
                problems.append(f"{at}.value must be a string, got {value!r}")
                continue
            args.append(AnalysisArg(name, value=value))
        elif not isinstance(source, dict) or len(source) != 1:
            problems.append(
                f"{at}.valueFrom must have exactly one of podTemplateHashValue, fieldRef"
            )
        elif "podTemplateHashValue" in source:
            hash_of = source["podTemplateHashValue"]
            if hash_of not in _HASH_SOURCES:
                problems.append(
                    f"{at}.valueFrom.podTemplateHashValue must be Stable or Latest, got {hash_of!r}"
                )
                continue
            args.append(AnalysisArg(name, pod_template_hash=hash_of))
        elif "fieldRef" in source:
            ref = source["fieldRef"]
            path = ref.get("fieldPath") if isinstance(ref, dict) else None
            if not isinstance(path, str) or not path:
                problems.append(f"{at}.valueFrom.fieldRef.fieldPath is required")
                continue
            args.append(AnalysisArg(name, field_path=path))
        else:
            problems.append(
                f"{at}.valueFrom has an unknown source {next(iter(source))!r} "
                "(known: podTemplateHashValue, fieldRef)"
            )
    return tuple(args)


def _analysis(value: Any, where: str, problems: list[str]) -> Analysis | None:
    if not isinstance(value, dict) or set(value) - {"templates", "args"}:
        problems.append(f"{where} must be {{templates: [...], args: [...]}}")
        return None
    before = len(problems)
    templates = _templates(value.get("templates"), f"{where}.templates", problems)
    args = analysis_args(value.get("args"), f"{where}.args", problems)
    return Analysis(templates, args) if len(problems) == before else None


def experiment_analyses(
    raw: Any, where: str, problems: list[str]
) -> tuple[ExperimentAnalysis, ...]:
    """Argo's ``analyses`` of an experiment: each a name, a ``templateName`` (with
    ``clusterScope``), ``args`` and ``requiredForCompletion``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list")
        return ()
    found: list[ExperimentAnalysis] = []
    names: set[str] = set()
    known = {"name", "templateName", "clusterScope", "args", "requiredForCompletion"}
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) - known:
            problems.append(
                f"{at} must be {{name, templateName, clusterScope, args, requiredForCompletion}}"
            )
            continue
        name = name_of(item.get("name"), f"{at}.name", problems)
        if name in names:
            problems.append(f"{at}.name {name!r} is given twice")
        names.add(name)
        template = name_of(item.get("templateName"), f"{at}.templateName", problems)
        scope, required = item.get("clusterScope", False), item.get("requiredForCompletion", False)
        if not isinstance(scope, bool) or not isinstance(required, bool):
            problems.append(f"{at}.clusterScope and requiredForCompletion are true or false")
            continue
        args = analysis_args(item.get("args"), f"{at}.args", problems)
        for arg in args:
            if arg.pod_template_hash is not None:
                problems.append(
                    f"{at}.args {arg.name!r}: an experiment's analysis takes a template's "
                    'hash as value: "{{templates.NAME.podTemplateHash}}"'
                )
        found.append(ExperimentAnalysis(name, TemplateRef(template, scope), args, required))
    return tuple(found)


def _experiment(value: Any, where: str, problems: list[str]) -> Experiment | None:
    if not isinstance(value, dict) or set(value) - {"duration", "templates", "analyses"}:
        problems.append(f"{where} must be {{duration, templates: [...], analyses: [...]}}")
        return None
    before = len(problems)
    duration = None
    if "duration" in value:
        try:
            duration = parse_duration(value["duration"])
        except ValueError as exc:
            problems.append(f"{where}.duration: {exc}")
    raw = value.get("templates")
    templates: list[ExperimentTemplate] = []
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}.templates must list at least one template")
        raw = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        at = f"{where}.templates[{i}]"
        if not isinstance(item, dict) or set(item) - {
            "name",
            "specRef",
            "replicas",
            "weight",
            "service",
        }:
            problems.append(f"{at} must be {{name, specRef: stable|canary, replicas, weight}}")
            continue
        name = name_of(item.get("name"), f"{at}.name", problems)
        if name in names:
            problems.append(f"{at}.name {name!r} is given twice")
        names.add(name)
        ref = item.get("specRef")
        if ref not in SPEC_REFS:
            problems.append(f"{at}.specRef must be stable or canary, got {ref!r}")
        replicas = item.get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 < replicas <= 100:
            problems.append(f"{at}.replicas must be a whole number from 1 to 100, got {replicas!r}")
        weight = item.get("weight")
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, int) or not 0 < weight <= 100
        ):
            problems.append(f"{at}.weight must be an integer from 1 to 100, got {weight!r}")
        service = item.get("service")
        if service is not None and not isinstance(service, dict):
            problems.append(f"{at}.service must be {{}} (the template gets a Service)")
        if len(problems) == before:
            # a share of traffic reaches the template through a Service of its own (Argo's rule)
            templates.append(
                ExperimentTemplate(
                    name, str(ref), replicas, weight, service is not None or weight is not None
                )
            )
    analyses = experiment_analyses(value.get("analyses"), f"{where}.analyses", problems)
    if sum(t.weight or 0 for t in templates) > 100:
        problems.append(f"{where}.templates: the weights add up to more than 100")
    if len(problems) != before:
        return None
    return Experiment(tuple(templates), analyses, duration)


def _background(raw: Any, step_count: int, problems: list[str]) -> BackgroundAnalysis | None:
    where = "spec.strategy.canary.analysis"
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{where} must be {{templates: [...], args: [...], startingStep: N}}")
        return None
    start = raw.get("startingStep", 0)
    analysis = _analysis({k: v for k, v in raw.items() if k != "startingStep"}, where, problems)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        problems.append(f"{where}.startingStep must be a step index, got {start!r}")
        return None
    if start and start >= step_count:
        problems.append(
            f"{where}.startingStep {start} is past the last step (there are {step_count})"
        )
        return None
    if analysis is None:
        return None
    return BackgroundAnalysis(analysis.templates, analysis.args, start)


def _string_match(raw: Any, where: str, problems: list[str]) -> StringMatch | None:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in _MATCH_KINDS:
        problems.append(f"{where} must have exactly one of exact, prefix, regex")
        return None
    ((kind, value),) = raw.items()
    if not isinstance(value, str) or (kind != "exact" and not value):
        problems.append(f"{where}.{kind} must be a string")
        return None
    if kind == "regex":
        try:
            re.compile(value)
        except re.error as exc:
            problems.append(f"{where}.regex is not a regular expression: {exc}")
            return None
    return StringMatch(kind, value)


def _header_matches(raw: Any, where: str, problems: list[str]) -> tuple[HeaderMatch, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where} must list at least one {{headerName, headerValue}}")
        return ()
    found: list[HeaderMatch] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) != {"headerName", "headerValue"}:
            problems.append(f"{at} must be {{headerName: ..., headerValue: {{exact: ...}}}}")
            continue
        name = item["headerName"]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
            problems.append(f"{at}.headerName must be an HTTP header name, got {name!r}")
            continue
        value = _string_match(item["headerValue"], f"{at}.headerValue", problems)
        if value is not None:
            found.append(HeaderMatch(name, value))
    return tuple(found)


def _request_matches(raw: Any, where: str, problems: list[str]) -> tuple[RequestMatch, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where} must list at least one match")
        return ()
    found: list[RequestMatch] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or not item or set(item) - {"headers", "method", "path"}:
            problems.append(f"{at} must have some of headers, method, path")
            continue
        headers: list[HeaderMatch] = []
        raw_headers = item.get("headers") or {}
        if not isinstance(raw_headers, dict):
            problems.append(f"{at}.headers must map header names to matches")
            raw_headers = {}
        for name, value in raw_headers.items():
            matched = _string_match(value, f"{at}.headers.{name}", problems)
            if matched is not None:
                headers.append(HeaderMatch(str(name), matched))
        method = path = None
        if "method" in item:
            method = _string_match(item["method"], f"{at}.method", problems)
        if "path" in item:
            path = _string_match(item["path"], f"{at}.path", problems)
        found.append(RequestMatch(tuple(headers), method, path))
    return tuple(found)


def _cookie_step(value: dict[str, Any], name: str, where: str, problems: list[str]) -> Step | None:
    if "cookieName" not in value:
        return SetCookieRoute(name)
    cookie, text = value["cookieName"], value.get("value", "always")
    if not isinstance(cookie, str) or not _COOKIE_NAME.match(cookie):
        problems.append(f"{where}.cookieName must be a cookie name, got {cookie!r}")
        return None
    if not isinstance(text, str) or not text or not _COOKIE_NAME.match(text):
        problems.append(f"{where}.value must be a cookie value (an HTTP token), got {text!r}")
        return None
    return SetCookieRoute(name, cookie, text)


def _route_step(kind: str, value: Any, where: str, problems: list[str]) -> Step | None:
    fields = {
        "setHeaderRoute": {"name", "match"},
        "setMirrorRoute": {"name", "match", "percentage"},
        "setCookieRoute": {"name", "cookieName", "value"},
    }[kind]
    if not isinstance(value, dict) or set(value) - fields:
        problems.append(f"{where} must be {{{', '.join(sorted(fields))}}}")
        return None
    name = value.get("name")
    if not isinstance(name, str) or len(name) > 50 or not _ROUTE_NAME.match(name):
        problems.append(f"{where}.name must be a DNS label of at most 50 characters, got {name!r}")
        return None
    if kind == "setCookieRoute":
        return _cookie_step(value, name, where, problems)
    if kind == "setHeaderRoute":
        if "match" not in value:
            return SetHeaderRoute(name)
        before = len(problems)
        headers = _header_matches(value["match"], f"{where}.match", problems)
        return SetHeaderRoute(name, headers) if len(problems) == before else None
    percentage = value.get("percentage", 100)
    if isinstance(percentage, bool) or not isinstance(percentage, int) or not 0 < percentage <= 100:
        problems.append(f"{where}.percentage must be an integer from 1 to 100, got {percentage!r}")
        return None
    if "match" not in value:
        return SetMirrorRoute(name)
    before = len(problems)
    matches = _request_matches(value["match"], f"{where}.match", problems)
    return SetMirrorRoute(name, matches, percentage) if len(problems) == before else None


def _steps(raw: Any, problems: list[str]) -> tuple[Step, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("spec.strategy.canary.steps must be a list")
        return ()
    steps: list[Step] = []
    for i, item in enumerate(raw):
        where = f"spec.strategy.canary.steps[{i}]"
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(f"{where} must have exactly one of {_STEP_KINDS}")
            continue
        ((kind, value),) = item.items()
        if kind == "setWeight":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                problems.append(
                    f"{where}.setWeight must be an integer from 0 to 100, got {value!r}"
                )
                continue
            steps.append(SetWeight(value))
        elif kind == "pause":
            if value is None:
                value = {}
            if not isinstance(value, dict) or set(value) - {"duration"}:
                problems.append(f"{where}.pause must be {{}} or {{duration: ...}}")
                continue
            if "duration" not in value:
                steps.append(Pause(None))
                continue
            try:
                steps.append(Pause(parse_duration(value["duration"])))
            except ValueError as exc:
                problems.append(f"{where}.pause.duration: {exc}")
        elif kind == "analysis":
            analysis = _analysis(value, f"{where}.analysis", problems)
            if analysis is not None:
                steps.append(analysis)
        elif kind == "experiment":
            experiment = _experiment(value, f"{where}.experiment", problems)
            if experiment is not None:
                steps.append(experiment)
        elif kind in ("setHeaderRoute", "setMirrorRoute", "setCookieRoute"):
            route = _route_step(kind, value, f"{where}.{kind}", problems)
            if route is not None:
                steps.append(route)
        elif kind == "load":
            load = load_test(value, f"{where}.load", problems, step=True)
            if load is not None:
                steps.append(Load(load))
        else:
            problems.append(f"{where} has an unknown step {kind!r} (known: {_STEP_KINDS})")
    return tuple(steps)


LOAD_FIELDS = (
    "url",
    "service",
    "rps",
    "concurrency",
    "method",
    "headers",
    "paths",
    "duration",
    "timeout",
    "stopOnPause",
)
MAX_RPS = 1000
"""Requests a second one load may ask for (one generator, one Pod's worth)."""
MAX_CONCURRENCY = 100
MAX_LOAD_TIMEOUT = 10.0
"""Seconds one request may take at most (a slice of load ends within its function's limit)."""
LOAD_METHODS = ("GET", "HEAD")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_LOAD_PATH = re.compile(r"^/[!-~]*$")
_HEADER_VALUE = re.compile(r"^[\t -~]*$")
"""What every HTTP client sends as written: no line break, no byte it would have to encode."""
"""A path (and query) of visible ASCII: what a request line can carry as written."""
_MAX_HEADER_BYTES = 8192
_MAX_PATHS = 50
_MAX_URL = 2048


def _load_url(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_URL:
        problems.append(f"{where} must be an http(s) URL of at most {_MAX_URL} characters")
        return ""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        problems.append(f"{where} {value!r} is not a URL: {exc}")
        return ""
    if not value.startswith(("http://", "https://")) or not parts.hostname:
        problems.append(f"{where} must be an http:// or https:// URL with a host, got {value!r}")
        return ""
    if parts.username is not None or parts.password is not None or parts.fragment:
        problems.append(f"{where} must carry no user, password or #fragment (use headers)")
        return ""
    if port == 0 or not _LOAD_PATH.match(parts.path or "/") or not value.isprintable():
        problems.append(f"{where} {value!r} has a bad port or a path with spaces or controls")
        return ""
    return value


def _load_service(value: Any, where: str, problems: list[str]) -> tuple[str, int]:
    if not isinstance(value, dict) or not set(value) <= {"name", "port"} or "name" not in value:
        problems.append(f"{where} must be {{name: <Service>, port: <its port>}}")
        return "", 0
    name = value["name"]
    if not isinstance(name, str) or len(name) > 63 or not _ROUTE_NAME.match(name):
        problems.append(f"{where}.name must be a Service's name, got {name!r}")
        name = ""
    port = value.get("port", 0)
    if "port" in value and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        problems.append(f"{where}.port must be a port number, got {port!r}")
        port = 0
    return name, port


def _load_headers(value: Any, where: str, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        problems.append(f"{where} must map header names to values")
        return ()
    found: list[tuple[str, str]] = []
    size = 0
    for name, text in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            problems.append(f"{where}: {name!r} is not an HTTP header name")
            continue
        if not isinstance(text, str) or not _HEADER_VALUE.match(text):
            problems.append(
                f"{where}.{name} must be a string of visible ASCII characters, spaces and tabs"
            )
            continue
        size += len(name) + len(text) + 4
        found.append((name, text))
    if size > _MAX_HEADER_BYTES:
        problems.append(f"{where} must add up to at most {_MAX_HEADER_BYTES} bytes")
    return tuple(found)


def _load_paths(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > _MAX_PATHS:
        problems.append(f"{where} must list 1 to {_MAX_PATHS} paths")
        return ()
    for i, path in enumerate(value):
        if not isinstance(path, str) or len(path) > _MAX_URL or not _LOAD_PATH.match(path):
            problems.append(
                f"{where}[{i}] must be a path starting with / (visible characters only), "
                f"got {path!r}"
            )
            return ()
    return tuple(value)


def load_test(raw: Any, where: str, problems: list[str], *, step: bool = False) -> LoadTest | None:
    """``spec.loadTest`` or a step's ``load``, validated (None when absent or invalid, with
    the problems added to ``problems``)."""
    if raw is None and not step:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{where} must be an object ({', '.join(LOAD_FIELDS)})")
        return None
    count = len(problems)
    unknown = sorted(set(raw) - set(LOAD_FIELDS))
    if unknown:
        problems.append(f"{where} has unknown fields {unknown} (known: {', '.join(LOAD_FIELDS)})")
    rps = raw.get("rps")
    if isinstance(rps, bool) or not isinstance(rps, int) or not 0 <= rps <= MAX_RPS:
        problems.append(f"{where}.rps must be a whole number from 0 to {MAX_RPS}, got {rps!r}")
        rps = 0
    concurrency = raw.get("concurrency", 8)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        problems.append(
            f"{where}.concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, "
            f"got {concurrency!r}"
        )
        concurrency = 1
    if "url" in raw and "service" in raw:
        problems.append(f"{where} must name one of url and service, not both")
    url = _load_url(raw["url"], f"{where}.url", problems) if "url" in raw else ""
    service, port = (
        _load_service(raw["service"], f"{where}.service", problems) if "service" in raw else ("", 0)
    )
    method = raw.get("method", "GET")
    if method not in LOAD_METHODS:
        problems.append(f"{where}.method must be one of {', '.join(LOAD_METHODS)}, got {method!r}")
        method = "GET"
    headers = (
        _load_headers(raw["headers"], f"{where}.headers", problems) if "headers" in raw else ()
    )
    paths = _load_paths(raw["paths"], f"{where}.paths", problems) if "paths" in raw else ()
    duration = None
    if "duration" in raw:
        try:
            duration = parse_duration(raw["duration"])
        except ValueError as exc:
            problems.append(f"{where}.duration: {exc}")
    timeout = 5.0
    if "timeout" in raw:
        try:
            timeout = parse_duration(raw["timeout"])
        except ValueError as exc:
            problems.append(f"{where}.timeout: {exc}")
        else:
            if not 0 < timeout <= MAX_LOAD_TIMEOUT:
                problems.append(
                    f"{where}.timeout must be more than 0 and at most {MAX_LOAD_TIMEOUT:g}s"
                )
    stop = raw.get("stopOnPause", True)
    if not isinstance(stop, bool):
        problems.append(f"{where}.stopOnPause must be true or false, got {stop!r}")
        stop = True
    if len(problems) > count:
        return None
    return LoadTest(
        rps=rps,
        concurrency=concurrency,
        url=url,
        service=service,
        port=port,
        method=method,
        headers=headers,
        paths=paths,
        duration=duration,
        timeout=timeout,
        stop_on_pause=stop,
    )


MANAGED_ROUTES = "managedRoutes"
"""Argo Rollouts' list of the route names the steps may set, beside the router."""


def _managed_routes(raw: Any, problems: list[str]) -> tuple[str, ...] | None:
    """The names ``spec.trafficRouting.managedRoutes`` lists (None: not given)."""
    if not isinstance(raw, dict) or MANAGED_ROUTES not in raw:
        return None
    where = f"spec.trafficRouting.{MANAGED_ROUTES}"
    found = raw[MANAGED_ROUTES]
    if not isinstance(found, list) or not all(
        isinstance(r, dict) and set(r) == {"name"} and isinstance(r["name"], str) and r["name"]
        for r in found
    ):
        problems.append(f"{where} must list routes as [{{name: ...}}]")
        return None
    names = tuple(r["name"] for r in found)
    if len(set(names)) != len(names):
        problems.append(f"{where} names a route twice")
    return names


def _traffic_routing(raw: Any, problems: list[str]) -> tuple[str, dict[str, Any]]:
    """The router named by ``spec.trafficRouting`` (absent: :data:`BY_REPLICAS`) and its
    configuration (``managedRoutes`` aside). The name and the configuration are checked against
    the router registry when the Rollout is loaded (``shared.rollouts``): the core knows no
    router."""
    where = "spec.trafficRouting"
    if raw is None:
        return BY_REPLICAS, {}
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != MANAGED_ROUTES}
    if not isinstance(raw, dict) or len(raw) != 1:
        problems.append(
            f"{where} must name exactly one router; leave it out to split traffic by replica counts"
        )
        return BY_REPLICAS, {}
    ((name, config),) = raw.items()
    if not isinstance(config, dict):
        problems.append(f"{where}.{name} must be an object")
        return str(name), {}
    return str(name), copy.deepcopy(config)


def _hooks(raw: Any, problems: list[str]) -> tuple[Hook, ...]:
    """``spec.webhooks``, Flagger's webhook fields (name, type, url, timeout, metadata) and
    Ferry's (interval, failureLimit, headers)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("spec.webhooks must be a list")
        return ()
    hooks: list[Hook] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        where = f"spec.webhooks[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        name = name_of(item.get("name"), f"{where}.name", problems)
        if name in names:
            problems.append(f"{where}.name {name!r} is used twice")
        names.add(name)
        kind = item.get("type")
        if kind in ("rollout", "event"):
            instead = "notifications (service.webhook)" if kind == "event" else "a Job metric"
            problems.append(f"{where}.type {kind} is not run by Ferry; use {instead}")
            continue
        if kind not in HOOK_TYPES:
            problems.append(f"{where}.type must be one of {', '.join(HOOK_TYPES)}, got {kind!r}")
            continue
        url = item.get("url", "")
        if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
            problems.append(f"{where}.url must be an http(s) URL")
            url = ""
        if not url and kind not in GATE_TYPES:
            problems.append(f"{where}.url is required for a {kind} hook")
        durations = {}
        for field_name, default in (("timeout", 10.0), ("interval", 10.0)):
            try:
                durations[field_name] = parse_duration(item.get(field_name, f"{default:g}s"))
            except ValueError as exc:
                problems.append(f"{where}.{field_name}: {exc}")
                durations[field_name] = default
        if not 0 < durations["timeout"] <= MAX_HOOK_TIMEOUT:
            problems.append(f"{where}.timeout must be more than 0s and at most 25s")
        if durations["interval"] < 1:
            problems.append(f"{where}.interval must be at least 1s")
        limit = item.get("failureLimit", 2)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            problems.append(f"{where}.failureLimit must be a positive integer")
            limit = 2
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            problems.append(f"{where}.metadata must map strings to strings")
            metadata = {}
        headers: list[HookHeader] = []
        for j, header in enumerate(item.get("headers") or []):
            at = f"{where}.headers[{j}]"
            ref = ((header or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
            if not isinstance(header, dict) or not isinstance(header.get("name"), str):
                problems.append(f"{at} needs a name")
            elif ref:
                if not (isinstance(ref.get("name"), str) and isinstance(ref.get("key"), str)):
                    problems.append(f"{at}.valueFrom.secretKeyRef needs a name and a key")
                else:
                    headers.append(HookHeader(header["name"], secret=ref["name"], key=ref["key"]))
            elif isinstance(header.get("value"), str):
                headers.append(HookHeader(header["name"], value=header["value"]))
            else:
                problems.append(f"{at} needs a value or valueFrom.secretKeyRef")
        hooks.append(
            Hook(
                name=name,
                type=kind,
                url=url,
                timeout=durations["timeout"],
                interval=durations["interval"],
                failure_limit=limit,
                metadata=tuple(sorted(metadata.items())),
                headers=tuple(headers),
            )
        )
    return tuple(hooks)


def _seconds(raw: dict[str, Any], key: str, default: int | None, problems: list[str]) -> Any:
    value = raw.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        problems.append(
            f"spec.strategy.blueGreen.{key} must be a whole number (0 or more), got {value!r}"
        )
        return default
    return value


def _blue_green(
    raw: Any, service: str, problems: list[str]
) -> tuple[BlueGreen | None, tuple[Step, ...]]:
    """``strategy.blueGreen``, and the steps it runs as (see :class:`BlueGreen`)."""
    where = "spec.strategy.blueGreen"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be an object")
        return None, ()
    problems.extend(
        f"{where}.{key} is not a field (known: {', '.join(BLUE_GREEN_FIELDS)})"
        for key in sorted(set(raw) - set(BLUE_GREEN_FIELDS))
    )
    preview = raw.get("previewService", f"{service}-preview")
    preview = name_of(preview, f"{where}.previewService", problems)
    if preview and preview in (service, f"{service}-primary"):
        problems.append(
            f"{where}.previewService must not be the active Service {service!r} or "
            f"{service}-primary (Ferry's Service of the stable revision)"
        )
    auto = raw.get("autoPromotionEnabled", True)
    if not isinstance(auto, bool):
        problems.append(f"{where}.autoPromotionEnabled must be true or false, got {auto!r}")
        auto = True
    auto_seconds = _seconds(raw, "autoPromotionSeconds", None, problems)
    preview_replicas = _seconds(raw, "previewReplicaCount", None, problems)
    if preview_replicas is not None and preview_replicas < 1:
        problems.append(f"{where}.previewReplicaCount must be 1 or more, got {preview_replicas}")
        preview_replicas = None
    delay = _seconds(raw, "scaleDownDelaySeconds", DEFAULT_SCALE_DOWN_DELAY, problems)
    pre = post = None
    route = None
    if "previewHeaderRoute" in raw:
        route = _route_step(
            "setHeaderRoute", raw["previewHeaderRoute"], f"{where}.previewHeaderRoute", problems
        )
        if isinstance(route, SetHeaderRoute) and not route.match:
            problems.append(f"{where}.previewHeaderRoute.match is required")
    if "prePromotionAnalysis" in raw:
        pre = _analysis(raw["prePromotionAnalysis"], f"{where}.prePromotionAnalysis", problems)
    if "postPromotionAnalysis" in raw:
        post = _analysis(raw["postPromotionAnalysis"], f"{where}.postPromotionAnalysis", problems)
    steps: list[Step] = []
    if route is not None:
        steps.append(route)
    if pre is not None:
        steps.append(pre)
    if not auto:
        steps.append(Pause(None))
    elif auto_seconds:
        steps.append(Pause(float(auto_seconds)))
    switch = len(steps)
    steps.append(SetWeight(100))
    if post is not None:
        steps.append(post)
    if delay:
        steps.append(Pause(float(delay)))
    blue_green = BlueGreen(
        active_service=service,
        preview_service=preview,
        auto_promotion=auto,
        auto_promotion_seconds=auto_seconds,
        pre_promotion=pre,
        post_promotion=post,
        preview_replicas=preview_replicas,
        scale_down_delay=delay,
        switch_step=switch,
        preview_route=route is not None,
        preview_named="previewService" in raw,
    )
    return blue_green, tuple(steps)


def apex_name(rollout: dict[str, Any]) -> str | None:
    """The apex Service a Rollout object names (without parsing the rest of its spec):
    ``spec.service.name``, or blue/green's ``activeService``."""
    spec = rollout.get("spec") or {}
    name = (spec.get("service") or {}).get("name")
    blue_green = (spec.get("strategy") or {}).get(BLUE_GREEN)
    if isinstance(blue_green, dict) and blue_green.get("activeService"):
        name = blue_green["activeService"]
    return str(name) if name else None


def router_name(rollout: dict[str, Any]) -> str:
    """The router a Rollout object names (without parsing the rest of its spec): without
    ``trafficRouting``, replica shares for a canary and the active Service's selector for
    blue/green."""
    spec = rollout.get("spec") or {}
    routing = spec.get("trafficRouting")
    if isinstance(routing, dict):
        names = [k for k in routing if k != MANAGED_ROUTES]
        if len(names) == 1:
            return str(names[0])
    strategy = spec.get("strategy")
    if isinstance(strategy, dict) and BLUE_GREEN in strategy:
        return BY_SELECTOR
    return BY_REPLICAS


def parse(rollout: dict[str, Any]) -> RolloutSpec:
    """The Rollout's spec, validated; :class:`InvalidSpec` lists every problem found."""
    meta = rollout.get("metadata") or {}
    spec = rollout.get("spec")
    problems: list[str] = []
    if not isinstance(spec, dict):
        raise InvalidSpec(["spec is required"])
    target_ref = spec.get("targetRef")
    target = ""
    if not isinstance(target_ref, dict):
        problems.append("spec.targetRef is required")
    else:
        if target_ref.get("kind", "Deployment") != "Deployment":
            problems.append(
                f"spec.targetRef.kind must be Deployment, got {target_ref.get('kind')!r}"
            )
        if target_ref.get("apiVersion", "apps/v1") != "apps/v1":
            problems.append(
                f"spec.targetRef.apiVersion must be apps/v1, got {target_ref.get('apiVersion')!r}"
            )
        target = name_of(target_ref.get("name"), "spec.targetRef.name", problems)
    service_raw = spec.get("service")
    service = ServiceSpec("", 0, 0)
    strategy = spec.get("strategy")
    blue_raw = strategy.get(BLUE_GREEN) if isinstance(strategy, dict) else None
    active = blue_raw.get("activeService") if isinstance(blue_raw, dict) else None
    if not isinstance(service_raw, dict):
        problems.append("spec.service is required")
    else:
        if active is not None and service_raw.get("name") in (None, active):
            service_raw = {**service_raw, "name": active}  # named once, by either field
        elif active is not None:
            problems.append(
                f"spec.strategy.blueGreen.activeService {active!r} and spec.service.name "
                f"{service_raw.get('name')!r} must name the same Service (or give one of them)"
            )
        name = name_of(service_raw.get("name"), "spec.service.name", problems)
        port = service_raw.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"spec.service.port must be a port number, got {port!r}")
            port = 0
        target_port = service_raw.get("targetPort", port)
        if "targetPort" in service_raw and not _is_target_port(target_port):
            problems.append(
                "spec.service.targetPort must be a port number (1-65535) or a container port "
                f"name (at most 15 lowercase letters, digits and '-'), got {target_port!r}"
            )
        service = ServiceSpec(name, port, target_port)
    router, routing = _traffic_routing(spec.get("trafficRouting"), problems)
    if blue_raw is not None and "trafficRouting" not in spec:
        router = BY_SELECTOR
    managed = _managed_routes(spec.get("trafficRouting"), problems)
    canary = strategy.get(CANARY) if isinstance(strategy, dict) else None
    blue_green: BlueGreen | None = None
    if isinstance(strategy, dict) and CANARY in strategy and BLUE_GREEN in strategy:
        problems.append("spec.strategy must have one of canary and blueGreen, not both")
    if blue_raw is not None:
        blue_green, steps = _blue_green(blue_raw, service.name, problems)
        canary = {
            k: blue_raw[k]
            for k in ("abortScaleDownDelaySeconds",)
            if isinstance(blue_raw, dict) and k in blue_raw
        }
    else:
        if not isinstance(canary, dict):
            problems.append("spec.strategy.canary (or spec.strategy.blueGreen) is required")
            canary = {}
        steps = _steps(canary.get("steps"), problems)
    kinds: dict[str, str] = {}
    for i, step in enumerate(steps):
        if isinstance(step, ROUTE_STEPS):
            kind = step_kind(step)
            where = (
                f"spec.strategy.canary.steps[{i}].{kind}"
                if blue_green is None
                else "spec.strategy.blueGreen.previewHeaderRoute"
            )
            if kinds.setdefault(step.name, kind) != kind:
                problems.append(
                    f"{where}.name {step.name!r} names a "
                    f"{kinds[step.name]} route already; give each route its own name"
                )
            if managed is not None and step.name not in managed:
                problems.append(
                    f"{where}.name {step.name!r} is not listed "
                    f"in spec.trafficRouting.{MANAGED_ROUTES}"
                )
    weight = 0
    for i, step in enumerate(steps):
        if isinstance(step, SetWeight):
            weight = step.weight
        elif isinstance(step, Experiment) and blue_green is None:
            shares = sum(t.weight or 0 for t in step.templates)
            if shares and weight + shares > 100:
                problems.append(
                    f"spec.strategy.canary.steps[{i}].experiment: its templates' weights "
                    f"({shares}%) and the canary's ({weight}%) add up to more than 100"
                )
    background = _background(canary.get("analysis"), len(steps), problems)
    delay = canary.get("abortScaleDownDelaySeconds", DEFAULT_ABORT_SCALE_DOWN_DELAY)
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        strategy_name = BLUE_GREEN if blue_green is not None else CANARY
        problems.append(
            f"spec.strategy.{strategy_name}.abortScaleDownDelaySeconds must be a number of "
            f"seconds (0 or more), got {delay!r}"
        )
        delay = DEFAULT_ABORT_SCALE_DOWN_DELAY
    abort = spec.get("progressDeadlineAbort", False)
    if not isinstance(abort, bool):
        problems.append(f"spec.progressDeadlineAbort must be true or false, got {abort!r}")
        abort = False
    deadline = spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)
    if isinstance(deadline, bool) or not isinstance(deadline, int) or deadline < 1:
        problems.append(
            f"spec.progressDeadlineSeconds must be a positive integer, got {deadline!r}"
        )
        deadline = DEFAULT_PROGRESS_DEADLINE
    hooks = _hooks(spec.get("webhooks"), problems)
    load = load_test(spec.get("loadTest"), "spec.loadTest", problems)
    history = spec.get("revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT)
    if isinstance(history, bool) or not isinstance(history, int) or not 0 <= history <= 100:
        problems.append(
            f"spec.revisionHistoryLimit must be a whole number from 0 to 100, got {history!r}"
        )
        history = DEFAULT_REVISION_HISTORY_LIMIT
    replicas = spec.get("replicas")
    if replicas is not None and (
        isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 10000
    ):
        problems.append(f"spec.replicas must be a whole number from 1 to 10000, got {replicas!r}")
        replicas = None
    if problems:
        raise InvalidSpec(problems)
    return RolloutSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        target=target,
        service=service,
        router=router,
        routing=routing,
        steps=steps,
        progress_deadline=deadline,
        background_analysis=background,
        abort_scale_down_delay=delay,
        progress_deadline_abort=abort,
        hooks=hooks,
        revision_history_limit=history,
        blue_green=blue_green,
        load_test=load,
        replicas=replicas,
    )
