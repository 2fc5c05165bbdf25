"""A command names the person who wrote it, and people write nothing else into a status.

Covered, with the ValidatingAdmissionPolicy of ``knative/admission.yaml`` installed as
``kubectl apply -k`` would and enforced by the API server (the simulator, CEL): through real
kubectl, bob appending a command that says alice issued it is refused, as is changing a
command alice already wrote or any other field of the status (the phase), while bob appending
his own command is admitted and carried out; Ferry's own ServiceAccounts keep writing the
status.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from local import demo
from local.runtime import Runtime
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo

POLICY = "ValidatingAdmissionPolicy 'ferry-rollout-commands'"


def _kubectl_as(runtime: Runtime, user: str, tmp_path: Path) -> Any:
    assert runtime.sim is not None
    token = runtime.sim.add_user(user, ["system:masters"])
    config = runtime.sim.write_kubeconfig(tmp_path / f"{user}.kubeconfig", token=token, user=user)

    def patch_status(body: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(config),
                "patch",
                "rollouts.ferry.dev",
                demo.NAME,
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps(body),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )

    return patch_status


def _command(user: str, action: str = "pause", *, ahead: float = 0) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ahead))
    return {"id": str(uuid.uuid4()), "action": action, "user": user, "time": stamp}


def _commands(kube: Kube) -> list[dict[str, Any]]:
    obj = kube.rollout(demo.NAMESPACE, demo.NAME) or {}
    return list((obj.get("status") or {}).get("commands") or [])


def test_a_command_must_name_its_writer_and_nothing_else_may_change(
    podinfo: Demo, runtime: Runtime, tmp_path: Path
) -> None:
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {}}])
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    bob = _kubectl_as(runtime, "bob", tmp_path)

    impostor = bob({"status": {"commands": [*_commands(podinfo.kube), _command("alice")]}})
    assert impostor.returncode != 0
    assert POLICY in impostor.stderr and "must be bob" in impostor.stderr
    phase = bob({"status": {"phase": "Healthy"}})
    assert phase.returncode != 0 and "the rest is Ferry's" in phase.stderr
    alice = _kubectl_as(runtime, "alice", tmp_path)
    later = _command("alice", "abort", ahead=3600)  # not current yet: Ferry leaves it listed
    assert alice({"status": {"commands": [*_commands(podinfo.kube), later]}}).returncode == 0
    changed = [
        {**c, "action": "pause"} if c["id"] == later["id"] else c for c in _commands(podinfo.kube)
    ]
    rewritten = bob({"status": {"commands": changed}})
    assert rewritten.returncode != 0 and "cannot be changed" in rewritten.stderr

    honest = _command("bob", "abort")
    assert bob({"status": {"commands": [*_commands(podinfo.kube), honest]}}).returncode == 0
    aborted = podinfo.wait(Stage.ABORTED)
    assert "by bob" in aborted.message  # carried out, in the name of the one who wrote it
