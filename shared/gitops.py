"""Writing a new image tag to Git, for clusters Git owns: clone the repository's branch, set the
tag of every reference to the image in one file, commit, push (with the git CLI).

The repository and the path come from a WebhookPolicy, written by a namespace's users, so they
are treated as untrusted: git runs without a shell, with ``--`` before every operand, only the
transports the installation allows (``https`` and ``ssh`` by default; never ``ext::``), without
the system's or the user's configuration and without prompting, and the path must stay inside
the clone. A push
that lost a race with another commit is rebased and tried again. Idempotent: a file that already
names the tag is left alone (nothing is committed).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

ATTEMPTS = 3
TIMEOUT = 20.0
"""Seconds one git command may take."""
PROTOCOLS = "https:ssh"
"""The transports git may use unless told otherwise (never ``ext``; ``file`` only where the
installation says so, e.g. the local runtime)."""
AUTHOR = ("Ferry", "ferry@ferry.dev")


class GitError(Exception):
    """Git failed in a way that may pass (the network, a push race): try again later."""


class GitRefused(Exception):
    """The change cannot be made as configured (no such file, no reference to the image)."""


def set_image(
    repository: str,
    branch: str,
    path: str,
    image: str,
    tag: str,
    message: str,
    *,
    protocols: str = PROTOCOLS,
) -> bool:
    """Point every ``image:`` reference to ``image`` in ``path`` at ``tag`` and push; False
    when the file already did (nothing committed). ``protocols``: the transports git may use
    (``GIT_ALLOW_PROTOCOL``)."""
    if not repository or repository.startswith("-") or branch.startswith("-"):
        raise GitRefused("release.git.repository and branch must not start with '-'")
    with tempfile.TemporaryDirectory(prefix="ferry-git-") as work:
        clone = Path(work) / "repo"
        _git(
            work,
            protocols,
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            branch,
            "--",
            repository,
            str(clone),
        )
        for _ in range(ATTEMPTS):
            target = (clone / path).resolve()
            if clone.resolve() not in target.parents or not target.is_file():
                raise GitRefused(f"release.git.path {path!r} is not a file of the repository")
            before = target.read_text()
            after = retag(before, image, tag)
            if after is None:
                raise GitRefused(f"{path} has no image reference to {image}")
            if after == before:
                return False
            target.write_text(after)
            _git(str(clone), protocols, "commit", "--quiet", "--all", "--message", message)
            pushed = _run(
                str(clone), protocols, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"
            )
            if pushed.returncode == 0:
                return True
            # someone pushed first: start again from their commit
            _git(str(clone), protocols, "fetch", "--quiet", "--depth", "1", "origin", branch)
            _git(str(clone), protocols, "reset", "--quiet", "--hard", "FETCH_HEAD")
        raise GitError(f"the push to {branch} kept losing to other commits")


def retag(text: str, image: str, tag: str) -> str | None:
    """``text`` with every ``image: <image>[:tag][@digest]`` set to ``<image>:<tag>`` (quotes
    and formatting kept); None when no reference to ``image`` is there."""
    pattern = re.compile(
        r"(?P<head>\bimage:\s*[\"']?)"
        + re.escape(image)
        + r"(?::[\w][\w.-]*)?(?:@sha256:[0-9a-f]{64})?"
        r"(?=[\"']?\s*(?:#.*)?$)",
        re.MULTILINE,
    )
    if not pattern.search(text):
        return None
    return pattern.sub(lambda m: f"{m.group('head')}{image}:{tag}", text)


def _env(home: str, protocols: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": protocols.replace("ext", "").strip(":") or "https",
        "GIT_AUTHOR_NAME": AUTHOR[0],
        "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0],
        "GIT_COMMITTER_EMAIL": AUTHOR[1],
    }


def _run(cwd: str, protocols: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-c", "protocol.ext.allow=never", *args],
            cwd=cwd,
            env=_env(cwd, protocols),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {type(exc).__name__}") from None


def _git(cwd: str, protocols: str, *args: str) -> None:
    done = _run(cwd, protocols, *args)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {args[0]} failed: {lines[-1][:200] if lines else done.returncode}")
