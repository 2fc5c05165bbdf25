"""``ferry manifests``: services.yaml and triggers.yaml are generated from ``functions.ROUTES``.

Covered: the checked-in files are exactly what the generator writes (header comments included),
so they cannot drift from ``ROUTES``; ``ferry manifests --check`` exits 0 on them, and 1 with a
unified diff naming the file when one differs, writing nothing; ``ferry manifests --dir`` writes
both files, only those, after which the check passes; a missing directory is refused (exit 2);
a new function in the table gets its Service and its Triggers; the
per-function table ``TUNING`` names only existing functions, and today's values reach the
Services (detect 1..10, reconcile 1..3, the others 0..3; the dead-letter function's own
ServiceAccount).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cli.ferry import manifests, serve
from cli.ferry.main import main
from functions import DEAD_LETTER, ROUTES, SERVICE_PREFIX
from shared.events import Type
from tests.manifests.helpers import DEADLETTER, KNATIVE, _services, _triggers

GENERATED = ("services.yaml", "triggers.yaml")


def _snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*.yaml")}


def test_the_checked_in_files_are_what_the_generator_writes() -> None:
    files = manifests.generated()
    assert sorted(files) == sorted(GENERATED)
    assert manifests.differences(KNATIVE, files) == "", "run `ferry manifests` and commit"
    for name in GENERATED:
        assert (KNATIVE / name).read_text().startswith(manifests.GENERATED)


def test_check_passes_on_the_checked_in_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifests", "--check"]) == 0
    assert capsys.readouterr().out == ""


def test_check_prints_a_diff_and_fails_when_a_file_drifts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "knative"
    shutil.copytree(KNATIVE, copy)
    services = copy / "services.yaml"
    services.write_text(services.read_text().replace('max-scale: "10"', 'max-scale: "20"'))
    before = _snapshot(copy)

    assert main(["manifests", "--check", "--dir", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"--- {services} (on disk)" in out and f"+++ {services} (generated)" in out
    assert '-        autoscaling.knative.dev/max-scale: "20"' in out
    assert '+        autoscaling.knative.dev/max-scale: "10"' in out
    assert "triggers.yaml" not in out
    assert _snapshot(copy) == before, "--check writes nothing"

    assert main(["manifests", "--dir", str(copy)]) == 0
    assert _snapshot(copy) == _snapshot(KNATIVE), "only the generated files are written"
    assert main(["manifests", "--check", "--dir", str(copy)]) == 0


def test_a_missing_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifests", "--dir", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_a_new_function_gets_its_service_and_triggers() -> None:
    routes = {**ROUTES, "audit": (Type.ROLLOUT_CHANGED, Type.ROLLOUT_DELETED)}
    files = manifests.render(routes, DEAD_LETTER, SERVICE_PREFIX)
    services = {s["metadata"]["name"]: s for s in yaml.safe_load_all(files["services.yaml"])}
    triggers = {t["metadata"]["name"]: t for t in yaml.safe_load_all(files["triggers.yaml"])}
    assert list(services)[-2:] == ["ferry-audit", DEADLETTER]
    assert set(services) == {*_services(), "ferry-audit"}
    added = {"ferry-audit-rollout-changed", "ferry-audit-rollout-deleted"}
    assert set(triggers) == {t["metadata"]["name"] for t in _triggers()} | added
    spec = triggers["ferry-audit-rollout-deleted"]["spec"]
    assert spec["filter"]["attributes"] == {"type": "dev.ferry.rollout.deleted"}
    assert spec["subscriber"]["ref"]["name"] == "ferry-audit"
    (container,) = services["ferry-audit"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve", "audit"]


def test_tuning_names_only_functions_that_exist() -> None:
    assert set(manifests.TUNING) <= {*ROUTES, DEAD_LETTER}
    with pytest.raises(ValueError, match="detect"):
        manifests.render({"reconcile": (Type.TICK,)}, DEAD_LETTER, SERVICE_PREFIX)


def test_the_services_keep_their_scale_bounds_and_service_accounts() -> None:
    scale = {"detect": ("1", "10"), "reconcile": ("1", "3"), "load": ("0", "5")}
    for name, service in _services().items():
        function = name.removeprefix(SERVICE_PREFIX)
        template = service["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        bounds = (
            annotations["autoscaling.knative.dev/min-scale"],
            annotations["autoscaling.knative.dev/max-scale"],
        )
        assert bounds == scale.get(function, ("0", "3")), name
        roles = {
            "detect": "ferry-detect",
            "step": "ferry-analysis",
            "advance": "ferry-analysis",
            "measure": "ferry-analysis",
            "gate": "ferry-analysis",
            "experiment": "ferry-experiment",
            DEAD_LETTER: "ferry-deadletter",
            "notify": "ferry-notify",
            "trigger": "ferry-trigger",
            "load": "ferry-load",
        }
        account = roles.get(function, "ferry-rollout")
        assert template["spec"]["serviceAccountName"] == account, name
        # one request per thread of ferry serve: a ninth goes to another instance
        assert template["spec"]["containerConcurrency"] == serve.THREADS, name
