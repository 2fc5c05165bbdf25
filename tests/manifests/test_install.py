"""The installation as a whole: the files, the README's install commands, the kustomization.

Covered: every YAML document parses and names itself; namespaced objects live in
``ferry-system``; object names are unique per kind; the install order, the kustomization and the
README's file table cover every manifest (examples are not installed); the README's
step-by-step install commands run with the real kubectl against the simulator (with the
upstream Knative CRDs installed first, as the prerequisite Knative would); ``kubectl kustomize
knative/`` renders exactly the installation, the namespace and the CRDs first, the Broker after
the Services and before its Triggers; the README's kustomize install (``kubectl apply -k``, a
client-side apply) installs every object of it into the simulator.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.ferry.manifests import IMAGE
from local.sim.cluster import Simulator
from tests.manifests.helpers import (
    CLUSTER_SCOPED,
    INSTALL_ORDER,
    KNATIVE,
    KUSTOMIZATION,
    NAMESPACE,
    REPO,
    UPSTREAM,
    _contains,
    _docs,
    _installed,
)

Kubectl = Callable[..., str]
"""``run(*args, stdin=None)``: kubectl's stdout; the test fails if kubectl does."""


def _kubectl(*args: str, config: str | None = None, stdin: str | None = None) -> str:
    """Run the real kubectl in the repository (with ``config`` as its kubeconfig, if given)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH")
    target = ["--kubeconfig", config] if config else []
    proc = subprocess.run(
        [kubectl, *target, *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@contextlib.contextmanager
def _kubectl_on_a_cluster_with_knative(tmp_path: Path) -> Iterator[Kubectl]:
    """kubectl against a new simulator that serves the upstream Knative CRDs, and nothing else:
    the simulator serves only Kubernetes' own kinds by itself."""
    with Simulator(controllers=False) as sim:
        run = functools.partial(_kubectl, config=str(sim.write_kubeconfig(tmp_path / "kubeconfig")))
        for path in sorted(UPSTREAM.glob("*.yaml")):  # Knative itself, as a prerequisite
            run("create", "-f", str(path))
        yield run


def _readme_install_blocks() -> list[list[list[str]]]:
    """The kubectl commands of each ``sh`` block of the README's Install section, split."""
    readme = (KNATIVE / "README.md").read_text()
    section = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    return [
        [
            shlex.split(line, comments=True)
            for line in block.split("```", 1)[0].splitlines()
            if line.startswith("kubectl ")
        ]
        for block in section.split("```sh")[1:]
    ]


def _run_readme_commands(run: Kubectl, commands: list[list[str]]) -> None:
    for command in commands:
        if "secret" in command:
            # kubectl's imperative `create` sends protobuf, which the simulator does not
            # read: render the same object on the client and apply it as JSON instead.
            rendered = run(*command[1:], "--dry-run=client", "-o", "json")
            run("apply", "-f", "-", stdin=rendered)
        else:
            run(*command[1:])


def test_every_document_parses_and_names_itself() -> None:
    paths = sorted(p for p in KNATIVE.rglob("*.yaml") if p != KUSTOMIZATION)
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
        if p.relative_to(KNATIVE).parts[0]
        not in ("examples", "eventing-auth", "route-watch", "argocd")
        and p != KUSTOMIZATION
    }
    assert on_disk == set(INSTALL_ORDER)
    assert yaml.safe_load(KUSTOMIZATION.read_text())["resources"] == list(INSTALL_ORDER)
    readme = (KNATIVE / "README.md").read_text()
    optional = [
        "examples/rollout.yaml",
        "eventing-auth/eventpolicy.yaml",
        "argocd/argocd-cm-health.yaml",
        "kustomization.yaml",
        *(f"route-watch/{p.name}" for p in sorted((KNATIVE / "route-watch").glob("*.yaml"))),
    ]
    for name in [*INSTALL_ORDER, *optional]:
        assert f"`{name}`" in readme, f"README.md does not describe {name}"
    assert "make image" in readme  # where the image the manifests name comes from


def test_object_names_are_unique_per_kind() -> None:
    seen: set[tuple[str, str]] = set()
    for doc in _installed():
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{key} defined twice"
        seen.add(key)


def test_readme_install_commands_work_with_kubectl(tmp_path: Path) -> None:
    commands = _readme_install_blocks()[0]
    applied = [c[3] for c in commands if c[1:3] == ["apply", "-f"]]
    assert applied == [f"knative/{name}" for name in INSTALL_ORDER]
    with _kubectl_on_a_cluster_with_knative(tmp_path) as run:
        _run_readme_commands(run, commands)
        secret = json.loads(run("get", "-n", NAMESPACE, "secret", "ferry-redis", "-o", "json"))
        assert set(secret["data"]) == {"url"}
        run("get", "-n", NAMESPACE, "triggers.eventing.knative.dev/ferry-reconcile-sources-ping")


# -- kustomize ----------------------------------------------------------------------------


def _key(doc: dict[str, object]) -> str:
    return json.dumps(doc, sort_keys=True)


PINNED = re.compile(r"ghcr\.io/ferry-dev/ferry@sha256:[0-9a-f]{64}")


def _unpinned(obj: Any) -> Any:
    """``obj`` with kustomize's pinned image (``images:``, tests/manifests/test_image_pin.py)
    named as the manifests name it, so the rest can be compared with the files."""
    return json.loads(PINNED.sub(IMAGE, json.dumps(obj)))


def test_kubectl_kustomize_renders_the_installation_namespace_and_crds_first() -> None:
    rendered = [
        _unpinned(doc) for doc in yaml.safe_load_all(_kubectl("kustomize", "knative/")) if doc
    ]
    assert sorted(map(_key, rendered)) == sorted(map(_key, _installed()))
    kinds = [doc["kind"] for doc in rendered]
    assert kinds[:5] == ["Namespace", *["CustomResourceDefinition"] * 4]
    services = [
        i for i, doc in enumerate(rendered) if doc["apiVersion"] == "serving.knative.dev/v1"
    ]
    triggers = [i for i, kind in enumerate(kinds) if kind == "Trigger"]
    assert max(services) < kinds.index("Broker") < min(triggers)


def test_readme_kustomize_install_works_with_kubectl(tmp_path: Path) -> None:
    step_by_step, commands = _readme_install_blocks()
    secret_commands = [c for c in step_by_step if "secret" in c]
    assert [c[6] for c in secret_commands] == [
        "ferry-redis",
        "ferry-webhooks-key",
        "ferry-dashboard-session",
    ]
    assert commands == [
        ["kubectl", "apply", "-f", "knative/namespace.yaml"],
        *secret_commands,
        ["kubectl", "apply", "-k", "knative/"],
    ]
    with _kubectl_on_a_cluster_with_knative(tmp_path) as run:
        _run_readme_commands(run, commands)
        live = _unpinned(json.loads(run("get", "-k", "knative/", "-o", "json"))["items"])
        secret = json.loads(run("get", "-n", NAMESPACE, "secret", "ferry-redis", "-o", "json"))
    by_key = {(doc["kind"], doc["metadata"]["name"]): doc for doc in _installed()}
    assert sorted((obj["kind"], obj["metadata"]["name"]) for obj in live) == sorted(by_key)
    for obj in live:
        doc = by_key[obj["kind"], obj["metadata"]["name"]]
        assert obj["metadata"].get("namespace") == doc["metadata"].get("namespace")
        for field in ("spec", "rules", "subjects", "roleRef"):
            if field in doc:
                assert _contains(obj[field], doc[field]), f"{doc['kind']} {doc['metadata']['name']}"
    assert set(secret["data"]) == {"url"}
