"""Identities as the real ``kubectl`` sees them: kubeconfigs carrying tokens (served over TLS).

Covered: ``kubectl auth whoami`` for a static user and for a ServiceAccount token made by
``kubectl create token``; ``kubectl auth can-i`` (yes/no and its exit code, a subresource,
``--list``, ``--as`` impersonation); what kubectl prints for a forbidden request and for a
refused token; the HTTPS port's certificate is verified by kubectl.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from local.sim.cluster import Simulator
from tests.sim.conftest import Kubectl
from tests.sim.identities import FERRY, grant, install_rollouts, rule, user


def as_user(sim: Simulator, tmp_path: Path, name: str, token: str) -> Kubectl:
    return Kubectl(sim.write_kubeconfig(tmp_path / f"{name}.kubeconfig", token=token, user=name))


def test_whoami_of_a_static_user(sim: Simulator, tmp_path: Path) -> None:
    alice = as_user(sim, tmp_path, "alice", sim.add_user("alice", ["devs"], uid="alice-1"))
    out = alice.run("auth", "whoami").stdout.split("\n")
    assert out[0].split() == ["ATTRIBUTE", "VALUE"]
    assert out[1].split() == ["Username", "alice"]
    assert out[2].split() == ["UID", "alice-1"]
    assert out[3].split() == ["Groups", "[devs", "system:authenticated]"]
    review = alice.json("auth", "whoami")
    assert review["kind"] == "SelfSubjectReview"
    assert review["status"]["userInfo"]["username"] == "alice"


def test_whoami_with_a_token_kubectl_created(
    sim: Simulator, kubectl: Kubectl, tmp_path: Path
) -> None:
    kubectl.run("create", "serviceaccount", "robot")
    token = kubectl.run("create", "token", "robot", "--duration=15m").stdout.strip()
    robot = as_user(sim, tmp_path, "robot", token)
    info = robot.json("auth", "whoami")["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:robot"
    assert info["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    vault = kubectl.run("create", "token", "robot", "--audience=vault").stdout.strip()
    refused = as_user(sim, tmp_path, "vault", vault).run("auth", "whoami", check=False)
    assert refused.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in refused.stderr


def test_can_i(sim: Simulator, api: client.ApiClient, tmp_path: Path) -> None:
    install_rollouts(api)
    grant(
        api,
        "step",
        [user("ferry-step")],
        [
            rule(["get", "list"], ["rollouts"], [FERRY]),
            rule(["patch"], ["rollouts/status"], [FERRY]),
        ],
    )
    step = as_user(sim, tmp_path, "step", sim.add_user("ferry-step"))

    def can(*args: str) -> tuple[int, str]:
        proc = step.run("auth", "can-i", *args, check=False)
        return proc.returncode, proc.stdout.strip()

    assert can("list", "rollouts") == (0, "yes")
    assert can("patch", "rollouts") == (1, "no")
    assert can("patch", "rollouts", "--subresource=status") == (0, "yes")
    assert can("list", "rollouts", "-n", "kube-system") == (1, "no")
    assert can("create", "pods") == (1, "no")
    listed = step.run("auth", "can-i", "--list").stdout
    assert any(line.split()[:1] == ["rollouts.ferry.dev/status"] for line in listed.splitlines())


def test_can_i_as_another_user(kubectl: Kubectl, api: client.ApiClient) -> None:
    grant(api, "alice", [user("alice")], [rule(["list"], ["pods"])])
    yes = kubectl.run("auth", "can-i", "list", "pods", "--as=alice")
    assert yes.stdout.strip() == "yes"
    no = kubectl.run("auth", "can-i", "delete", "pods", "--as=alice", check=False)
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    whoami = kubectl.json("auth", "whoami", "--as=alice", "--as-group=devs")
    assert whoami["status"]["userInfo"] == {
        "username": "alice",
        "groups": ["devs", "system:authenticated"],
    }


def test_kubectl_reports_forbidden_and_unauthorized(sim: Simulator, tmp_path: Path) -> None:
    alice = as_user(sim, tmp_path, "alice", sim.add_user("alice"))
    denied = alice.run("get", "configmaps", check=False)
    assert denied.returncode == 1
    assert denied.stderr.strip() == (
        'Error from server (Forbidden): configmaps is forbidden: User "alice" cannot list '
        'resource "configmaps" in API group "" in the namespace "default"'
    )
    nobody = as_user(sim, tmp_path, "nobody", "not-a-token").run("get", "pods", check=False)
    assert nobody.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in nobody.stderr


def test_the_tls_port_serves_the_same_api(sim: Simulator, tmp_path: Path) -> None:
    admin = as_user(sim, tmp_path, "root", sim.add_user("root", ["system:masters"]))
    assert sim.secure_url.startswith("https://127.0.0.1:")
    configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    admin.run("apply", "-f", "-", input=configmap)
    assert admin.json("get", "configmap", "c")["data"] == {"a": "b"}
    assert [r.user for r in sim.audit() if r.resource == "configmaps"][-1] == "root"
