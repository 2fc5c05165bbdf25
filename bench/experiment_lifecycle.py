"""How fast an Experiment follows what happens to it, on the embedded runtime.

Side by side in one run, ``--rounds`` times each, an Experiment of two templates (one Pod
each, no analyses, no duration) is created and:

- **running**: from the moment both its Deployments report every replica available (read by
  polling the API) until its status says ``Running``: Ferry's reaction to the Deployments'
  watch events;
- **terminated**: ``spec.terminate: true`` written until both Deployments are gone (the look
  that ends it, then the deletion of what it ran, ``scaleDownDelaySeconds: 0``);
- **deleted**: the Experiment deleted until both Deployments are gone (the API server's
  garbage collection of what the Experiment owns): the yardstick for **terminated**.

Writes JSON; ``make bench``.
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
from shared import models, workloads
from shared.kube import Kube

NS = demo.NAMESPACE
COLORS = ("purple", "orange")


def experiment(name: str) -> dict[str, Any]:
    templates = []
    for color in COLORS:
        labels = {"app": "bench", "color": color}
        templates.append(
            {
                "name": color,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "demo", "image": f"demo:{color}"}]},
                },
            }
        )
    return {
        "apiVersion": models.API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"templates": templates, "scaleDownDelaySeconds": 0},
    }


def run(rounds: int) -> dict[str, Any]:
    options = Options(tick=3600.0, sim_settings=SimSettings(pod_ready_delay=0.1, tick=0.01))
    took: dict[str, list[float]] = {"running": [], "terminated": [], "deleted": []}
    with Runtime(options) as runtime:
        assert runtime.sim is not None
        kube = Kube(runtime.sim.api_client())

        def available(name: str) -> bool:
            return all(
                workloads.is_ready(kube.deployment(NS, f"{name}-{c}"), replicas_at_least=0)
                and kube.deployment(NS, f"{name}-{c}") is not None
                for c in COLORS
            )

        def phase(name: str) -> str:
            found = kube.get(models.API_VERSION, "experiments", NS, name) or {}
            return str((found.get("status") or {}).get("phase", ""))

        def gone(name: str) -> bool:
            selector = f"ferry.dev/experiment={name}"
            return not kube.list_of("apps/v1", "deployments", NS, label_selector=selector)

        for n in range(1, rounds + 1):
            for ending in ("terminated", "deleted"):
                name = f"bench-{ending[0]}-{n}"
                kube.create(experiment(name))
                ready = wait(lambda name=name: available(name))
                took["running"].append(wait(lambda name=name: phase(name) == "Running") - ready)
                asked = time.monotonic()
                if ending == "terminated":
                    kube.merge_patch(
                        models.API_VERSION, "experiments", NS, name, {"spec": {"terminate": True}}
                    )
                else:
                    kube.delete(models.API_VERSION, "experiments", NS, name)
                took[ending].append(wait(lambda name=name: gone(name)) - asked)
            print(f"round {n}/{rounds}", flush=True)

    medians = {k: statistics.median(v) for k, v in took.items()}
    return {
        "rounds": rounds,
        **{k: summary(v) for k, v in took.items()},
        "terminated_to_deleted_ratio": round(medians["terminated"] / medians["deleted"], 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results/experiment_lifecycle.json"))
    args = parser.parse_args()
    result = run(args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"Running {result['running']['median_ms']} ms after the templates were available; "
        f"its Pods gone {result['terminated']['median_ms']} ms after terminate, "
        f"{result['deleted']['median_ms']} ms after a delete "
        f"(x{result['terminated_to_deleted_ratio']}) -> {args.out}"
    )


if __name__ == "__main__":
    main()
