"""Git repositories for tests, with the real git CLI: a bare "origin" seeded with files."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` as a test author, without the user's configuration; its output."""
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def origin(tmp_path: Path, files: dict[str, str]) -> Path:
    """A bare repository (branch main) whose one commit holds ``files`` (path -> text)."""
    bare = tmp_path / "deploy.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "seed")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    return bare
