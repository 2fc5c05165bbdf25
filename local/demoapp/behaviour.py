"""What a demo-app image's tag says about the release it stands for.

``ferry/demo-app:TAG`` and the podinfo images of the examples (``podinfo:1``,
``ghcr.io/stefanprodan/podinfo:6.5.1``) run the demo app. The tag is a version followed by
optional behaviours, each a ``-`` and a word: ``-errors50`` answers 500 to 50 % of the requests
(spread evenly: exactly that share of every hundred), ``-slow300`` adds 300 ms to each answer,
``-crash`` never gets ready. ``2.0.0-errors10-slow200`` is version ``2.0.0`` with both. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEMO_REPOSITORIES = ("ferry/demo-app", "podinfo")
"""Images whose repository's last part is one of these run the demo app."""
_BEHAVIOUR = re.compile(r"-(errors(\d{1,3})|slow(\d{1,5})|crash)$")


@dataclass(frozen=True)
class Behaviour:
    version: str
    error_percent: int = 0
    """The share of requests answered with 500 (0 to 100)."""
    delay: float = 0.0
    """Seconds added to each answer."""
    crash: bool = False
    """Never ready."""

    def fails(self, count: int) -> bool:
        """Whether request number ``count`` (from 0) is answered with 500: exactly
        ``error_percent`` of every hundred, spread evenly."""
        return (count + 1) * self.error_percent // 100 > count * self.error_percent // 100


def repository(image: str) -> str:
    """The image's repository without registry host, tag or digest (``ghcr.io/a/b:1`` ->
    ``a/b``)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts)


def runs_demo_app(image: str) -> bool:
    """Whether ``image`` runs the demo app (other images keep the simulated Pods)."""
    found = repository(image)
    return any(found == r or found.endswith(f"/{r}") for r in DEMO_REPOSITORIES)


def of(image: str) -> Behaviour:
    """The behaviour an image's tag asks for (no tag: version ``latest``)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    errors, delay, crash = 0, 0.0, False
    while match := _BEHAVIOUR.search(tag):
        if match.group(2) is not None:
            errors = min(int(match.group(2)), 100)
        elif match.group(3) is not None:
            delay = int(match.group(3)) / 1000
        else:
            crash = True
        tag = tag[: match.start()]
    return Behaviour(tag or "latest", errors, delay, crash)
