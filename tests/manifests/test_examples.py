"""The examples in knative/examples/ say what works: each Ferry object in them passes its CRD's
schema (OpenAPI, pruning, CEL rules, as the simulator's API server checks them) and Ferry's own
parsing, so an example copied into a cluster is accepted and understood."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import models, webhookpolicies
from shared.experiments import spec as experiments
from shared.schemas import pruning, rules, structure, validation
from tests.manifests.helpers import KNATIVE

EXAMPLES = sorted((KNATIVE / "examples").glob("*.yaml"))
CRDS = {
    doc["spec"]["names"]["kind"]: doc
    for path in (KNATIVE / "crds").glob("*.yaml")
    for doc in yaml.safe_load_all(path.read_text())
    if doc
}


def ferry_objects(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return [d for d in docs if str(d.get("apiVersion", "")).startswith("ferry.dev/")]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_its_crd_and_ferrys_parsing(path: Path) -> None:
    for obj in ferry_objects(path):
        schema = structure.schema_for_version(CRDS[obj["kind"]], "v1alpha1")
        assert schema is not None
        kept = copy.deepcopy(obj)
        assert pruning.prune(kept, schema) == [], f"{path.name}: unknown fields"
        assert validation.validate(kept, schema) == []
        assert rules.check(kept, schema) == []
        if obj["kind"] == "Rollout":
            models.parse(obj)
        elif obj["kind"] == "WebhookPolicy":
            webhookpolicies.parse(obj)
        elif obj["kind"] == "Experiment":
            experiments.parse(obj)


def test_the_gates_example_shows_the_hook_types() -> None:
    (rollout,) = ferry_objects(KNATIVE / "examples" / "gates.yaml")
    shown = {h.type for h in models.parse(rollout).hooks}
    assert shown == set(models.HOOK_TYPES) - {"confirm-traffic-increase"}


def test_a_service_name_is_required_unless_blue_green_names_its_active_service() -> None:
    schema = structure.schema_for_version(CRDS["Rollout"], "v1alpha1")
    assert schema is not None
    (blue_green,) = [o for o in ferry_objects(KNATIVE / "examples" / "bluegreen.yaml")]
    assert "name" not in blue_green["spec"]["service"]
    assert rules.check(copy.deepcopy(blue_green), schema) == []
    unnamed = copy.deepcopy(blue_green)
    del unnamed["spec"]["strategy"]["blueGreen"]["activeService"]
    (refused,) = rules.check(unnamed, schema)
    assert "spec.service.name is required" in str(refused)
    (canary,) = ferry_objects(KNATIVE / "examples" / "rollout.yaml")
    del canary["spec"]["service"]["name"]
    assert rules.check(canary, schema) != []
