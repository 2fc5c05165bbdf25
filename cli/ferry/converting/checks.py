"""Is a converted object one Ferry accepts? Its CRD's schema, as the API server checks it, and
Ferry's own parser of that kind.

The schema check is the API server's: defaults, pruning (a field the CRD does not declare is a
problem: kubectl's strict field validation refuses it), OpenAPI validation and the CRD's CEL
rules (``shared.schemas``). Then the parser Ferry runs on the object: ``shared.routers.checked``
for a Rollout (``shared.models.parse`` and its router's own checks, as the functions load it),
``shared.analysis.validation`` for templates and runs, ``shared.experiments.spec`` for an
Experiment. The CRDs are read from ``knative/crds`` of the checkout (``--crds`` names another
directory).
"""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from shared import models, routers, schemas
from shared.analysis import validation
from shared.experiments import spec as experiments

CRDS = Path(__file__).resolve().parents[3] / "knative" / "crds"
"""The checkout's CRDs (``knative/crds``)."""
KINDS = ("Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment")
"""Ferry's kinds ``ferry convert`` writes."""


class MissingCRDs(Exception):
    """The CRDs are not where they were looked for."""


class Checker:
    def __init__(self, crds: Path = CRDS) -> None:
        self.crds = crds

    @cached_property
    def schemas(self) -> dict[str, schemas.Schema]:
        found: dict[str, schemas.Schema] = {}
        if not self.crds.is_dir():
            raise MissingCRDs(f"Ferry's CRDs are not in {self.crds} (give --crds DIR)")
        for path in sorted(self.crds.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                schema = schemas.schema_for_version(doc, models.VERSION)
                if doc["spec"]["group"] == models.GROUP and schema is not None:
                    found[doc["spec"]["names"]["kind"]] = schema
        missing = sorted(set(KINDS) - set(found))
        if missing:
            raise MissingCRDs(f"no CRD of {', '.join(missing)} in {self.crds}")
        return found

    def problems(self, obj: dict[str, Any]) -> list[str]:
        """Everything Ferry (its CRD, then its parser) would refuse in ``obj``; empty: none."""
        kind = str(obj.get("kind"))
        found = self.schema_problems(obj)
        try:
            if kind == "Rollout":
                routers.checked(obj)
            elif kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
                validation.parse_template(obj)
            elif kind == "AnalysisRun":
                validation.parse_run(obj)
            elif kind == "Experiment":
                experiments.parse(obj)
        except models.InvalidSpec as exc:
            found.extend(exc.problems)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            # Ferry's parsers expect what the schema allows; report, never crash, on the rest
            found.append(f"Ferry's parser of {kind} cannot read it ({type(exc).__name__}: {exc})")
        return found

    def schema_problems(self, obj: dict[str, Any]) -> list[str]:
        schema = self.schemas.get(str(obj.get("kind")))
        if schema is None or obj.get("apiVersion") != models.API_VERSION:
            return [f"{obj.get('apiVersion')} {obj.get('kind')} is not one of Ferry's kinds"]
        kept = copy.deepcopy(obj)
        schemas.apply_defaults(kept, schema)
        found = [f'unknown field "{path}"' for path in schemas.prune(kept, schema)]
        errors = schemas.validate(kept, schema)
        found += [str(e) for e in errors]
        if not errors:
            found += [str(e) for e in schemas.check_rules(kept, schema)]
        return found
