"""Ferry's deployment manifests in ``knative/``: well formed, consistent with the code, accepted
by the real schemas.

Aspects covered:
- every YAML document parses and names itself; namespaced objects live in ``ferry-system``; the
  README's file table and install order cover every manifest;
- consistency with the code: the Triggers' (function, type) pairs equal ``functions.ROUTES``,
  every Trigger targets a Knative Service defined here and a type of ``shared.events.Type``,
  every Service runs its own function, the sources emit only routed types, the ServiceAccounts
  and RBAC agree with what the workloads and the ApiServerSource use;
- fields: built-in kinds against the official client's models, custom kinds against their CRD
  schemas, including where upstream preserves unknown fields (where a real cluster would accept
  a typo silently);
- the real schemas: the upstream Knative CRDs and Ferry's CRDs (Rollout, AnalysisTemplate,
  ClusterAnalysisTemplate, AnalysisRun) are installed into the Kubernetes simulator and every
  object is created with ``fieldValidation=Strict``; misspelled, mistyped and missing fields are
  rejected; the example Rollout and Rollouts with analysis are accepted and invalid ones are not;
  the Rollout status schema, with the commands kubectl ferry appends and the history and
  analysis Ferry writes; the README's install commands, run with the real kubectl;
- the analysis CRDs: names, scopes and columns; structural schemas (free-form only where a Job
  spec is embedded); one metric schema in all three; valid templates and runs accepted, invalid
  ones rejected with the field at fault; every template the schema accepts here is also accepted
  by ``shared.analysis``; the status ``shared.analysis.run_status`` writes fits the CRD.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from functions import DEAD_LETTER, ROUTES, SERVICE_PREFIX
from local.sim import schemas
from local.sim.cluster import Simulator
from shared import analysis, models
from shared import status as rollout_status
from shared.events import Type
from shared.providers import job
from shared.state import RolloutState, Stage

Obj = dict[str, Any]

REPO = Path(__file__).resolve().parents[1]
KNATIVE = REPO / "knative"
UPSTREAM = REPO.parent / "shared" / "schemas" / "knative"
"""Upstream Knative CRDs, kept beside the checkout (see ``../shared/schemas/README.md``)."""

NAMESPACE = "ferry-system"
INSTALL_ORDER = (
    "namespace.yaml",
    "crds/rollouts.yaml",
    "crds/analysistemplates.yaml",
    "crds/clusteranalysistemplates.yaml",
    "crds/analysisruns.yaml",
    "rbac.yaml",
    "services.yaml",
    "broker.yaml",
    "triggers.yaml",
    "sources.yaml",
    "timer-worker.yaml",
)
"""The installation, in the order the README installs it (examples are not part of it)."""

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
KSVC = "serving.knative.dev/v1"
BROKER_REF = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "ferry"}
DEADLETTER = SERVICE_PREFIX + DEAD_LETTER
STRICT = [("fieldValidation", "Strict")]


# -- reading the manifests ----------------------------------------------------------------


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _parsed(path: Path) -> tuple[Obj, ...]:
    return tuple(doc for doc in yaml.load_all(path.read_text(), Loader=_LOADER) if doc)


def _docs(path: Path) -> list[Obj]:
    """The objects of a YAML file, as fresh copies a test may change."""
    return copy.deepcopy(list(_parsed(path)))


def _manifest(name: str) -> list[Obj]:
    return _docs(KNATIVE / name)


def _installed() -> list[Obj]:
    return [doc for name in INSTALL_ORDER for doc in _manifest(name)]


def _of_kind(docs: list[Obj], kind: str) -> list[Obj]:
    return [doc for doc in docs if doc["kind"] == kind]


def _by_name(docs: list[Obj]) -> dict[str, Obj]:
    return {doc["metadata"]["name"]: doc for doc in docs}


def _triggers() -> list[Obj]:
    return _of_kind(_manifest("triggers.yaml"), "Trigger")


def _services() -> dict[str, Obj]:
    return _by_name(_of_kind(_manifest("services.yaml"), "Service"))


def _rollout_crd() -> Obj:
    (crd,) = _manifest("crds/rollouts.yaml")
    return crd


def _rollout_schema() -> Obj:
    return _crd_schema(_rollout_crd())


ANALYSIS_CRDS = ("analysistemplates", "clusteranalysistemplates", "analysisruns")


def _analysis_crd(plural: str) -> Obj:
    (crd,) = _manifest(f"crds/{plural}.yaml")
    return crd


def _ferry_crds() -> list[Obj]:
    return [_rollout_crd(), *(_analysis_crd(p) for p in ANALYSIS_CRDS)]


def _crd_schema(crd: Obj) -> Obj:
    schema: Obj = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _upstream_crds() -> list[Obj]:
    if not UPSTREAM.is_dir():
        pytest.fail(f"the upstream Knative CRDs are missing: expected them in {UPSTREAM}")
    return [doc for path in sorted(UPSTREAM.glob("*.yaml")) for doc in _docs(path)]


def _schema_of(api_version: str, kind: str) -> Obj:
    group, _, version = api_version.rpartition("/")
    for crd in [*_upstream_crds(), *_ferry_crds()]:
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            for entry in crd["spec"]["versions"]:
                if entry["name"] == version:
                    schema: Obj = entry["schema"]["openAPIV3Schema"]
                    return schema
    raise AssertionError(f"no CRD schema for {api_version} {kind}")


def _short(event_type: str) -> str:
    """The Trigger name suffix of a type: its last two segments (``pause-expired``)."""
    return "-".join(event_type.split(".")[-2:])


# -- field checks that do not need a server -----------------------------------------------


def _model_errors(value: Any, type_name: str, path: str) -> list[str]:
    """Fields of ``value`` that the official client's model ``type_name`` does not have."""
    if value is None or type_name == "object":
        return []
    for prefix in ("List[", "list["):
        if type_name.startswith(prefix):
            if not isinstance(value, list):
                return [f"{path}: expected a list"]
            inner = type_name[len(prefix) : -1]
            return [e for i, v in enumerate(value) for e in _model_errors(v, inner, f"{path}[{i}]")]
    for prefix in ("Dict[", "dict("):
        if type_name.startswith(prefix):
            if not isinstance(value, dict):
                return [f"{path}: expected a map"]
            inner = type_name[len(prefix) : -1].split(",", 1)[1].strip()
            return [e for k, v in value.items() for e in _model_errors(v, inner, f"{path}.{k}")]
    scalars: dict[str, tuple[type, ...]] = {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "datetime": (str,),
    }
    if type_name in scalars:
        wanted = scalars[type_name]
        ok = isinstance(value, wanted) and not (isinstance(value, bool) and bool not in wanted)
        return [] if ok else [f"{path}: {value!r} is not a {type_name}"]
    model = getattr(kubernetes.client, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({type_name})"]
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if key not in by_json:
            errors.append(f"{child}: unknown field of {type_name}")
            continue
        inner = model.openapi_types[by_json[key]]
        if type_name == "V1JSONSchemaProps" and key in ("items", "additionalProperties"):
            inner = "V1JSONSchemaProps" if isinstance(item, dict) else "bool"
        errors.extend(_model_errors(item, inner, child))
    return errors


def _builtin_errors(obj: Obj) -> list[str]:
    version = obj["apiVersion"].rpartition("/")[2]
    return _model_errors(obj, version.capitalize() + obj["kind"], "")


def _undeclared(value: Any, schema: Obj, path: str = "") -> list[str]:
    """Fields a structural schema does not declare, also where it preserves unknown fields.

    Below ``x-kubernetes-preserve-unknown-fields`` a real server keeps any field, so a typo
    there is accepted silently. A node that declares ``properties`` is held to them anyway; a
    node without (a free-form map, like a Trigger's ``filter.attributes``) is not.
    """
    errors: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        free = schema.get("x-kubernetes-preserve-unknown-fields") is True and not props
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if not path and key in ("apiVersion", "kind"):
                continue
            if not path and key == "metadata":
                errors.extend(_model_errors(item, "V1ObjectMeta", child))
            elif key in props:
                errors.extend(_undeclared(item, props[key], child))
            elif isinstance(extra, dict):
                errors.extend(_undeclared(item, extra, child))
            elif not free and extra is not True:
                errors.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(_undeclared(item, schema["items"], f"{path}[{i}]"))
    return errors


def _schema_nodes(schema: Obj, path: str = "") -> Iterator[tuple[str, Obj]]:
    yield path, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from _schema_nodes(sub, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _schema_nodes(schema[key], f"{path}[{key}]")


# -- the manifests, read ------------------------------------------------------------------


def test_every_document_parses_and_names_itself() -> None:
    paths = sorted(KNATIVE.rglob("*.yaml"))
    assert paths, "no manifests found"
    for path in paths:
        docs = _docs(path)
        assert docs, f"{path} holds no object"
        for doc in docs:
            where = f"{path.relative_to(KNATIVE)}: {doc.get('kind')} {doc.get('metadata')}"
            assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], where
            assert isinstance(doc.get("kind"), str) and doc["kind"], where
            assert isinstance(doc.get("metadata"), dict), where
            assert isinstance(doc["metadata"].get("name"), str) and doc["metadata"]["name"], where


def test_namespaced_objects_live_in_ferry_system() -> None:
    for doc in _installed():
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in doc["metadata"], where
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, where


def test_install_order_and_readme_cover_every_manifest() -> None:
    on_disk = {
        str(p.relative_to(KNATIVE))
        for p in KNATIVE.rglob("*.yaml")
        if p.relative_to(KNATIVE).parts[0] != "examples"
    }
    assert on_disk == set(INSTALL_ORDER)
    readme = (KNATIVE / "README.md").read_text()
    for name in [*INSTALL_ORDER, "examples/rollout.yaml"]:
        assert f"`{name}`" in readme, f"README.md does not describe {name}"
    assert "placeholder" in readme


def test_object_names_are_unique_per_kind() -> None:
    seen: set[tuple[str, str]] = set()
    for doc in _installed():
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{key} defined twice"
        seen.add(key)


# -- consistency with the code ------------------------------------------------------------


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


def test_trigger_names_and_delivery_follow_the_convention() -> None:
    for trigger in _triggers():
        spec = trigger["spec"]
        function = spec["subscriber"]["ref"]["name"].removeprefix(SERVICE_PREFIX)
        expected = f"{SERVICE_PREFIX}{function}-{_short(spec['filter']['attributes']['type'])}"
        assert trigger["metadata"]["name"] == expected
        delivery = spec["delivery"]
        assert delivery["retry"] > 0 and delivery["backoffPolicy"] == "exponential"
        assert re.fullmatch(r"PT\d+(\.\d+)?S", delivery["backoffDelay"])
        assert delivery["deadLetterSink"]["ref"] == {
            "apiVersion": KSVC,
            "kind": "Service",
            "name": DEADLETTER,
        }


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


def test_workloads_take_redis_url_from_the_secret_and_functions_the_broker_url() -> None:
    functions = [s["spec"]["template"]["spec"]["containers"][0] for s in _services().values()]
    (worker,) = _manifest("timer-worker.yaml")[0]["spec"]["template"]["spec"]["containers"]
    broker_url = f"http://broker-ingress.knative-eventing.svc.cluster.local/{NAMESPACE}/ferry"
    redis_url = {
        "name": "REDIS_URL",
        "valueFrom": {"secretKeyRef": {"name": "ferry-redis", "key": "url"}},
    }
    for container in functions:
        env = {e["name"]: e for e in container["env"]}
        assert env == {
            "REDIS_URL": redis_url,
            "FERRY_BROKER_URL": {"name": "FERRY_BROKER_URL", "value": broker_url},
        }
    # A timer job carries the Broker's URL itself (shared.timers.fire): the worker needs Redis.
    assert worker["env"] == [redis_url]


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
    (api_source,) = _of_kind(docs, "ApiServerSource")
    (ping,) = _of_kind(docs, "PingSource")
    assert api_source["spec"]["mode"] == "Resource"
    assert {Type.RESOURCE_ADDED, Type.RESOURCE_UPDATED, Type.RESOURCE_DELETED} <= routed
    assert Type.TICK in routed
    for source in (api_source, ping):
        assert source["spec"]["sink"]["ref"] == BROKER_REF
    assert api_source["spec"]["namespaceSelector"] == {}, "an empty selector: all namespaces"
    assert {(r["apiVersion"], r["kind"]) for r in api_source["spec"]["resources"]} == {
        ("ferry.dev/v1alpha1", "Rollout"),
        ("apps/v1", "Deployment"),
        ("networking.k8s.io/v1", "Ingress"),
        ("ferry.dev/v1alpha1", "AnalysisRun"),
        ("batch/v1", "Job"),
    }
    selectors = {r["kind"]: r.get("selector") for r in api_source["spec"]["resources"]}
    # Only the job provider's Jobs: the label it sets on them, whatever its value (the run).
    assert selectors.pop("Job") == {
        "matchExpressions": [{"key": job.RUN_LABEL, "operator": "Exists"}]
    }
    assert set(selectors.values()) == {None}, "every other kind is watched whole"
    assert ping["spec"]["schedule"] == "* * * * *"
    assert ping["spec"]["contentType"] == "application/json"
    assert yaml.safe_load(ping["spec"]["data"]) == {"reason": "reconcile"}


# -- RBAC ---------------------------------------------------------------------------------


def _grants(role: Obj) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _plural(kind: str) -> str:
    """The resource Knative guesses from a kind (``meta.UnsafeGuessKindToResource``)."""
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


def test_every_service_account_used_exists_and_every_binding_resolves() -> None:
    rbac = _manifest("rbac.yaml")
    accounts = {sa["metadata"]["name"] for sa in _of_kind(rbac, "ServiceAccount")}
    roles = _by_name(_of_kind(rbac, "ClusterRole"))
    used = {s["spec"]["template"]["spec"]["serviceAccountName"] for s in _services().values()}
    used |= {
        s["spec"]["serviceAccountName"]
        for s in _of_kind(_manifest("sources.yaml"), "ApiServerSource")
    }
    used |= {
        d["spec"]["template"]["spec"]["serviceAccountName"]
        for d in _of_kind(_manifest("timer-worker.yaml"), "Deployment")
    }
    assert used == accounts, "every ServiceAccount is used, and every one used is defined"
    bound = set()
    for binding in _of_kind(rbac, "ClusterRoleBinding"):
        assert binding["roleRef"]["kind"] == "ClusterRole"
        assert binding["roleRef"]["name"] in roles
        for subject in binding["subjects"]:
            assert subject == {
                "kind": "ServiceAccount",
                "name": subject["name"],
                "namespace": NAMESPACE,
            }
            assert subject["name"] in accounts
            bound.add(subject["name"])
    assert bound == {"ferry-functions", "ferry-source"}, "deadletter and timer need no access"
    assert (
        _by_name(_of_kind(rbac, "ServiceAccount"))["ferry-timer"]["automountServiceAccountToken"]
        is False
    )


def test_roles_grant_no_wildcards() -> None:
    for role in _of_kind(_manifest("rbac.yaml"), "ClusterRole"):
        for group, resource, verb in _grants(role):
            assert "*" not in (group, resource, verb), role["metadata"]["name"]


def test_source_role_is_exactly_what_the_apiserversource_watches() -> None:
    (api_source,) = _of_kind(_manifest("sources.yaml"), "ApiServerSource")
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    wanted = {
        (r["apiVersion"].rpartition("/")[0], _plural(r["kind"]), verb)
        for r in api_source["spec"]["resources"]
        for verb in ("get", "list", "watch")
    }
    assert _grants(roles[api_source["spec"]["serviceAccountName"]]) == wanted


def test_functions_role_is_least_privilege() -> None:
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    read = {"get", "list", "watch"}
    own = read | {"create", "update", "patch", "delete"}

    def grants(group: str, resource: str, verbs: set[str]) -> set[tuple[str, str, str]]:
        return {(group, resource, verb) for verb in verbs}

    assert _grants(roles["ferry-functions"]) == (
        grants("ferry.dev", "rollouts", read | {"patch"})
        | grants("ferry.dev", "rollouts/status", {"update", "patch"})
        | grants("ferry.dev", "rollouts/finalizers", {"update"})
        | grants("apps", "deployments", own)
        | grants("apps", "deployments/scale", {"get", "update", "patch"})
        | grants("", "services", own)
        | grants("networking.k8s.io", "ingresses", own)
        | grants("", "events", {"create", "patch"})
        | grants("ferry.dev", "analysistemplates", read)
        | grants("ferry.dev", "clusteranalysistemplates", read)
        | grants("ferry.dev", "analysisruns", own)
        | grants("ferry.dev", "analysisruns/status", {"update", "patch"})
        | grants("ferry.dev", "analysisruns/finalizers", {"update"})
        | grants("batch", "jobs", read | {"create", "delete"})
        | grants("", "secrets", {"get"})
    )
    assert set(roles) == {"ferry-functions", "ferry-source", "ferry-rollout-operator"}


def test_the_operator_role_is_what_kubectl_ferry_needs_and_never_the_spec() -> None:
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    granted = _grants(roles["ferry-rollout-operator"])
    writes = {(g, r, v) for g, r, v in granted if v not in ("get", "list", "watch")}
    assert writes == {("ferry.dev", "rollouts/status", "patch")}
    assert ("ferry.dev", "analysisruns", "list") in granted
    assert ("", "events", "list") in granted


# -- fields, without a server -------------------------------------------------------------


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
    trigger["spec"]["fitler"] = trigger["spec"].pop("filter")
    trigger["spec"]["delivery"]["retries"] = 5
    trigger["spec"]["filter"] = {"attributes": {"anything": "goes"}}
    schema = _schema_of(trigger["apiVersion"], "Trigger")
    assert _undeclared(trigger, schema) == ["spec.delivery.retries", "spec.fitler"]


# -- the Rollout CRD, read ----------------------------------------------------------------


def test_rollout_crd_names_and_version() -> None:
    crd = _rollout_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "rollouts.ferry.dev"
    assert (spec["group"], spec["scope"]) == ("ferry.dev", "Namespaced")
    assert spec["names"]["shortNames"] == ["ro"] and spec["names"]["categories"] == ["ferry"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]] == [
        ("Phase", ".status.phase"),
        ("Step", ".status.currentStepIndex"),
        ("Weight", ".status.canaryWeight"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def test_rollout_schema_is_structural_and_fully_typed() -> None:
    for path, node in _schema_nodes(_rollout_schema()):
        where = path or "<root>"
        assert "x-kubernetes-preserve-unknown-fields" not in node, where
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, where
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, where
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), where
        if node["type"] == "object" and path != ".metadata":
            has_props, has_extra = "properties" in node, "additionalProperties" in node
            assert has_props != has_extra, f"{where}: properties xor additionalProperties"
        for key in node.get("required") or ():
            assert key in node.get("properties", {}), f"{where}: required {key} undeclared"


def test_rollout_schema_defaults_are_valid() -> None:
    defaults = [(p, n) for p, n in _schema_nodes(_rollout_schema()) if "default" in n]
    assert {p for p, _ in defaults} == {
        ".spec.targetRef.apiVersion",
        ".spec.targetRef.kind",
        ".spec.trafficRouting.nginx.annotationPrefix",
        ".spec.progressDeadlineSeconds",
        ".spec.progressDeadlineAbort",
        ".spec.strategy.canary.abortScaleDownDelaySeconds",
    }
    for path, node in defaults:
        assert schemas.validate(node["default"], node) == [], path


def test_rollout_printer_columns_point_at_declared_fields_of_their_type() -> None:
    schema = _rollout_schema()
    version = _rollout_crd()["spec"]["versions"][0]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".metadata."):
            continue
        node = schema
        for part in column["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        assert node["type"] == column["type"], column["name"]


def test_ferry_crds_use_only_fields_of_a_crd() -> None:
    for crd in _ferry_crds():
        assert _builtin_errors(crd) == [], crd["metadata"]["name"]


# -- the real schemas, in the simulator ---------------------------------------------------


def _dynamic(api: kubernetes.client.ApiClient, cache: Path) -> DynamicClient:
    """A dynamic client whose discovery cache is private to this module's simulator."""
    return DynamicClient(api, cache_file=str(cache))  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamicClient]:
    """A simulator with the upstream Knative CRDs and Ferry's CRDs installed."""
    crds = [*_upstream_crds(), *_ferry_crds()]
    cache = tmp_path_factory.mktemp("discovery")
    with Simulator(controllers=False) as sim:
        api = sim.api_client()
        try:
            bootstrap = _dynamic(api, cache / "bootstrap.json")
            resource = bootstrap.resources.get(
                api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
            )
            for crd in crds:
                resource.create(body=crd, query_params=STRICT)
            # A new client: its discovery sees the kinds the CRDs serve.
            yield _dynamic(api, cache / "cluster.json")
        finally:
            api.close()


