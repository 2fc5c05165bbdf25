"""knative/ runs Ferry's image by digest: kustomize's ``images:`` (written by ``make image``,
``image.build.pin``) maps the name the manifests use to one digest for every container.

Covered: the committed pin renders every Ferry container (the functions, the timer worker,
the dashboard, the webhooks) by one digest; pinning again replaces the entry, keeps a
registry name given before unless a new one is given, and keeps whatever else the file says;
a kustomization with an ``images:`` list of its own is refused, not given a second one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from image import build

KNATIVE = Path(__file__).resolve().parents[2] / "knative"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
FIRST, SECOND = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def containers(directory: Path) -> list[str]:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    images = []
    for doc in yaml.safe_load_all(rendered):
        spec = ((doc or {}).get("spec") or {}).get("template", {}).get("spec") or {}
        images += [c["image"] for c in spec.get("containers", [])]
    return [i for i in images if re.search(r"/ferry[:@]", i)]


def test_kustomize_renders_every_ferry_container_by_one_digest() -> None:
    pinned = yaml.safe_load((KNATIVE / "kustomization.yaml").read_text())["images"]
    (entry,) = [i for i in pinned if i["name"] == build.NAME]
    assert DIGEST.match(entry["digest"])
    ferry = containers(KNATIVE)
    assert len(ferry) >= 15  # every function, the timer worker, the dashboard, the webhooks
    assert set(ferry) == {f"{entry.get('newName', build.NAME)}@{entry['digest']}"}


@pytest.fixture
def knative(tmp_path: Path) -> Path:
    copy = tmp_path / "knative"
    shutil.copytree(KNATIVE, copy)
    return copy


def test_pinning_again_replaces_the_entry_and_keeps_the_rest(knative: Path) -> None:
    kustomization = knative / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "commonLabels:\n  team: platform\n")
    build.pin(kustomization, build.NAME, FIRST, "registry.example.com/ferry")
    build.pin(kustomization, build.NAME, SECOND, None)  # `make image` again, no IMAGE=
    text = kustomization.read_text()
    assert text.count("images:") == 1 and FIRST not in text
    assert yaml.safe_load(text)["commonLabels"] == {"team": "platform"}
    assert set(containers(knative)) == {f"registry.example.com/ferry@{SECOND}"}
    build.pin(kustomization, build.NAME, FIRST, "other.example.com/ferry")
    assert set(containers(knative)) == {f"other.example.com/ferry@{FIRST}"}


def test_an_images_list_of_ones_own_is_refused(knative: Path) -> None:
    kustomization = knative / "kustomization.yaml"
    text = kustomization.read_text()
    if build.PIN_BEGIN in text:
        text = text.split(build.PIN_BEGIN)[0]
    kustomization.write_text(text + "images:\n  - name: nginx\n    newTag: '1.27'\n")
    before = kustomization.read_text()
    with pytest.raises(build.BuildError, match="images: list of its own"):
        build.pin(kustomization, build.NAME, FIRST, None)
    assert kustomization.read_text() == before
