"""Releasing a tag to Git with the real git CLI, against a local bare repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shared import gitops
from tests import gitrepo
from tests.gitrepo import git

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: "ghcr.io/ferry-dev/podinfo:6.5.0"  # the release
        - name: sidecar
          image: ghcr.io/ferry-dev/podinfo-sidecar:1.0
"""


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return gitrepo.origin(tmp_path, {"apps/podinfo.yaml": MANIFEST})


def release(*args: str) -> bool:
    """A release to a local repository (the file transport allowed, as ``ferry up`` does)."""
    return gitops.set_image(*args, protocols="file")


def shown(origin: Path) -> str:
    return git(origin, "show", "main:apps/podinfo.yaml")


def test_a_release_is_one_commit_and_keeps_the_file_as_it_was(origin: Path) -> None:
    image = "ghcr.io/ferry-dev/podinfo"
    assert release(str(origin), "main", "apps/podinfo.yaml", image, "6.5.1", "release")
    assert shown(origin) == MANIFEST.replace("podinfo:6.5.0", "podinfo:6.5.1")
    log = git(origin, "log", "--format=%an %s", "main")
    assert log.splitlines()[0] == "Ferry release"
    # the same release again commits nothing
    assert not release(str(origin), "main", "apps/podinfo.yaml", image, "6.5.1", "again")
    assert len(git(origin, "log", "--oneline", "main").splitlines()) == 2


def test_a_push_that_loses_a_race_is_rebased(origin: Path, tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(origin), str(other))
    real = gitops._run
    raced = []

    def racing(cwd: str, protocols: str, *args: str) -> subprocess.CompletedProcess[str]:
        if args[0] == "push" and not raced:  # someone else pushes just before us
            (other / "README").write_text("hello\n")
            git(other, "add", ".")
            git(other, "commit", "--quiet", "-m", "unrelated")
            git(other, "push", "--quiet", "origin", "HEAD:main")
            raced.append(1)
        return real(cwd, protocols, *args)

    monkeypatch.setattr(gitops, "_run", racing)
    assert release(
        str(origin), "main", "apps/podinfo.yaml", "ghcr.io/ferry-dev/podinfo", "7.0.0", "r"
    )
    assert "podinfo:7.0.0" in shown(origin)
    assert git(origin, "show", "main:README") == "hello\n"


def test_untrusted_settings_are_refused(origin: Path) -> None:
    image = "ghcr.io/ferry-dev/podinfo"
    with pytest.raises(gitops.GitError):  # file:// is not a transport unless allowed
        gitops.set_image(str(origin), "main", "apps/podinfo.yaml", image, "1", "x")
    with pytest.raises(gitops.GitRefused):
        release(str(origin), "main", "../../etc/passwd", image, "1", "x")
    with pytest.raises(gitops.GitRefused):
        release("--upload-pack=touch /tmp/pwned", "main", "a", image, "1", "x")
    with pytest.raises(gitops.GitError):
        gitops.set_image(  # never ext, even when an installation lists it
            "ext::sh -c touch% /tmp/pwned", "main", "a", image, "1", "x", protocols="file:ext"
        )
    assert not Path("/tmp/pwned").exists()
    with pytest.raises(gitops.GitRefused, match="no image reference"):
        release(str(origin), "main", "apps/podinfo.yaml", "docker.io/other", "1", "x")


def test_retag_touches_only_references_to_the_image() -> None:
    text = "image: a/b:1\nimage: a/b-c:1\n  image: 'a/b@sha256:" + "0" * 64 + "'\nimage: a/bb:2\n"
    assert gitops.retag(text, "a/b", "9") == (
        "image: a/b:9\nimage: a/b-c:1\n  image: 'a/b:9'\nimage: a/bb:2\n"
    )
    assert gitops.retag("name: x\n", "a/b", "9") is None