@pytest.fixture(scope="module")
def scratch(cluster: DynamicClient) -> str:
    """A namespace for objects the tests try out (the installation has ferry-system)."""
    _create(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}})
    return "scratch"


def _create(
    cluster: DynamicClient, obj: Obj, namespace: str | None = None, *, strict: bool = True
) -> Obj:
    resource = cluster.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    ns = obj["metadata"].get("namespace", namespace) if resource.namespaced else None
    params = STRICT if strict else []
    created: Obj = resource.create(body=obj, namespace=ns, query_params=params).to_dict()
    return created


def _rejection(cluster: DynamicClient, obj: Obj, namespace: str) -> tuple[int, str]:
    """The HTTP status and the Status message of a create that must fail."""
    try:
        _create(cluster, obj, namespace)
    except DynamicApiError as exc:
        return int(exc.status), _message(exc)
    raise AssertionError(f"{obj['kind']} {obj['metadata']['name']} was accepted")


def _message(exc: DynamicApiError) -> str:
    body = exc.body.decode() if isinstance(exc.body, bytes) else str(exc.body)
    message: str = json.loads(body)["message"]
    return message


def _contains(stored: Any, sent: Any) -> bool:
    """``stored`` has everything ``sent`` has (defaults may add more)."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(
            k in stored and _contains(stored[k], v) for k, v in sent.items()
        )
    if isinstance(sent, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(sent)
            and all(_contains(a, b) for a, b in zip(stored, sent, strict=True))
        )
    return bool(stored == sent)


def test_the_installation_is_accepted_by_the_real_schemas(cluster: DynamicClient) -> None:
    for doc in _installed():
        if doc["kind"] == "CustomResourceDefinition":
            continue  # installed by the fixture
        stored = _create(cluster, doc)
        where = f"{doc['kind']} {doc['metadata']['name']}"
        assert stored["metadata"].get("namespace") == doc["metadata"].get("namespace"), where
        if "spec" in doc:
            assert _contains(stored["spec"], doc["spec"]), f"{where} lost fields: {stored}"


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
    trigger["spec"]["delivery"]["retry"] = "five"
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
    (source,) = _of_kind(_manifest("sources.yaml"), "ApiServerSource")
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


def test_the_example_rollout_is_accepted(cluster: DynamicClient, scratch: str) -> None:
    (example,) = _manifest("examples/rollout.yaml")
    stored = _create(cluster, example, scratch)
    assert _contains(stored["spec"], example["spec"])
    nginx = stored["spec"]["trafficRouting"]["nginx"]
    assert nginx["annotationPrefix"] == "nginx.ingress.kubernetes.io"


def _minimal_rollout(name: str) -> Obj:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"name": "app"},
            "service": {"name": "app", "port": 80},
            "trafficRouting": {"nginx": {"stableIngress": "app"}},
            "strategy": {"canary": {"steps": [{"setWeight": 10}]}},
        },
    }


def test_rollout_defaults_are_applied(cluster: DynamicClient, scratch: str) -> None:
    spec = _create(cluster, _minimal_rollout("defaults"), scratch)["spec"]
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["progressDeadlineAbort"] is False
    assert spec["strategy"]["canary"]["abortScaleDownDelaySeconds"] == 30
    assert spec["trafficRouting"]["nginx"]["annotationPrefix"] == "nginx.ingress.kubernetes.io"


@pytest.mark.parametrize("duration", [30, 0, "30", "30s", "5m", "1h", "1h30m", "500ms", "1.5h"])
def test_pause_durations_accepted(cluster: DynamicClient, scratch: str, duration: Any) -> None:
    rollout = _minimal_rollout(f"pause-{type(duration).__name__}-{duration}".replace(".", "-"))
    rollout["spec"]["strategy"]["canary"]["steps"].append({"pause": {"duration": duration}})
    assert _create(cluster, rollout, scratch)["spec"]["strategy"]["canary"]["steps"][1] == {
        "pause": {"duration": duration}
    }


def _step(index: int, value: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["strategy"]["canary"]["steps"][index] = value

    return mutate


def _set(*path_and_value: Any) -> Callable[[Obj], None]:
    *path, value = path_and_value

    def mutate(spec: Obj) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _drop(*path: str) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


STEP = "spec.strategy.canary.steps[0]"
ANALYSIS: Obj = {"templates": [{"templateName": "success-rate"}]}
HASH: Obj = {"valueFrom": {"podTemplateHashValue": "Stable"}}
INVALID_ROLLOUTS: list[tuple[str, Callable[[Obj], None], int, str]] = [
    ("weight-150", _step(0, {"setWeight": 150}), 422, f"{STEP}.setWeight: Invalid value: 150"),
    ("weight-neg", _step(0, {"setWeight": -1}), 422, f"{STEP}.setWeight: Invalid value: -1"),
    ("two-keys", _step(0, {"setWeight": 20, "pause": {}}), 422, f"{STEP}: Too many: 2"),
    ("empty-step", _step(0, {}), 422, "steps[0] in body should have at least 1 properties"),
    ("typo-step", _step(0, {"setWeigth": 20}), 400, f'unknown field "{STEP}.setWeigth"'),
    ("bad-pause", _step(0, {"pause": {"duration": "30 seconds"}}), 422, f"{STEP}.pause.duration"),
    ("days", _step(0, {"pause": {"duration": "1d"}}), 422, f"{STEP}.pause.duration"),
    ("neg-pause", _step(0, {"pause": {"duration": -5}}), 422, f"{STEP}.pause.duration"),
    ("no-target", _drop("targetRef"), 422, "spec.targetRef: Required value"),
    ("no-routing", _drop("trafficRouting"), 422, "spec.trafficRouting: Required value"),
    ("no-name", _drop("targetRef", "name"), 422, "spec.targetRef.name: Required value"),
    ("sts", _set("targetRef", "kind", "StatefulSet"), 422, "spec.targetRef.kind: Unsupported"),
    ("no-port", _drop("service", "port"), 422, "spec.service.port: Required value"),
    ("port-str", _set("service", "port", "http"), 422, "spec.service.port: Invalid value"),
    ("svc-case", _set("service", "name", "App"), 422, "spec.service.name: Invalid value"),
    ("svc-long", _set("service", "name", "a" * 56), 422, "spec.service.name: Too long"),
    ("no-strategy", _set("strategy", {}), 422, "strategy in body should have at least 1 prop"),
    ("deadline-0", _set("progressDeadlineSeconds", 0), 422, "spec.progressDeadlineSeconds"),
    ("no-router", _set("trafficRouting", {}), 422, "spec.trafficRouting.nginx: Required"),
    ("nginx-no-ing", _set("trafficRouting", {"nginx": {}}), 422, "stableIngress: Required"),
    ("analysis-empty", _step(0, {"analysis": {"templates": []}}), 422, f"{STEP}.analysis.templ"),
    ("analysis-none", _step(0, {"analysis": {}}), 422, f"{STEP}.analysis.templates: Required"),
    (
        "analysis-and-weight",
        _step(0, {"setWeight": 10, "analysis": ANALYSIS}),
        422,
        f"{STEP}: Too many: 2",
    ),
    (
        "arg-both",
        _step(0, {"analysis": {**ANALYSIS, "args": [{"name": "a", "value": "1", **HASH}]}}),
        422,
        f'{STEP}.analysis.args[0]" must not validate the schema (not)',
    ),
    (
        "hash-canary",
        _step(
            0,
            {
                "analysis": {
                    **ANALYSIS,
                    "args": [{"name": "a", "valueFrom": {"podTemplateHashValue": "Canary"}}],
                }
            },
        ),
        422,
        f"{STEP}.analysis.args[0].valueFrom.podTemplateHashValue: Unsupported value",
    ),
    (
        "bg-start-neg",
        _set("strategy", "canary", "analysis", {**ANALYSIS, "startingStep": -1}),
        422,
        "spec.strategy.canary.analysis.startingStep: Invalid value",
    ),
    (
        "abort-delay-neg",
        _set("strategy", "canary", "abortScaleDownDelaySeconds", -1),
        422,
        "spec.strategy.canary.abortScaleDownDelaySeconds: Invalid value",
    ),
    ("abort-str", _set("progressDeadlineAbort", "yes"), 422, "spec.progressDeadlineAbort: Invalid"),
    (
        "annotation-int",
        _set(
            "trafficRouting",
            {"nginx": {"stableIngress": "a", "additionalIngressAnnotations": {"x": 1}}},
        ),
        422,
        "spec.trafficRouting.nginx.additionalIngressAnnotations.x: Invalid value",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [pytest.param(m, s, msg, id=name) for name, m, s, msg in INVALID_ROLLOUTS],
)
def test_invalid_rollouts_are_rejected(
    cluster: DynamicClient,
    scratch: str,
    request: pytest.FixtureRequest,
    mutate: Callable[[Obj], None],
    status: int,
    message: str,
) -> None:
    rollout = _minimal_rollout("bad-" + request.node.callspec.id)
    mutate(rollout["spec"])
    got_status, body = _rejection(cluster, rollout, scratch)
    assert (got_status, message in body) == (status, True), body


def test_unknown_step_keys_are_pruned_before_counting_without_strict_validation(
    cluster: DynamicClient, scratch: str
) -> None:
    rollout = _minimal_rollout("lenient")
    rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 20, "typo": 1}]
    stored = _create(cluster, rollout, scratch, strict=False)
    assert stored["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 20}]


def test_rollout_without_spec_is_rejected(cluster: DynamicClient, scratch: str) -> None:
    rollout = _minimal_rollout("no-spec")
    del rollout["spec"]
    status, body = _rejection(cluster, rollout, scratch)
    assert status == 422 and "spec: Required value" in body


def test_rollout_status_schema(cluster: DynamicClient, scratch: str) -> None:
    _create(cluster, _minimal_rollout("with-status"), scratch)
    rollouts = cluster.resources.get(api_version="ferry.dev/v1alpha1", kind="Rollout")

    def patch(status: Obj) -> Obj:
        result: Obj = rollouts.status.patch(
            body={"status": status},
            name="with-status",
            namespace=scratch,
            content_type="application/merge-patch+json",
        ).to_dict()
        return result

    valid = {
        "phase": "Paused",
        "message": "paused at step 1",
        "observedGeneration": 1,
        "stableRevision": "5d8f",
        "canaryRevision": "77c1",
        "currentStepIndex": 1,
        "canaryWeight": 20,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2025-01-01T00:00:00Z"}],
        "conditions": [
            {
                "type": "Progressing",
                "status": "True",
                "reason": "RolloutPaused",
                "message": "",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "lastUpdateTime": "2025-01-01T00:00:00Z",
            }
        ],
    }
    assert patch(valid)["status"] == valid
    for field, value, message in [
        ("phase", "Running", "status.phase: Unsupported value"),
        ("canaryWeight", 101, "status.canaryWeight: Invalid value"),
        ("pauseConditions", [{"reason": "x", "startTime": "now"}], "startTime: Invalid value"),
        ("pauseConditions", [{"reason": "x"}], "status.pauseConditions[0].startTime: Required"),
        ("conditions", [{"type": "Ready", "status": "yes"}], "status.conditions[0].status"),
        (
            "conditions",
            [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}],
            "status.conditions[1]: Duplicate value",
        ),
    ]:
        with pytest.raises(DynamicApiError) as caught:
            patch({**valid, field: value})
        assert caught.value.status == 422 and message in _message(caught.value), field


def test_rollout_status_holds_commands_history_and_analysis(
    cluster: DynamicClient, scratch: str
) -> None:
    # The manual-control protocol: kubectl ferry appends commands, Ferry answers in history.
    _create(cluster, _minimal_rollout("controlled"), scratch)
    rollouts = cluster.resources.get(api_version="ferry.dev/v1alpha1", kind="Rollout")

    def patch(status: Obj) -> Obj:
        result: Obj = rollouts.status.patch(
            body={"status": status},
            name="controlled",
            namespace=scratch,
            content_type="application/merge-patch+json",
        ).to_dict()
        return result

    at = "2025-01-01T00:00:00Z"
    command = {"id": "c1", "action": "promote", "full": False, "user": "alice", "time": at}
    valid = {
        "commands": [command, {**command, "id": "c2", "action": "abort"}],
        "history": [
            {"time": at, "note": "step 1/2"},
            {"time": at, "note": "promoted by alice: step 2/2", "user": "alice", "command": "c1"},
        ],
        "analysis": [{"name": "run-1", "kind": "step", "phase": "Running", "message": ""}],
        "pauseConditions": [{"reason": "PausedByUser", "startTime": at, "message": "by alice"}],
    }
    assert patch(valid)["status"] == valid
    twenty_one = [{**command, "id": f"c{i}"} for i in range(21)]
    for field, value, message in [
        ("commands", [{**command, "action": "rollback"}], "status.commands[0].action: Unsupported"),
        ("commands", [command, command], "status.commands[1]: Duplicate value"),
        ("commands", twenty_one, "status.commands: Too many: 21"),
        ("commands", [{**command, "time": "now"}], "status.commands[0].time: Invalid value"),
        ("commands", [{"id": "c3", "action": "retry"}], "status.commands[0].user: Required"),
        ("history", [{"time": at}], "status.history[0].note: Required value"),
        ("analysis", [{"name": "r", "kind": "side"}], "status.analysis[0].kind: Unsupported"),
        ("analysis", [{"name": "r", "kind": "step", "phase": "Done"}], "phase: Unsupported"),
    ]:
        with pytest.raises(DynamicApiError) as caught:
            patch({**valid, field: value})
        assert caught.value.status == 422 and message in _message(caught.value), field


def test_the_status_ferry_writes_fits_the_crd(cluster: DynamicClient, scratch: str) -> None:
    _create(cluster, _minimal_rollout("mirrored"), scratch)
    rollouts = cluster.resources.get(api_version="ferry.dev/v1alpha1", kind="Rollout")
    now = 1_750_000_000.0
    for stage in Stage:
        state = RolloutState(
            scratch,
            "mirrored",
            stage=stage,
            message="m",
            reason="r",
            stable_revision="5d8f",
            canary_revision="77c1",
            step=2,
            weight=50,
            pause_until=now + 30 if stage == Stage.PAUSED else 0.0,
            pause_started=now,
            stage_since=now,
            generation=3,
        )
        status = rollout_status.of(state, now)
        stored = rollouts.status.patch(
            body={"status": status},
            name="mirrored",
            namespace=scratch,
            content_type="application/merge-patch+json",
        ).to_dict()
        assert stored["status"] == status, stage


# -- analysis: the CRDs, read -------------------------------------------------------------


def _analysis_examples() -> list[Obj]:
    """One AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun using every field."""
    template = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate"},
        "spec": {
            "args": [
                {"name": "service-name"},
                {
                    "name": "namespace",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
                {"name": "errors", "value": "4"},
            ],
            "metrics": [
                {
                    "name": "success-rate",
                    "initialDelay": "1m",
                    "interval": "30s",
                    "count": 5,
                    "failureLimit": 1,
                    "inconclusiveLimit": "1",
                    "consecutiveErrorLimit": "{{args.errors}}",
                    "successCondition": "result[0] >= 0.95",
                    "failureCondition": "result[0] < 0.5",
                    "noDataPolicy": "Failed",
                    "provider": {
                        "prometheus": {
                            "address": "http://prometheus.monitoring:9090",
                            "query": 'sum(rate(http_requests_total{service="{{args.service-name}}",'
                            'namespace="{{ args.namespace }}",code!~"5.."}[1m]))',
                            "timeout": 10,
                            "insecure": False,
                            "headers": [{"key": "X-Scope-OrgID", "value": "team-a"}],
                        }
                    },
                },
                {
                    "name": "error-budget",
                    "interval": "1m",
                    "thresholdRange": {"min": 0, "max": 0.01},
                    "provider": {
                        "prometheus": {
                            "address": "https://prometheus.example.com",
                            "query": "vector(0)",
                        }
                    },
                },
            ],
            "dryRun": [{"metricName": "error-budget"}],
            "measurementRetention": [{"metricName": "success-.*", "limit": 20}],
        },
    }
    cluster_template = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "latency"},
        "spec": {
            "args": [
                {"name": "url"},
                {"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            ],
            "metrics": [
                {
                    "name": "p99",
                    "thresholdRange": {"max": 500},
                    "provider": {
                        "web": {
                            "url": "{{args.url}}",
                            "method": "POST",
                            "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
                            "body": '{"window": "1m"}',
                            "jsonPath": "{$.p99}",
                            "timeoutSeconds": 5,
                            "insecure": True,
                        }
                    },
                }
            ],
        },
    }
    run = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "podinfo-7c9f-2"},
        "spec": {
            "args": [
                {"name": "image", "value": "ghcr.io/example/smoke:1"},
                {"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            ],
            "metrics": [
                {
                    "name": "smoke",
                    "provider": {
                        "job": {
                            "metadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}},
                            "spec": {
                                "backoffLimit": 0,
                                "template": {
                                    "spec": {
                                        "restartPolicy": "Never",
                                        "containers": [
                                            {
                                                "name": "smoke",
                                                "image": "{{args.image}}",
                                                "args": ["--token", "{{args.token}}"],
                                            }
                                        ],
                                    }
                                },
                            },
                        }
                    },
                }
            ],
            "terminate": False,
        },
    }
    return [template, cluster_template, run]


def _example(kind: str) -> Obj:
    (found,) = [e for e in _analysis_examples() if e["kind"] == kind]
    return found


def test_analysis_crd_names_scopes_and_columns() -> None:
    expected = {
        "analysistemplates": ("AnalysisTemplate", "Namespaced", "at"),
        "clusteranalysistemplates": ("ClusterAnalysisTemplate", "Cluster", "cat"),
        "analysisruns": ("AnalysisRun", "Namespaced", "ar"),
    }
    for plural, (kind, scope, short) in expected.items():
        crd = _analysis_crd(plural)
        spec = crd["spec"]
        assert crd["metadata"]["name"] == f"{plural}.ferry.dev"
        assert (spec["group"], spec["scope"], spec["names"]["kind"]) == ("ferry.dev", scope, kind)
        assert spec["names"]["plural"] == plural
        assert (spec["names"]["shortNames"], spec["names"]["categories"]) == ([short], ["ferry"])
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    (run_version,) = _analysis_crd("analysisruns")["spec"]["versions"]
    assert run_version["subresources"] == {"status": {}}
    assert [
        (c["name"], c["type"], c["jsonPath"]) for c in run_version["additionalPrinterColumns"]
    ] == [
        ("Status", "string", ".status.phase"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    assert (
        _crd_schema(_analysis_crd("analysisruns"))["properties"]["status"]["properties"]["phase"][
            "type"
        ]
        == "string"
    )
    for plural in ("analysistemplates", "clusteranalysistemplates"):
        (version,) = _analysis_crd(plural)["spec"]["versions"]
        assert (
            "subresources" not in version
            and "status" not in _crd_schema(_analysis_crd(plural))["properties"]
        ), "templates have no status"


FREE_FORM = {".spec.metrics[items].provider.job.spec"}
"""The only schema nodes that keep unknown fields: a job metric's embedded batch/v1 JobSpec."""


