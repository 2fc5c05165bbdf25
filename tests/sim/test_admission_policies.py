"""ValidatingAdmissionPolicy, over HTTP through the official client and the real kubectl.

Covered: Ferry's rule for ``rollouts/status`` (a new ``status.commands[]`` item must name its
requester in ``user``) proven with two users and ``kubectl patch --subresource=status``; the
denial's Status (403 for ``reason: Forbidden``, 422 Invalid by default, ``failed expression``,
``message``, ``messageExpression``); what ``request`` says (operation, user, subresource,
names, kind) and ``oldObject`` on create; matching by resource and subresource (status and
scale), operation (DELETE) and binding ``matchResources`` (namespace selector);
``matchConditions`` and ``variables``; ``failurePolicy`` Fail and Ignore on a runtime error; a
policy whose CEL does not compile is refused at creation; ``Warn`` (a kubectl warning) and
``Audit`` (an audit annotation); writes inside the simulator are checked too (as
``system:apiserver``); admissionregistration kinds are exempt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from local.sim import errors
from local.sim.cluster import Simulator
from tests.sim.client_calls import (
    NS,
    admission,
    apps,
    configmap,
    core,
    deployment,
    failure,
    refusal,
)
from tests.sim.conftest import Kubectl
from tests.sim.identities import FERRY, acting, grant, rollouts, rule, user, with_rollout

COMMANDS_POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: rollout-commands}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [ferry.dev]
      apiVersions: ["*"]
      operations: [UPDATE]
      resources: [rollouts/status]
  variables:
  - name: before
    expression: >-
      has(oldObject.status) && has(oldObject.status.commands) ? oldObject.status.commands : []
  - name: after
    expression: "has(object.status) && has(object.status.commands) ? object.status.commands : []"
  validations:
  - expression: >-
      variables.after.all(c, variables.before.exists(o, o.id == c.id)
      || c.user == request.userInfo.username)
    messageExpression: "'a new command must name its requester ' + request.userInfo.username"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: rollout-commands-binding}
spec:
  policyName: rollout-commands
  validationActions: [Deny]
"""


def policy(
    name: str,
    resources: list[str],
    validations: list[dict[str, Any]],
    *,
    operations: tuple[str, ...] = ("CREATE", "UPDATE"),
    groups: tuple[str, ...] = ("",),
    **spec: Any,
) -> dict[str, Any]:
    rules = [
        {
            "apiGroups": list(groups),
            "apiVersions": ["*"],
            "operations": list(operations),
            "resources": resources,
        }
    ]
    return {
        "metadata": {"name": name},
        "spec": {"matchConstraints": {"resourceRules": rules}, "validations": validations, **spec},
    }


def enforce(
    api: client.ApiClient,
    body: dict[str, Any],
    actions: tuple[str, ...] = ("Deny",),
    **binding: Any,
) -> None:
    name = body["metadata"]["name"]
    admission(api).create_validating_admission_policy(body)
    admission(api).create_validating_admission_policy_binding(
        {
            "metadata": {"name": f"{name}-binding"},
            "spec": {"policyName": name, "validationActions": list(actions), **binding},
        }
    )


def command(ident: str, action: str, who: str) -> dict[str, str]:
    return {"id": ident, "action": action, "user": who, "time": "2026-01-01T00:00:00Z"}


def test_a_new_command_must_name_its_requester(
    sim: Simulator, api: client.ApiClient, kubectl: Kubectl, tmp_path: Path
) -> None:
    kubectl.run("apply", "-f", "-", input=COMMANDS_POLICY)
    with_rollout(api)
    writers = [rule(["get", "patch"], ["rollouts", "rollouts/status"], [FERRY])]
    grant(api, "operators", [user("alice"), user("bob")], writers)
    alice, bob = (
        Kubectl(sim.write_kubeconfig(tmp_path / who, token=sim.add_user(who), user=who))
        for who in ("alice", "bob")
    )

    def patch(as_: Kubectl, *commands: dict[str, str]) -> Any:
        body = json.dumps({"status": {"commands": list(commands)}})
        return as_.run(
            "patch", "rollout", "r", "--subresource=status", "--type=merge", "-p", body, check=False
        )

    first = command("1", "promote", "alice")
    assert patch(alice, first).returncode == 0
    refused = patch(bob, first, command("2", "abort", "alice"))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): rollouts.ferry.dev "r" is forbidden: '
        "ValidatingAdmissionPolicy 'rollout-commands' with binding 'rollout-commands-binding' "
        "denied request: a new command must name its requester bob"
    )
    assert patch(bob, first, command("2", "abort", "bob")).returncode == 0
    stored = kubectl.json("get", "rollout", "r")["status"]["commands"]
    assert [(c["id"], c["user"]) for c in stored] == [("1", "alice"), ("2", "bob")]

    eve = sim.add_user("eve")

    def eve_commands() -> tuple[int, dict[str, Any]]:
        return failure(
            rollouts(acting(sim, eve)).patch_namespaced_custom_object_status,
            FERRY,
            "v1alpha1",
            NS,
            "rollouts",
            "r",
            {"status": {"commands": [command("9", "promote", "alice")]}},
        )

    assert eve_commands()[0] == 403  # RBAC first: eve may not patch rollouts/status at all
    grant(api, "eve", [user("eve")], writers)
    code, status = eve_commands()
    message = (
        "ValidatingAdmissionPolicy 'rollout-commands' with binding 'rollout-commands-binding' "
        "denied request: a new command must name its requester eve"
    )
    assert (code, status) == (
        403,
        refusal(
            f'rollouts.ferry.dev "r" is forbidden: {message}',
            name="r",
            group="ferry.dev",
            kind="rollouts",
            causes=[{"message": message}],
        ),
    )
    # the spec is not the status subresource: the policy does not apply to it
    rollouts(api).patch_namespaced_custom_object(
        FERRY, "v1alpha1", NS, "rollouts", "r", {"spec": {"strategy": "bluegreen"}}
    )


