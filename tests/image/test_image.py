"""Ferry's OCI image (``make image``: ``image/build.py``) is real: built here with no container
engine, it is a valid OCI archive of a non-root Ferry with no build tools in it, the same
source gives the same digest, and, unpacked by ``umoci`` as a container runtime would, every
function served from its root filesystem (chroot, the image's user, entrypoint and
environment) answers CloudEvents and releases a canary.

The build needs root, ``mmdebstrap`` and ``umoci`` (``.ci/run`` installs them); without them
these tests fail and say what to install, they never skip.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

import functions
from image import build as build_module
from local import demo
from local.runtime import Options, Runtime
from local.served import Image, free_port
from local.sources.apiserver import resource_event
from shared import events
from shared.events import Type
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "image" / "build.py"
BUILD_SECONDS = 900

pytestmark = pytest.mark.timeout(BUILD_SECONDS)


@dataclass
class Built:
    archive: Path
    digest: str
    layout: Path
    """The archive unpacked: an OCI image layout."""

    def blob(self, digest: str) -> Path:
        return self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]

    def json(self, digest: str) -> Any:
        return json.loads(self.blob(digest).read_text())


def build(out: Path) -> str:
    """Build the image as ``make image`` does (not pinned into knative/); its digest."""
    missing = [tool for tool in ("mmdebstrap", "umoci") if not shutil.which(tool)]
    if missing or os.geteuid() != 0:
        pytest.fail(
            f"building the image needs root and {', '.join(missing) or 'mmdebstrap, umoci'} "
            "(Debian: apt-get install mmdebstrap umoci); .ci/run installs them"
        )
    done = subprocess.run(
        [sys.executable, str(BUILD), "build", "--no-pin", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)  # the build's progress and its size, in the test's report
    return out.with_name("ferry-image.digest").read_text().strip()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("first") / "ferry-oci.tar"
    digest = build(out)
    layout = out.parent / "layout"
    with tarfile.open(out) as archive:
        archive.extractall(layout, filter="data")
    return Built(out, digest, layout)


def test_the_archive_is_an_oci_image_of_a_non_root_ferry(built: Built) -> None:
    assert json.loads((built.layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    (entry,) = json.loads((built.layout / "index.json").read_text())["manifests"]
    assert entry["digest"] == built.digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "0.1.0"
    manifest = built.json(built.digest)
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    config = built.json(manifest["config"]["digest"])
    assert config["config"]["User"] == "65532:65532"  # numeric: runAsNonRoot can check it
    assert config["config"]["Entrypoint"] == ["ferry"]
    assert config["config"]["Cmd"] == ["serve"]
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert len(config["history"]) == 1 and not config["history"][0].get("empty_layer")
    with gzip.open(built.blob(layer["digest"])) as raw, tarfile.open(fileobj=raw) as tar:
        members = {m.name.removeprefix("./").rstrip("/"): m for m in tar}
    names = set(members)
    assert "usr/local/bin/ferry" in names and "usr/bin/python3.11" in names
    for tool in ("usr/bin/gcc", "usr/bin/cc", "usr/bin/make", "usr/bin/pip", "usr/bin/apt"):
        assert tool not in names, f"{tool} is in the image"
    caches = [n for n in names if n.startswith(("var/cache/apt/", "var/lib/apt/lists/"))]
    assert not caches and not any(n.startswith("var/log/") for n in names)
    assert not any("/pip/" in n and n.startswith("root/.cache") for n in names)
    sources = [n for n in names if n.endswith(".py") and "/dist-packages/" in n]
    compiled = {n for n in names if n.endswith(".pyc")}
    assert sources and all(
        str(Path(n).parent / "__pycache__" / (Path(n).stem + ".cpython-311.pyc")) in compiled
        for n in sources
        if "/dist-packages/shared/" in n
    )
    assert len({m.mtime for m in members.values()}) == 1  # every file: the last commit's time
    assert "ferry:x:65532:65532:" in tar_text(built, layer["digest"], "etc/passwd")
    # nothing of the machine that built it: its name, its DNS server, the mirror it used
    assert not names & {"etc/hostname", "etc/resolv.conf", "etc/apt/sources.list"}
    assert not [n for n, m in members.items() if m.isfile() and m.mode & 0o6000]  # no setuid
    assert not [n for n in names if n.startswith("dev/")]


def tar_text(built: Built, layer: str, name: str) -> str:
    with gzip.open(built.blob(layer)) as raw, tarfile.open(fileobj=raw) as tar:
        for member in tar:
            if member.name.removeprefix("./") == name:
                found = tar.extractfile(member)
                assert found is not None
                return found.read().decode()
    raise AssertionError(f"{name} is not in the image")


def test_the_same_source_gives_the_same_digest(
    built: Built, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = build(tmp_path_factory.mktemp("second") / "ferry-oci.tar")
    assert again == built.digest


@pytest.fixture(scope="module")
def image(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The image unpacked by umoci into a runtime bundle (root filesystem + config.json)."""
    bundle = tmp_path_factory.mktemp("bundle") / "ferry"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{built.layout}:0.1.0", str(bundle)],
        check=True,
        capture_output=True,
    )
    return Image(bundle)