def test_analysis_schemas_are_structural_and_typed_except_the_embedded_job_spec() -> None:
    for plural in ANALYSIS_CRDS:
        free = set()
        for path, node in _schema_nodes(_crd_schema(_analysis_crd(plural))):
            where = f"{plural}: {path or '<root>'}"
            if node.get("x-kubernetes-preserve-unknown-fields"):
                free.add(path)
                assert node == {
                    "description": node["description"],
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                }, where
                continue
            if node.get("x-kubernetes-int-or-string"):
                assert "type" not in node, where
                continue
            allowed = {"object", "array", "string", "integer", "boolean", "number"}
            assert node.get("type") in allowed, where
            if node["type"] == "array":
                assert isinstance(node.get("items"), dict), where
                for key in node.get("x-kubernetes-list-map-keys") or ():
                    assert key in node["items"]["required"], f"{where}: map key {key}"
            if node["type"] == "object" and path != ".metadata":
                has_props, has_extra = "properties" in node, "additionalProperties" in node
                assert has_props != has_extra, f"{where}: properties xor additionalProperties"
            for key in node.get("required") or ():
                assert key in node.get("properties", {}), f"{where}: required {key} undeclared"
            assert "default" not in node, f"{where}: Ferry applies analysis defaults itself"
        assert free == FREE_FORM, plural


