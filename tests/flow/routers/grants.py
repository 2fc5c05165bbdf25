"""Checking one router's RBAC (knative/routers.yaml and its knative/route-watch/ file) against
what a run of it did."""

from __future__ import annotations

from collections import defaultdict

import yaml

from local.runtime import KNATIVE_DIR, Runtime
from tests.flow.test_least_privilege import Grant, used

NOT_SHOWN = "get"
"""Knative checks that ferry-source may get each watched kind before it starts the adapter; the
adapter itself only lists and watches (see tests/flow/test_least_privilege.py)."""


def granted(group: str) -> dict[str, set[Grant]]:
    """ServiceAccount name -> what knative/routers.yaml and knative/route-watch/ grant it in
    API group ``group``."""
    paths = [KNATIVE_DIR / "routers.yaml", *sorted((KNATIVE_DIR / "route-watch").glob("*.yaml"))]
    docs = [d for path in paths for d in yaml.safe_load_all(path.read_text()) if d]
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
        if account == "ferry-source":
            wanted = {g for g in wanted if g[2] != NOT_SHOWN}
        unused = wanted - did.get(account, set())
        assert unused == set(), f"{account} is granted but never used {sorted(unused)}"
