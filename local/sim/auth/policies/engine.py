"""ValidatingAdmissionPolicy enforcement: every write checked against the bound policies.

:class:`Policies` follows the stored ValidatingAdmissionPolicies and bindings and is the store's
validator: for each write (create, update, patch, status and scale writes, delete) it finds the
bindings whose policy's ``matchConstraints`` and own ``matchResources`` select it, evaluates the
policy in CEL with ``object``, ``oldObject``, ``request``, ``params`` (null), ``namespaceObject``
and ``variables``, and acts on the denials by the binding's ``validationActions``: ``Deny``
refuses the write with the API server's Status (``<resource> "<name>" is forbidden:
ValidatingAdmissionPolicy '<policy>' with binding '<binding>' denied request: <message>``, 422
Invalid unless the validation names another reason), ``Warn`` adds a ``Warning`` header and
``Audit`` an audit annotation. Writes to admissionregistration.k8s.io kinds are exempt, as in a
real cluster. Runs under the store lock; reads the store, never writes it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from local.sim import errors
from local.sim.auth import caller
from local.sim.auth.policies.evaluation import CompiledPolicy, Decision
from local.sim.auth.policies.matching import Labels, matches
from local.sim.events import DELETED, Event
from local.sim.objects import Obj
from local.sim.store import Store
from local.sim.writes import CREATE, UPDATE, Write
from shared.cel import to_cel

GROUP = "admissionregistration.k8s.io"
POLICIES = (GROUP, "validatingadmissionpolicies")
BINDINGS = (GROUP, "validatingadmissionpolicybindings")
CODES = {"Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413, "Invalid": 422}
AUDIT_KEY = "validation.policy.admission.k8s.io/validation_failure"


class Policies:
    """The stored admission policies and bindings, enforced on every write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._objects: dict[tuple[str, str], dict[str, Obj]] = {POLICIES: {}, BINDINGS: {}}
        self._compiled: dict[str, tuple[str, CompiledPolicy]] = {}
        store.on_commit(self._follow)
        store.add_validator(self)

    def _follow(self, event: Event) -> None:
        known = self._objects.get(event.key)
        if known is None:
            return
        name = event.obj["metadata"]["name"]
        if event.type == DELETED:
            known.pop(name, None)
            self._compiled.pop(name, None)
        else:
            known[name] = event.obj

    def _policy(self, name: str) -> CompiledPolicy | None:
        policy = self._objects[POLICIES].get(name)
        if policy is None:
            return None
        version = policy["metadata"]["resourceVersion"]
        cached = self._compiled.get(name)
        if cached is None or cached[0] != version:
            cached = (version, CompiledPolicy(policy))
            self._compiled[name] = cached
        return cached[1]

    def __call__(self, write: Write) -> None:
        if write.rt.group == GROUP or not self._objects[BINDINGS]:
            return
        activation: dict[str, Any] | None = None
        call = caller.current()
        for binding_name, binding in sorted(self._objects[BINDINGS].items()):
            spec = binding.get("spec") or {}
            policy = self._policy(str(spec.get("policyName", "")))
            if policy is None:
                continue
            if not (
                matches(policy.spec.get("matchConstraints"), write, self._namespace_labels)
                and matches(spec.get("matchResources"), write, self._namespace_labels)
            ):
                continue
            if activation is None:
                activation = self._activation(write, call.user.to_json())
            for decision in policy.decide(activation):
                self._act(write, policy.name, binding_name, spec, decision, call)

    def _act(
        self,
        write: Write,
        policy: str,
        binding: str,
        spec: Obj,
        decision: Decision,
        call: caller.Call,
    ) -> None:
        actions = spec.get("validationActions") or ()
        if "Warn" in actions:
            call.warnings.append(
                f"Validation failed for ValidatingAdmissionPolicy '{policy}' with binding "
                f"'{binding}': {decision.message}"
            )
        if "Audit" in actions:
            failures = json.loads(call.annotations.get(AUDIT_KEY, "[]"))
            failures.append(
                {
                    "message": decision.message,
                    "policy": policy,
                    "binding": binding,
                    "expressionIndex": decision.index,
                    "validationActions": list(actions),
                }
            )
            call.annotations[AUDIT_KEY] = json.dumps(failures)
        if "Deny" in actions:
            message = (
                f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied "
                f"request: {decision.message}"
            )
            reason = decision.reason or "Invalid"
            refusal = errors.forbidden(write.rt.group, write.rt.plural, write.name, message)
            refusal.reason, refusal.code = reason, CODES.get(reason, 422)
            assert refusal.details is not None
            refusal.details["causes"] = [{"message": message}]
            raise refusal

    def _namespace_labels(self, namespace: str) -> Labels | None:
        found = self._namespace(namespace)
        return None if found is None else found["metadata"].get("labels") or {}

    def _namespace(self, name: str) -> Obj | None:
        rt = self.store.registry.versions_of("", "namespaces")[0]
        try:
            return self.store.get(rt, None, name)
        except errors.ApiError:
            return None

    def _activation(self, write: Write, user: Obj) -> dict[str, Any]:
        rt = write.rt
        kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        if write.subresource == "scale":
            kind = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        resource = {"group": rt.group, "version": rt.version, "resource": rt.plural}
        options = {CREATE: "CreateOptions", UPDATE: "UpdateOptions"}.get(
            write.operation, "DeleteOptions"
        )
        request = {
            "uid": str(uuid.uuid4()),
            "kind": kind,
            "resource": resource,
            "subResource": write.subresource,
            "requestKind": kind,
            "requestResource": resource,
            "requestSubResource": write.subresource,
            "name": write.name,
            "namespace": write.namespace,
            "operation": write.operation,
            "userInfo": {"uid": "", "groups": [], "extra": {}, **user},
            "dryRun": write.dry_run,
            "options": {"kind": options, "apiVersion": "meta.k8s.io/v1"},
        }
        namespace = self._namespace(write.namespace) if write.namespace else None
        if namespace is not None:
            namespace = {k: namespace.get(k) for k in ("metadata", "spec", "status")}
        return {
            "object": to_cel(write.obj),
            "oldObject": to_cel(write.old),
            "request": to_cel(request),
            "params": None,
            "namespaceObject": to_cel(namespace),
            "authorizer": None,
        }