def test_a_denial_is_invalid_by_default(api: client.ApiClient) -> None:
    enforce(api, policy("small", ["configmaps"], [{"expression": "size(object.data) <= 1"}]))
    enforce(
        api,
        policy(
            "named",
            ["configmaps"],
            [{"expression": "object.metadata.name != 'x'", "message": " no x, please "}],
        ),
    )
    code, status = failure(core(api).create_namespaced_config_map, NS, configmap("c", a="1", b="2"))
    assert (code, status["reason"], status["code"]) == (422, "Invalid", 422)
    assert status["message"] == (
        "configmaps \"c\" is forbidden: ValidatingAdmissionPolicy 'small' with binding "
        "'small-binding' denied request: failed expression: size(object.data) <= 1"
    )
    code, status = failure(core(api).create_namespaced_config_map, NS, configmap("x", a="1"))
    assert status["message"].endswith("denied request: no x, please")
    core(api).create_namespaced_config_map(NS, configmap("ok", a="1"))


def test_what_request_and_old_object_say(sim: Simulator, api: client.ApiClient) -> None:
    said = (
        "request.operation + ' ' + request.userInfo.username + ' ' + request.namespace + '/' "
        "+ request.name + ' ' + request.kind.kind + ' ' + request.resource.resource + ' ' "
        "+ request.subResource + ' ' + string(oldObject == null) + ' ' "
        "+ string('system:authenticated' in request.userInfo.groups)"
    )
    enforce(
        api,
        policy(
            "tell",
            ["configmaps"],
            [{"expression": "false", "messageExpression": said}],
            operations=("CREATE", "UPDATE", "DELETE"),
        ),
    )
    token = sim.add_user("alice")
    grant(api, "cm", [user("alice")], [rule(["create"], ["configmaps"])])
    _, status = failure(core(acting(sim, token)).create_namespaced_config_map, NS, configmap("c"))
    assert status["message"].endswith(
        "denied request: CREATE alice default/c ConfigMap configmaps  true true"
    )


def test_status_and_scale_subresources_match_separately(api: client.ApiClient) -> None:
    apps(api).create_namespaced_deployment(NS, deployment("web"))
    enforce(
        api,
        policy(
            "at-most-five",
            ["deployments/scale"],
            [{"expression": "object.spec.replicas <= 5", "message": "too many"}],
            groups=("apps",),
            operations=("UPDATE",),
        ),
    )
    code, status = failure(
        apps(api).patch_namespaced_deployment_scale, "web", NS, {"spec": {"replicas": 9}}
    )
    assert (code, status["message"]) == (
        422,
        "deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'at-most-five' with "
        "binding 'at-most-five-binding' denied request: too many",
    )
    apps(api).patch_namespaced_deployment("web", NS, {"spec": {"replicas": 9}})  # not /scale


def test_delete_is_checked_against_the_old_object(api: client.ApiClient) -> None:
    enforce(
        api,
        policy(
            "keep-protected",
            ["configmaps"],
            [
                {
                    "expression": "!has(oldObject.metadata.labels) || "
                    "!('protected' in oldObject.metadata.labels) || "
                    "oldObject.metadata.labels['protected'] != 'true'",
                    "message": "protected",
                    "reason": "Forbidden",
                }
            ],
            operations=("DELETE",),
        ),
    )
    core(api).create_namespaced_config_map(NS, configmap("keep", {"protected": "true"}))
    core(api).create_namespaced_config_map(NS, configmap("drop"))
    assert failure(core(api).delete_namespaced_config_map, "keep", NS)[0] == 403
    core(api).delete_namespaced_config_map("drop", NS)


def test_binding_match_resources_select_namespaces(api: client.ApiClient) -> None:
    core(api).create_namespace({"metadata": {"name": "prod", "labels": {"env": "prod"}}})
    enforce(
        api,
        policy("no-cm", ["configmaps"], [{"expression": "false"}]),
        matchResources={"namespaceSelector": {"matchLabels": {"env": "prod"}}},
    )
    core(api).create_namespaced_config_map(NS, configmap("c"))
    assert failure(core(api).create_namespaced_config_map, "prod", configmap("c"))[0] == 422


