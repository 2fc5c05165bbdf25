"""How fast blue/green moves traffic, and how fast a ConfigMap change starts a canary.

On the embedded runtime (simulator, real Redis, the functions over HTTP), side by side in one
run, ``--rounds`` times each:

- **switch**: a person's ``promote`` (the command appended through the API, as ``kubectl
  ferry promote`` does) until the active Service selects the new revision's Pods (blue/green
  without a traffic router: the switch is the Service's selector);
- **switch back**: a person's ``abort`` during the scale-down delay until the active Service
  selects the stable Pods again;
- **config change** and **image change**: a change of the ConfigMap the Deployment mounts, and
  of its image, until the rollout's new attempt is committed (scaling up). The ratio says what
  it costs that a ConfigMap is watched as a reference and its revision read from the API.

Times are taken by polling (``timing``: 2 ms, the resolution of the numbers). Writes JSON;
``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from timing import summary, wait

from local import demo
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from shared import appends
from shared.events import RolloutRef
from shared.kube import Kube
from shared.state import Stage, StateStore

ACTIVE = demo.NAME
CONFIG = "podinfo-config"


def set_image(kube: Kube, image: str) -> None:
    """The Deployment's container given whole: a merge patch replaces the list, so a revert
    must give back exactly what was there to land on the stable revision."""
    container = demo.deployment(image)["spec"]["template"]["spec"]["containers"][0]
    patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
    kube.merge_patch("apps/v1", "deployments", demo.NAMESPACE, demo.NAME, patch)


def set_config(kube: Kube, greeting: str) -> None:
    kube.merge_patch("v1", "configmaps", demo.NAMESPACE, CONFIG, {"data": {"greeting": greeting}})


def setup(kube: Kube) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIG, "namespace": demo.NAMESPACE},
            "data": {"greeting": "0"},
        }
    )
    target = demo.deployment("podinfo:0")
    pod = target["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "config", "configMap": {"name": CONFIG}}]
    kube.create(target)
    rollout = demo.rollout()
    del rollout["spec"]["trafficRouting"]
    rollout["spec"]["strategy"] = {
        "blueGreen": {"autoPromotionEnabled": False, "scaleDownDelaySeconds": 3600}
    }
    kube.create(rollout)


def run(rounds: int) -> dict[str, Any]:
    options = Options(tick=3600.0, sim_settings=SimSettings(pod_ready_delay=0.1, tick=0.01))
    ref = RolloutRef(demo.NAMESPACE, demo.NAME)
    took: dict[str, list[float]] = {"switch": [], "switch_back": [], "config": [], "image": []}
    with Runtime(options) as runtime:
        assert runtime.sim is not None and runtime.store is not None
        store: StateStore = runtime.store
        kube = Kube(runtime.sim.api_client())
        person = Kube(runtime.sim.api_client(runtime.sim.add_user("alice", ["system:masters"])))
        setup(kube)
        wait(lambda: store.load(ref).stage == Stage.HEALTHY)

        def selector() -> dict[str, str]:
            found = kube.get("v1", "services", demo.NAMESPACE, ACTIVE) or {}
            return dict((found.get("spec") or {}).get("selector") or {})

        def command(action: str) -> float:
            started = time.monotonic()
            appends.append(person, demo.NAMESPACE, demo.NAME, appends.new_command(action, "alice"))
            return started

        def started_after(attempt: int) -> bool:
            state = store.load(ref)
            return state.attempt > attempt and state.canary_revision != ""

        for n in range(1, rounds + 1):
            # a new image: the preview comes up, waits for promotion
            attempt = store.load(ref).attempt
            changed = time.monotonic()
            set_image(kube, f"podinfo:{n}")
            took["image"].append(wait(lambda a=attempt: started_after(a)) - changed)
            wait(lambda: store.load(ref).stage == Stage.PAUSED)
            # a ConfigMap change of the same template: a new attempt
            attempt = store.load(ref).attempt
            changed = time.monotonic()
            set_config(kube, str(n))
            took["config"].append(wait(lambda a=attempt: started_after(a)) - changed)
            wait(lambda: store.load(ref).stage == Stage.PAUSED)
            stable = selector()
            asked = command("promote")
            took["switch"].append(wait(lambda s=stable: selector() not in ({}, s)) - asked)
            wait(lambda: store.load(ref).stage == Stage.PAUSED and store.load(ref).weight == 100)
            asked = command("abort")
            took["switch_back"].append(wait(lambda s=stable: selector() == s) - asked)
            wait(lambda: store.load(ref).stage == Stage.ABORTED)
            # back to the stable revision: revert both (a rollback without a rollout)
            set_config(kube, "0")
            set_image(kube, "podinfo:0")
            wait(lambda: store.load(ref).stage == Stage.HEALTHY)
            print(f"round {n}/{rounds}", flush=True)

    medians = {k: statistics.median(v) for k, v in took.items()}
    return {
        "rounds": rounds,
        **{k: summary(v) for k, v in took.items()},
        "config_to_image_ratio": round(medians["config"] / medians["image"], 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results/bluegreen_switch.json"))
    args = parser.parse_args()
    result = run(args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"switch median {result['switch']['median_ms']} ms, back "
        f"{result['switch_back']['median_ms']} ms; a new attempt after a ConfigMap change "
        f"{result['config']['median_ms']} ms, after an image change "
        f"{result['image']['median_ms']} ms (x{result['config_to_image_ratio']}) -> {args.out}"
    )


if __name__ == "__main__":
    main()
