"""How long after a transition its Slack notification goes out, on the embedded runtime.

Each round rolls out a new revision through three ``setWeight`` steps with a Rollout that
subscribes a channel of the local Slack Web API (``local.slack_api``) to every trigger. For
each transition that fired a trigger, the delay runs from its commit (the history entry's time)
to the Slack call that carried it (the revision's first message, or its ``chat.update``).
Reported: median and p95 over all transitions, and the Web API calls per transition (1 for the
first of a revision, 2 after: the update and the thread reply). Writes JSON. ``make bench``.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from local import demo
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from local.slack_api import SlackApi
from shared import configs, milestones, subscriptions
from shared.events import RolloutRef
from shared.kube import Kube
from shared.state import Stage

TOKEN = "xoxb-bench-0123456789"
STEPS = [{"setWeight": 20}, {"setWeight": 50}, {"setWeight": 80}]


def setup(kube: Kube, slack: SlackApi) -> None:
    kube.request(
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{demo.NAMESPACE}/rolebindings",
        body={
            "metadata": {"name": "ferry-notify-secrets"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "ferry-notify-secret-reader",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "ferry-notify", "namespace": "ferry-system"}
            ],
        },
    )
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": subscriptions.SECRET, "namespace": demo.NAMESPACE},
            "data": {"slack-token": base64.b64encode(TOKEN.encode()).decode()},
        }
    )
    service = {"token": "$slack-token", "apiURL": slack.url}
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": subscriptions.CONFIG_MAP, "namespace": demo.NAMESPACE},
            "data": {"service.slack": yaml.safe_dump(service)},
        }
    )
    kube.create(demo.deployment("podinfo:0"))
    kube.create(demo.ingress())
    rollout = demo.rollout(STEPS)
    rollout["metadata"]["annotations"] = {
        f"{subscriptions.SUBSCRIBE}{t}.slack": "releases" for t in milestones.TRIGGERS
    }
    kube.create(rollout)


def wait(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.01)
    raise TimeoutError("the rollout did not get there in time")


def run(rounds: int) -> dict[str, Any]:
    slack = SlackApi({TOKEN}, {"releases": "C0RELEASES"})
    options = Options(tick=3600.0, sim_settings=SimSettings(pod_ready_delay=0.1, tick=0.01))
    ref = RolloutRef(demo.NAMESPACE, demo.NAME)
    delays: list[float] = []
    transitions = 0
    try:
        with Runtime(options) as runtime:
            assert runtime.sim is not None and runtime.store is not None
            store = runtime.store
            kube = Kube(runtime.sim.api_client())
            setup(kube, slack)
            wait(lambda: store.load(ref).stage == Stage.HEALTHY)
            for n in range(1, rounds + 1):
                patch = {"containers": [{"name": "podinfo", "image": f"podinfo:{n}"}]}
                kube.merge_patch(
                    "apps/v1",
                    "deployments",
                    demo.NAMESPACE,
                    demo.NAME,
                    {"spec": {"template": {"spec": patch}}},
                )
                revision = configs.revision(
                    kube, kube.deployment(demo.NAMESPACE, demo.NAME) or {}, None
                )
                wait(
                    lambda revision=revision: (
                        store.load(ref).stage == Stage.HEALTHY
                        and store.load(ref).stable_revision == revision
                    )
                )
                print(f"round {n}/{rounds} promoted", flush=True)
            due = [e for e in store.history(ref) if e.get("triggers")]
            wait(
                lambda: (
                    len([c for c in slack.ok_calls() if not c.args.get("thread_ts")]) >= len(due)
                )
            )
            carriers = [c for c in slack.ok_calls() if not c.args.get("thread_ts")]
            transitions = len(due)
            for entry, call in zip(due, carriers, strict=True):
                delays.append(call.at - float(entry["time"]))
            calls = len(slack.ok_calls())
    finally:
        slack.stop()
    ordered = sorted(delays)
    return {
        "rounds": rounds,
        "transitions_notified": transitions,
        "slack_calls": calls,
        "calls_per_transition": round(calls / transitions, 3),
        "delay_ms": {
            "median": round(statistics.median(ordered) * 1000, 1),
            "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
            "max": round(ordered[-1] * 1000, 1),
        },
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results/notify_delay.json"))
    args = parser.parse_args()
    result = run(args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    delay = result["delay_ms"]
    print(
        f"{result['transitions_notified']} transitions notified: delay median "
        f"{delay['median']} ms, p95 {delay['p95']} ms; "
        f"{result['calls_per_transition']} Slack calls per transition -> {args.out}"
    )


if __name__ == "__main__":
    main()
