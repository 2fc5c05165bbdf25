"""What a conversion could not carry over, and why: every entry names its source object, the
field's path and line, and the reason.

Two kinds of entry: *not carried* (the field, or the whole object, has no effect in Ferry's
manifests, or a different one: the command exits 1) and *notes* (how Ferry expresses what the
source said, a value Ferry needed and Argo or Flagger left implicit, or state that belongs to the
API server, such as ``status``: the command still exits 0). Rendered as lines for people on
standard error, or as JSON (``--report json``) for machines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cli.ferry.converting.documents import Document, Path

_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def render(path: Path) -> str:
    """``spec.strategy.canary.steps[2].setWeight``; keys that are not plain words in brackets
    (``metadata.annotations['notifications.argoproj.io/subscribe.on-rollout-completed.slack']``)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


@dataclass(frozen=True)
class Origin:
    """The source object an entry is about."""

    file: str
    line: int
    api_version: str
    kind: str
    name: str
    namespace: str

    @classmethod
    def of(cls, doc: Document) -> Origin:
        return cls(doc.file, doc.line, doc.api_version, doc.kind, doc.name, doc.namespace)

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where or '(unnamed)'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }


@dataclass(frozen=True)
class Entry:
    origin: Origin
    path: str
    """The field (``spec.strategy.canary.steps[3].setCanaryScale``); empty: the whole object."""
    line: int
    reason: str
    carried: bool
    """False: not carried over (exit 1); True: a note."""

    def text(self) -> str:
        what = f"{self.path}: " if self.path else ""
        verdict = "note" if self.carried else "not carried"
        return (
            f"{self.origin.file}:{self.line}: {self.origin.label}: {what}{verdict}: {self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.origin.to_dict(),
            "path": self.path,
            "line": self.line,
            "reason": self.reason,
        }


@dataclass
class Report:
    entries: list[Entry] = field(default_factory=list)
    converted: list[tuple[Origin, list[str]]] = field(default_factory=list)
    """Each converted source object, with the objects it became (``Kind name``)."""
    passed: list[Origin] = field(default_factory=list)
    """Objects of other kinds, written out unchanged."""

    def add(self, entry: Entry) -> None:
        if entry not in self.entries:
            self.entries.append(entry)

    @property
    def not_carried(self) -> list[Entry]:
        return [e for e in self.entries if not e.carried]

    @property
    def notes(self) -> list[Entry]:
        return [e for e in self.entries if e.carried]

    def lines(self) -> Iterator[str]:
        for entry in self.not_carried:
            yield entry.text()
        for entry in self.notes:
            yield entry.text()
        missing = len(self.not_carried)
        verdict = (
            f"{missing} field{'s' if missing != 1 else ''} not carried over"
            if missing
            else "everything carried over"
        )
        yield (
            f"ferry convert: {len(self.converted)} object"
            f"{'s' if len(self.converted) != 1 else ''} converted, {len(self.passed)} passed "
            f"through unchanged; {verdict}"
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "converted": [{"object": o.to_dict(), "into": into} for o, into in self.converted],
                "passedThrough": [o.to_dict() for o in self.passed],
                "notCarried": [e.to_dict() for e in self.not_carried],
                "notes": [e.to_dict() for e in self.notes],
            },
            indent=2,
        )


class Scope:
    """Reporting about one source object: paths are turned into text and lines here."""

    def __init__(self, doc: Document, report: Report) -> None:
        self.doc, self.report = doc, report
        self.origin = Origin.of(doc)

    def drop(self, path: Path, reason: str) -> None:
        """``path`` (empty: the whole object) is not carried over, because ``reason``."""
        self.report.add(Entry(self.origin, render(path), self.doc.line_of(path), reason, False))

    def note(self, path: Path, reason: str) -> None:
        self.report.add(Entry(self.origin, render(path), self.doc.line_of(path), reason, True))
