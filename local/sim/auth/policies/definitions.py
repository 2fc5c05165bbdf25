"""What a ValidatingAdmissionPolicy or its binding must be to be stored, and its defaults.

Defaults as the API server sets them (``failurePolicy: Fail``, ``matchPolicy: Equivalent``,
empty namespace and object selectors, rule scope ``*``); refusals as it words them (422 with
field causes), a CEL expression that does not compile included
(``Invalid value: "<expression>": compilation failed: ERROR: <input>:...``). Edits the object
being written in place and reports causes; never touches the store.
"""

from __future__ import annotations

import json

from local.sim.auth.policies.evaluation import compile_errors
from local.sim.objects import Obj

Causes = list[tuple[str, str]]
REASONS = ("Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized")
ACTIONS = ("Audit", "Deny", "Warn")


def _unsupported(value: object, supported: tuple[str, ...]) -> str:
    listed = ", ".join(f'"{s}"' for s in supported)
    return f"Unsupported value: {json.dumps(value)}: supported values: {listed}"


def _default_match(match: Obj) -> None:
    match.setdefault("matchPolicy", "Equivalent")
    match.setdefault("namespaceSelector", {})
    match.setdefault("objectSelector", {})
    for rules in ("resourceRules", "excludeResourceRules"):
        for rule in match.get(rules) or ():
            if isinstance(rule, dict):
                rule.setdefault("scope", "*")


def check_policy(new: Obj, old: Obj | None, causes: Causes) -> None:
    """Default and validate a ValidatingAdmissionPolicy."""
    spec = new.setdefault("spec", {})
    spec.setdefault("failurePolicy", "Fail")
    if spec["failurePolicy"] not in ("Fail", "Ignore"):
        causes.append(
            ("spec.failurePolicy", _unsupported(spec["failurePolicy"], ("Fail", "Ignore")))
        )
    match = spec.get("matchConstraints")
    if not isinstance(match, dict) or not match.get("resourceRules"):
        causes.append(("spec.matchConstraints.resourceRules", "Required value"))
    else:
        _default_match(match)
    if not spec.get("validations") and not spec.get("auditAnnotations"):
        causes.append(
            (
                "spec.validations",
                "Required value: validations or auditAnnotations must contain at least one item",
            )
        )
    for i, validation in enumerate(spec.get("validations") or ()):
        if not str((validation or {}).get("expression") or "").strip():
            causes.append((f"spec.validations[{i}].expression", "Required value"))
        reason = (validation or {}).get("reason")
        if reason is not None and reason not in REASONS:
            causes.append((f"spec.validations[{i}].reason", _unsupported(reason, REASONS)))
    for field, text, error in compile_errors(spec):
        causes.append((field, f"Invalid value: {json.dumps(text)}: {error}"))


def check_binding(new: Obj, old: Obj | None, causes: Causes) -> None:
    """Default and validate a ValidatingAdmissionPolicyBinding."""
    spec = new.setdefault("spec", {})
    if not spec.get("policyName"):
        causes.append(("spec.policyName", "Required value"))
    actions = spec.get("validationActions") or []
    if not actions:
        causes.append(
            ("spec.validationActions", "Required value: at least one validation action is required")
        )
    for i, action in enumerate(actions):
        if action not in ACTIONS:
            causes.append((f"spec.validationActions[{i}]", _unsupported(action, ACTIONS)))
    if "Deny" in actions and "Warn" in actions:
        causes.append(
            (
                "spec.validationActions",
                f"Invalid value: {json.dumps(actions)}: must not contain "
                "both Deny and Warn (repeating the same validation failure information in the API "
                "response and headers serves no purpose)",
            )
        )
    if isinstance(spec.get("matchResources"), dict):
        _default_match(spec["matchResources"])