def test_one_metric_schema_in_templates_cluster_templates_and_runs() -> None:
    specs = {
        plural: _crd_schema(_analysis_crd(plural))["properties"]["spec"] for plural in ANALYSIS_CRDS
    }
    run = copy.deepcopy(specs["analysisruns"])
    assert run["properties"].pop("terminate")["type"] == "boolean"
    for spec in (specs["clusteranalysistemplates"], run):
        assert spec["properties"] == specs["analysistemplates"]["properties"]
        assert spec["required"] == ["metrics"]


def test_the_parser_rejects_what_the_analysis_schema_rejects() -> None:
    # Ferry re-validates every object it reads: what the API server would refuse (e.g. when an
    # object predates a CRD change) is refused by shared.analysis too.
    for name, mutate, _, _ in INVALID_ANALYSIS:
        template = _example("AnalysisTemplate")
        mutate(template["spec"])
        try:
            analysis.parse_template(template)
        except models.InvalidSpec:
            continue
        raise AssertionError(f"{name}: accepted by shared.analysis")


def test_the_analysis_examples_parse() -> None:
    for example in _analysis_examples():
        if example["kind"] == "AnalysisRun":
            run = analysis.parse_run(example)
            assert (run.terminate, len(run.template.metric_specs)) == (False, 1)
        else:
            template = analysis.parse_template(example)
            assert template.metric_specs == tuple(example["spec"]["metrics"])


