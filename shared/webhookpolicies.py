"""A namespace's ``WebhookPolicy``: which webhook source may ask what of which Rollouts, and how
a new image tag is released. Parsed from the object as the API server stored it (the CRD's
schema checked its shape); pure: nothing here reads or writes anything.

``identity`` is who Ferry acts as for a policy: the user ``webhook:<namespace>:<policy>`` in
group ``ferry:webhooks``, impersonated, so RBAC in the namespace decides what the webhook may do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import models

PLURAL = "webhookpolicies"
KNATIVE = "knative"
"""The source type of CloudEvents from a Knative source (a GitHubSource) through the Broker."""
GROUPS = ("ferry:webhooks",)
MAX_TAG = 128
SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
COMPARATOR = re.compile(r"^(>=|<=|>|<|=)?\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


class InvalidPolicy(ValueError):
    """The policy cannot be used (the message says why)."""


@dataclass(frozen=True)
class Release:
    image: str
    write: str
    container: str = ""
    pattern: str = ""
    semver: str = ""
    git_repository: str = ""
    git_branch: str = "main"
    git_path: str = ""


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    source: str
    secret_name: str
    secret_key: str
    repository: str
    rollouts: tuple[str, ...]
    actions: frozenset[str]
    release: Release | None
    ref: str = ""
    """Only deliveries about this branch or tag count (a pipeline's ref), when set."""
    cloud_event_source: str = ""
    """``knative``: the CloudEvent ``source`` (or its prefix up to a ``/``) it trusts."""

    @property
    def identity(self) -> str:
        return f"webhook:{self.namespace}:{self.name}"

    def about(self, repository: str, ref: str = "") -> bool:
        """Whether a delivery about ``repository`` (and branch or tag ``ref``) concerns it."""
        if self.repository and self.repository.lower() != repository.lower():
            return False
        return not self.ref or self.ref == ref

    def trusts(self, source: str) -> bool:
        """Whether a CloudEvent from ``source`` is one this ``knative`` policy names."""
        named = self.cloud_event_source.rstrip("/")
        return bool(named) and (source == named or source.startswith(named + "/"))


def parse(obj: Mapping[str, Any]) -> Policy:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    source = spec.get("source") or {}
    secret = source.get("secretRef") or {}
    release = spec.get("release")
    parsed = None
    if isinstance(release, dict):
        tags, git = release.get("tags") or {}, release.get("git") or {}
        parsed = Release(
            image=str(release.get("image", "")),
            write=str(release.get("write", "")),
            container=str(release.get("container", "")),
            pattern=str(tags.get("pattern", "")),
            semver=str(tags.get("semver", "")),
            git_repository=str(git.get("repository", "")),
            git_branch=str(git.get("branch", "main")),
            git_path=str(git.get("path", "")),
        )
        if parsed.semver:
            comparators(parsed.semver)  # raises InvalidPolicy
        if parsed.pattern:
            if len(parsed.pattern) > 256:
                raise InvalidPolicy("release.tags.pattern is longer than 256 characters")
            try:
                re.compile(parsed.pattern)
            except re.error as exc:
                raise InvalidPolicy(f"release.tags.pattern does not compile: {exc}") from None
    return Policy(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        source=str(source.get("type", "")),
        secret_name=str(secret.get("name", "")),
        secret_key=str(secret.get("key", "")),
        repository=str(source.get("repository", "")),
        rollouts=tuple(str(r) for r in spec.get("rollouts") or ()),
        actions=frozenset(str(a) for a in spec.get("actions") or ()),
        release=parsed,
        ref=str(source.get("ref", "")),
        cloud_event_source=str(source.get("cloudEventSource", "")),
    )


def tag_allowed(release: Release, tag: str) -> str | None:
    """Why ``tag`` does not start a rollout (None when it does)."""
    if not tag or len(tag) > MAX_TAG or not re.fullmatch(r"[\w][\w.-]*", tag):
        return f"{tag[:40]!r} is not an image tag"
    if release.pattern and not re.fullmatch(release.pattern, tag):
        return f"tag {tag} does not match {release.pattern}"
    if release.semver and not in_range(tag, release.semver):
        return f"tag {tag} is not in {release.semver}"
    return None


def comparators(text: str) -> list[tuple[str, tuple[int, int, int]]]:
    """A range of space-separated comparators (``>=1.2.0 <2.0.0``; missing parts are 0)."""
    found = []
    for part in text.split():
        match = COMPARATOR.match(part)
        if match is None:
            raise InvalidPolicy(f"release.tags.semver: {part!r} is not a comparator (>=1.2.0)")
        op, *numbers = match.groups()
        version = tuple(int(n or 0) for n in numbers)
        found.append((op or "=", (version[0], version[1], version[2])))
    if not found:
        raise InvalidPolicy("release.tags.semver is empty")
    return found


def in_range(tag: str, text: str) -> bool:
    """Whether ``tag`` is a release version (no pre-release) every comparator accepts."""
    match = SEMVER.match(tag)
    if match is None or match.group(4):
        return False
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    checks = {
        ">=": lambda v: version >= v,
        "<=": lambda v: version <= v,
        ">": lambda v: version > v,
        "<": lambda v: version < v,
        "=": lambda v: version == v,
    }
    return all(checks[op](v) for op, v in comparators(text))


API_VERSION = models.API_VERSION
