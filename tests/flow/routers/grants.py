"""Checking one router's RBAC (knative/routers.yaml) against what a run of it did."""

from __future__ import annotations

from collections import defaultdict

import yaml

from local.runtime import KNATIVE_DIR, Runtime
from tests.flow.test_least_privilege import Grant, used


def granted(group: str) -> dict[str, set[Grant]]:
    """ServiceAccount name -> what knative/routers.yaml grants it in API group ``group``."""
    docs = [d for d in yaml.safe_load_all((KNATIVE_DIR / "routers.yaml").read_text()) if d]
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    out: dict[str, set[Grant]] = defaultdict(set)
    for binding in (d for d in docs if d["kind"] == "ClusterRoleBinding"):
        for rule in roles[binding["roleRef"]["name"]]["rules"]:
            if group not in rule["apiGroups"]:
                continue
            for subject in binding["subjects"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out[subject["name"]].add((group, resource, verb))
    return out


def assert_grants_used_and_nothing_refused(runtime: Runtime, group: str) -> None:
    """No request of Ferry's was refused, and each grant in ``group`` was used by its
    ServiceAccount during the run."""
    did, refused = used(runtime)
    assert refused == []
    grants = granted(group)
    assert grants, f"knative/routers.yaml grants nothing in {group}"
    for account, wanted in grants.items():
        unused = wanted - did.get(account, set())
        assert unused == set(), f"{account} is granted but never used {sorted(unused)}"