# -- analysis: the real schemas, in the simulator -----------------------------------------


def test_analysis_examples_are_accepted(cluster: DynamicClient, scratch: str) -> None:
    for example in _analysis_examples():
        stored = _create(cluster, example, scratch)
        assert stored["spec"] == example["spec"], example["kind"]
        namespaced = example["kind"] != "ClusterAnalysisTemplate"
        assert ("namespace" in stored["metadata"]) is namespaced, example["kind"]


def _metric_at(index: int, *path_and_value: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        _set(*path_and_value)(spec["metrics"][index])

    return mutate


def _provider(block: Obj) -> Callable[[Obj], None]:
    return _metric_at(0, "provider", block)


def _add_arg(arg: Obj) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["args"].append(arg)

    return mutate


M0 = "spec.metrics[0]"
WEB = {"url": "http://x"}
INVALID_ANALYSIS: list[tuple[str, Callable[[Obj], None], int, str]] = [
    ("no-metrics", _set("metrics", []), 422, "spec.metrics in body should have at least 1 items"),
    ("no-provider", _provider({}), 422, f"{M0}.provider in body should have at least 1 prop"),
    (
        "two-providers",
        _provider({"web": WEB, "prometheus": {"address": "http://p", "query": "up"}}),
        422,
        f"{M0}.provider: Too many: 2",
    ),
    (
        "typo-provider",
        _provider({"prometeus": {}}),
        400,
        f'unknown field "{M0}.provider.prometeus"',
    ),
    ("typo-field", _metric_at(0, "sucessCondition", "true"), 400, f'unknown field "{M0}.sucess'),
    ("count-word", _metric_at(0, "count", "three"), 422, f"{M0}.count: Invalid value"),
    ("count-neg", _metric_at(0, "count", -1), 422, f"{M0}.count: Invalid value"),
    ("limit-neg", _metric_at(0, "failureLimit", -2), 422, f"{M0}.failureLimit: Invalid value"),
    ("days", _metric_at(0, "interval", "1d"), 422, f"{M0}.interval: Invalid value"),
    ("delay", _metric_at(0, "initialDelay", "soon"), 422, f"{M0}.initialDelay: Invalid value"),
    ("no-data", _metric_at(0, "noDataPolicy", "Ignore"), 422, f"{M0}.noDataPolicy: Unsupported"),
    ("range-empty", _metric_at(1, "thresholdRange", {}), 422, "thresholdRange in body should"),
    (
        "range-text",
        _metric_at(1, "thresholdRange", {"max": "high"}),
        422,
        "spec.metrics[1].thresholdRange.max: Invalid value",
    ),
    (
        "prom-address",
        _provider({"prometheus": {"address": "prometheus:9090", "query": "up"}}),
        422,
        f"{M0}.provider.prometheus.address: Invalid value",
    ),
    (
        "prom-no-query",
        _provider({"prometheus": {"address": "http://p"}}),
        422,
        f"{M0}.provider.prometheus.query: Required value",
    ),
    (
        "web-delete",
        _provider({"web": {**WEB, "method": "DELETE"}}),
        422,
        f"{M0}.provider.web.method: Unsupported value",
    ),
    (
        "web-header",
        _provider({"web": {**WEB, "headers": [{"key": "X"}]}}),
        422,
        f"{M0}.provider.web.headers[0].value: Required value",
    ),
    ("job-no-spec", _provider({"job": {}}), 422, f"{M0}.provider.job.spec: Required value"),
    (
        "dup-metric",
        _metric_at(1, "name", "success-rate"),
        422,
        "spec.metrics[1]: Duplicate value",
    ),
    (
        "arg-both",
        _add_arg({"name": "a", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}),
        422,
        'spec.args[3]" must not validate the schema (not)',
    ),
    (
        "arg-two-sources",
        _add_arg(
            {
                "name": "a",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "x"},
                    "secretKeyRef": {"name": "s", "key": "k"},
                },
            }
        ),
        422,
        "spec.args[3].valueFrom: Too many: 2",
    ),
    (
        "arg-secret-key",
        _add_arg({"name": "a", "valueFrom": {"secretKeyRef": {"name": "s"}}}),
        422,
        "spec.args[3].valueFrom.secretKeyRef.key: Required value",
    ),
    (
        "retention-0",
        _set("measurementRetention", [{"metricName": "success-rate", "limit": 0}]),
        422,
        "spec.measurementRetention[0].limit: Invalid value",
    ),
    (
        "dry-run-typo",
        _set("dryRun", [{"metric": "x"}]),
        400,
        'unknown field "spec.dryRun[0].metric"',
    ),
]


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [pytest.param(m, s, msg, id=name) for name, m, s, msg in INVALID_ANALYSIS],
)
def test_invalid_analysis_templates_are_rejected(
    cluster: DynamicClient,
    scratch: str,
    request: pytest.FixtureRequest,
    mutate: Callable[[Obj], None],
    status: int,
    message: str,
) -> None:
    template = _example("AnalysisTemplate")
    template["metadata"]["name"] = "bad-" + request.node.callspec.id
    mutate(template["spec"])
    got_status, body = _rejection(cluster, template, scratch)
    assert (got_status, message in body) == (status, True), body