def test_match_conditions_and_variables(api: client.ApiClient) -> None:
    enforce(
        api,
        policy(
            "labelled-only",
            ["configmaps"],
            [
                {
                    "expression": "variables.size <= 1",
                    "messageExpression": "'size ' + string(variables.size)",
                }
            ],
            matchConditions=[
                {
                    "name": "labelled",
                    "expression": "has(object.metadata.labels) "
                    "&& 'checked' in object.metadata.labels",
                }
            ],
            variables=[{"name": "size", "expression": "size(object.data)"}],
        ),
    )
    core(api).create_namespaced_config_map(NS, configmap("free", a="1", b="2"))
    _, status = failure(
        core(api).create_namespaced_config_map,
        NS,
        configmap("held", {"checked": "y"}, a="1", b="2"),
    )
    assert status["message"].endswith("denied request: size 2")


@pytest.mark.parametrize("failure_policy", ["Fail", "Ignore"])
def test_failure_policy_decides_on_an_evaluation_error(
    api: client.ApiClient, failure_policy: str
) -> None:
    enforce(
        api,
        policy(
            "broken",
            ["configmaps"],
            [{"expression": "object.data.missing == 'x'"}],
            failurePolicy=failure_policy,
        ),
    )
    if failure_policy == "Ignore":
        core(api).create_namespaced_config_map(NS, configmap("c", a="1"))
        return
    code, status = failure(core(api).create_namespaced_config_map, NS, configmap("c", a="1"))
    assert (code, status["message"]) == (
        422,
        "configmaps \"c\" is forbidden: ValidatingAdmissionPolicy 'broken' with binding "
        "'broken-binding' denied request: expression 'object.data.missing == 'x'' resulted in "
        "error: no such key: missing",
    )


def test_a_policy_that_does_not_compile_is_refused(api: client.ApiClient) -> None:
    code, status = failure(
        admission(api).create_validating_admission_policy,
        policy("bad", ["configmaps"], [{"expression": "object.("}]),
    )
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith(
        'ValidatingAdmissionPolicy.admissionregistration.k8s.io "bad" is invalid: '
        'spec.validations[0].expression: Invalid value: "object.(": compilation failed: '
        "ERROR: <input>:1:8: Syntax error:"
    )
    code, status = failure(
        admission(api).create_validating_admission_policy,
        policy("typo", ["configmaps"], [{"expression": "objekt.data.size() > 0"}]),
    )
    assert "ERROR: <input>:1:1: undeclared reference to 'objekt'" in status["message"]
    made = admission(api).create_validating_admission_policy(
        policy("fine", ["configmaps"], [{"expression": "object.data.all(k, k.lowerAscii() == k)"}])
    )
    assert made.spec.failure_policy == "Fail"
    assert made.spec.match_constraints.match_policy == "Equivalent"


def test_warn_and_audit_actions(sim: Simulator, api: client.ApiClient, kubectl: Kubectl) -> None:
    enforce(
        api,
        policy("warned", ["configmaps"], [{"expression": "false", "message": "think twice"}]),
        ("Warn", "Audit"),
    )
    applied = kubectl.run(
        "apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    assert (
        "Warning: Validation failed for ValidatingAdmissionPolicy 'warned' with binding "
        "'warned-binding': think twice" in applied.stderr
    )
    created = [r for r in sim.audit() if r.resource == "configmaps" and r.verb == "create"]
    assert created[-1].code == 201
    failures = json.loads(
        created[-1].annotations["validation.policy.admission.k8s.io/validation_failure"]
    )
    assert failures == [
        {
            "message": "think twice",
            "policy": "warned",
            "binding": "warned-binding",
            "expressionIndex": 0,
            "validationActions": ["Warn", "Audit"],
        }
    ]


def test_deny_and_warn_together_are_refused(api: client.ApiClient) -> None:
    admission(api).create_validating_admission_policy(
        policy("p", ["configmaps"], [{"expression": "true"}])
    )
    code, status = failure(
        admission(api).create_validating_admission_policy_binding,
        {
            "metadata": {"name": "b"},
            "spec": {"policyName": "p", "validationActions": ["Deny", "Warn"]},
        },
    )
    assert code == 422
    assert "must not contain both Deny and Warn" in status["message"]


def test_writes_inside_the_simulator_are_checked_too(quiet: Simulator) -> None:
    with quiet.api_client() as api:
        enforce(
            api,
            policy(
                "who",
                ["configmaps"],
                [{"expression": "false", "messageExpression": "'by ' + request.userInfo.username"}],
            ),
        )
    rt = quiet.registry.versions_of("", "configmaps")[0]
    with pytest.raises(errors.ApiError) as refused:
        quiet.store.create(rt, NS, configmap("c"))
    assert refused.value.message.endswith("denied request: by system:apiserver")


def test_admission_registration_kinds_are_exempt(api: client.ApiClient) -> None:
    enforce(
        api,
        policy("everything", ["*"], [{"expression": "false"}], groups=("*",), operations=("*",)),
    )
    assert failure(core(api).create_namespaced_config_map, NS, configmap("c"))[0] == 422
    admission(api).delete_validating_admission_policy_binding("everything-binding")
    core(api).create_namespaced_config_map(NS, configmap("c"))
