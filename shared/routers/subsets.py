"""Labels in the subsets of a user's DestinationRule, set so that they can be put back exactly.

Istio's subset-level splitting (Argo Rollouts' ``destinationRule``) sends a route's traffic to
two subsets of one host; the DestinationRule says by labels which Pods each subset holds. The
rule is the user's (Git's): :func:`labelled` adds the labels Ferry needs to the subsets it
names, recording in the rule's annotation :data:`MARK` each label's value before (or that it
was absent, or that the subset had no ``labels`` at all), and :func:`restored` puts exactly
that back and removes the record. The write is ``splits.patch`` with ``exact`` (a label to
remove is a difference).

Pure functions over object dicts: no I/O (the istio router reads and writes).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from shared.routers import splits
from shared.routers.splits import MARK

Obj = dict[str, Any]
Labels = dict[str, str]


def subsets(rule: Obj) -> list[Obj]:
    """The rule's subsets (the list inside the object: edits to it edit the object)."""
    spec = rule.get("spec")
    found = spec.get("subsets") if isinstance(spec, dict) else None
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def names(rule: Obj) -> set[str]:
    return {str(s.get("name")) for s in subsets(rule)}


def _record(rule: Obj) -> dict[str, Obj]:
    found = splits.record(rule).get("subsets")
    return found if isinstance(found, dict) else {}


def restored(rule: Obj) -> Obj:
    """``rule`` with every label Ferry recorded put back and the record removed."""
    out = copy.deepcopy(rule)
    record = _record(rule)
    for subset in subsets(out):
        change = record.get(str(subset.get("name")))
        if not isinstance(change, dict):
            continue
        has = subset.get("labels")
        labels: Labels = has if isinstance(has, dict) else {}
        before = change.get("labels")
        for key, value in (before if isinstance(before, dict) else {}).items():
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
        if change.get("labelsAdded") and not labels:
            subset.pop("labels", None)
        else:
            subset["labels"] = labels
    meta = out.get("metadata") or {}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(MARK, None)
        if not annotations:  # as the API server stores it (an empty map is omitted)
            del meta["annotations"]
    return out


def labelled(rule: Obj, wanted: dict[str, Labels]) -> Obj:
    """``rule`` with the labels ``wanted`` (by subset name) on its subsets and nothing else of
    Ferry's: the rule as Git wrote it when it has them already, else with them set and what
    was there before recorded in :data:`MARK`."""
    out = restored(rule)
    record: dict[str, Obj] = {}
    for subset in subsets(out):
        want = wanted.get(str(subset.get("name"))) or {}
        has = subset.get("labels")
        labels = has if isinstance(has, dict) else {}
        before = {key: labels.get(key) for key, value in want.items() if labels.get(key) != value}
        if not before:
            continue
        record[str(subset["name"])] = {"labels": before, "labelsAdded": not isinstance(has, dict)}
        labels.update(want)
        subset["labels"] = labels
    if record:
        meta = out.setdefault("metadata", {})
        if not isinstance(meta.get("annotations"), dict):
            meta["annotations"] = {}
        meta["annotations"][MARK] = json.dumps({"subsets": record}, sort_keys=True)
    return out