def test_analysis_run_terminate_must_be_a_boolean(cluster: DynamicClient, scratch: str) -> None:
    run = _example("AnalysisRun")
    run["metadata"]["name"] = "terminate-yes"
    run["spec"]["terminate"] = "yes"
    status, body = _rejection(cluster, run, scratch)
    assert status == 422 and "spec.terminate: Invalid value" in body


def _no_secret(name: str, key: str) -> str:
    raise AssertionError("no secret to read")


def _no_field(path: str) -> str:
    raise AssertionError("fieldRefs were resolved when the run was created")


def test_the_run_status_ferry_writes_fits_the_crd(cluster: DynamicClient, scratch: str) -> None:
    example = _example("AnalysisTemplate")
    run = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "with-status"},
        "spec": analysis.run_spec(
            analysis.parse_template(example),
            {"service-name": "podinfo"},
            field=lambda path: scratch,
        ),
    }
    _create(cluster, run, scratch)
    runs = cluster.resources.get(api_version="ferry.dev/v1alpha1", kind="AnalysisRun")
    spec = analysis.parse_run(run).template
    args = analysis.resolve_args(spec.args, {}, secret=_no_secret, field=_no_field)
    metrics = spec.metrics(args)
    now = 1_750_000_000.0
    ok = analysis.measure(metrics[0], [0.99], started_at=now, finished_at=now + 1)
    bad = analysis.measure(metrics[0], [0.2], started_at=now + 30, finished_at=now + 31)
    error = analysis.Measurement(
        analysis.MeasurementPhase.ERROR, now + 60, now + 61, None, "timeout"
    )
    flying = analysis.Measurement(
        analysis.MeasurementPhase.RUNNING, now + 90, resume_at=now + 100, metadata={"job": "j"}
    )
    cases = [
        ({"success-rate": [ok, error, flying], "error-budget": [ok]}, None, ""),
        ({"success-rate": [ok, bad, bad]}, analysis.AnalysisPhase.FAILED, "failed"),
        ({}, analysis.AnalysisPhase.SUCCESSFUL, "Run Terminated"),
    ]
    for measurements, phase, message in cases:
        status = analysis.run_status(metrics, measurements, phase, message, started_at=now)
        stored = runs.status.patch(
            body={"status": status},
            name="with-status",
            namespace=scratch,
            content_type="application/merge-patch+json",
        ).to_dict()
        assert stored["status"] == status, phase
    with pytest.raises(DynamicApiError) as caught:
        runs.status.patch(
            body={"status": {"phase": "Done"}},
            name="with-status",
            namespace=scratch,
            content_type="application/merge-patch+json",
        )
    assert caught.value.status == 422 and "status.phase: Unsupported value" in _message(
        caught.value
    )