@pytest.fixture(scope="module")
def runtime(image: Image) -> Iterator[Runtime]:
    with Runtime(Options(tick=3600.0, image=image)) as started:
        yield started


def test_every_function_runs_from_the_image_as_its_user(runtime: Runtime, image: Image) -> None:
    assert image.args == ["ferry", "serve"] and (image.uid, image.gid) == (65532, 65532)
    assert set(runtime.served) == {*functions.ROUTES, functions.DEAD_LETTER}
    for name, served in runtime.served.items():
        assert served.pid is not None, name
        status = Path(f"/proc/{served.pid}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert uid == "65532", name
        assert os.readlink(f"/proc/{served.pid}/root") == str(image.rootfs), name
        assert Path(os.readlink(f"/proc/{served.pid}/exe")) == image.rootfs / "usr/bin/python3.11"


def test_a_cloudevent_to_a_function_in_the_image_gets_its_reply(runtime: Runtime) -> None:
    assert runtime.sim is not None
    kube = Kube(runtime.sim.api_client())
    kube.create(demo.deployment("podinfo:1"))
    kube.create(demo.ingress())
    kube.create(demo.rollout([{"setWeight": 50}]))
    rollout = kube.rollout(demo.NAMESPACE, demo.NAME)
    assert rollout is not None
    event = resource_event("add", rollout, "https://kubernetes.default.svc")
    headers, body = events.to_http(event)
    forged = requests.post(runtime.function_url("detect"), data=body, headers=headers, timeout=30)
    assert forged.status_code == 401  # no Broker token: refused by the image's Ferry
    headers["Authorization"] = f"Bearer {runtime.token(runtime.audience('detect'))}"
    reply = requests.post(runtime.function_url("detect"), data=body, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["ce-type"] == Type.ROLLOUT_CHANGED.value
    assert reply.headers["ce-subject"] == f"{demo.NAMESPACE}/{demo.NAME}"


def test_a_canary_is_released_by_the_functions_in_the_image(runtime: Runtime) -> None:
    assert runtime.sim is not None
    podinfo = Demo(runtime, Kube(runtime.sim.api_client()))
    if podinfo.kube.rollout(demo.NAMESPACE, demo.NAME) is None:
        podinfo.create(steps=[{"setWeight": 50}])
    first = podinfo.wait(Stage.HEALTHY, timeout=60)
    revision = podinfo.set_image("podinfo:2")
    done = podinfo.wait(Stage.HEALTHY, timeout=60, stable_revision=revision)
    assert done.stable_revision != first.stable_revision
    assert "step 1/1: canary weight 50%" in [entry["note"] for entry in podinfo.history()]
    logged = [line for line in runtime.served["detect"].log_path.read_text().splitlines() if line]
    assert logged and all(json.loads(line)["level"] for line in logged)  # JSON, every line


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real OCI registry (Debian's docker-registry: the CNCF Distribution server) on a free
    port of 127.0.0.1, storing in ``tmp_path``: the registry one publishes the image to."""
    binary = shutil.which("docker-registry")
    if binary is None or not shutil.which("skopeo"):
        pytest.fail(
            "publishing needs docker-registry and skopeo (Debian packages); .ci/run installs them"
        )
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen([binary, "serve", str(config)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _answers(f"{url}/v2/"), timeout=15, what="the registry answering")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_published_to_a_registry_the_pinned_digest_is_pullable(
    built: Built, registry: str, tmp_path: Path
) -> None:
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            f"oci-archive:{built.archive}:0.1.0",
            f"docker://{registry}/ferry:0.1.0",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    knative = tmp_path / "knative"
    shutil.copytree(ROOT / "knative", knative)
    build_module.pin(
        knative / "kustomization.yaml", build_module.NAME, built.digest, f"{registry}/ferry"
    )
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(knative)], capture_output=True, text=True, check=True
    ).stdout
    references = set(
        re.findall(rf"image: ({re.escape(registry)}/ferry@sha256:[0-9a-f]{{64}})", rendered)
    )
    assert references == {f"{registry}/ferry@{built.digest}"}
    name, digest = next(iter(references)).split("/", 1)[1].split("@")
    accept = "application/vnd.oci.image.manifest.v1+json"
    pulled = requests.get(
        f"http://{registry}/v2/{name}/manifests/{digest}", headers={"Accept": accept}, timeout=10
    )
    assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == built.digest
    for layer in pulled.json()["layers"]:
        blob = requests.head(f"http://{registry}/v2/{name}/blobs/{layer['digest']}", timeout=10)
        assert blob.status_code == 200