def _analysis_rollout(name: str) -> Obj:
    rollout = _minimal_rollout(name)
    canary = rollout["spec"]["strategy"]["canary"]
    canary["steps"].append(
        {
            "analysis": {
                "templates": [
                    {"templateName": "success-rate"},
                    {"templateName": "latency", "clusterScope": True},
                ],
                "args": [
                    {"name": "service-name", "value": "app"},
                    {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                    {"name": "app", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
            }
        }
    )
    canary["analysis"] = {
        "templates": [{"templateName": "success-rate"}],
        "args": [{"name": "service-name", "value": "app"}],
        "startingStep": 1,
    }
    canary["abortScaleDownDelaySeconds"] = 0
    rollout["spec"]["progressDeadlineAbort"] = True
    return rollout


def test_a_rollout_with_analysis_is_accepted_and_parses(
    cluster: DynamicClient, scratch: str
) -> None:
    rollout = _analysis_rollout("with-analysis")
    stored = _create(cluster, rollout, scratch)
    assert _contains(stored["spec"], rollout["spec"])
    spec = models.parse({**stored, "metadata": {"name": "with-analysis", "namespace": scratch}})
    assert spec.progress_deadline_abort is True and spec.abort_scale_down_delay == 0
    assert spec.background_analysis is not None and spec.background_analysis.starting_step == 1
    assert isinstance(spec.steps[1], models.Analysis)


def test_readme_install_commands_work_with_kubectl(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH")
    readme = (KNATIVE / "README.md").read_text()
    block = readme.split("## Install", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [
        shlex.split(line, comments=True)
        for line in block.splitlines()
        if line.startswith("kubectl ")
    ]
    applied = [c[3] for c in commands if c[1:3] == ["apply", "-f"]]
    assert applied == [f"knative/{name}" for name in INSTALL_ORDER]
    with Simulator(controllers=False) as sim:
        config = str(sim.write_kubeconfig(tmp_path / "kubeconfig"))

        def run(*args: str, stdin: str | None = None) -> str:
            proc = subprocess.run(
                [kubectl, "--kubeconfig", config, *args],
                cwd=REPO,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
            return proc.stdout

        for path in sorted(UPSTREAM.glob("*.yaml")):  # Knative itself, as a prerequisite
            run("create", "-f", str(path))
        for command in commands:
            if "secret" in command:
                # kubectl's imperative `create` sends protobuf, which the simulator does not
                # read: render the same object on the client and apply it as JSON instead.
                rendered = run(*command[1:], "--dry-run=client", "-o", "json")
                run("apply", "-f", "-", stdin=rendered)
            else:
                run(*command[1:])
        secret = json.loads(run("get", "-n", NAMESPACE, "secret", "ferry-redis", "-o", "json"))
        assert set(secret["data"]) == {"url"}
        run("get", "-n", NAMESPACE, "triggers.eventing.knative.dev/ferry-reconcile-sources-ping")
