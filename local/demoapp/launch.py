"""How the simulated kubelet runs the demo app for a live Pod (``local.sim.containers.Runner``).

The images ``behaviour.runs_demo_app`` accepts run ``python -m local.demoapp`` with the Pod's
name, its loopback address and container ports, and its mounted ConfigMap and Secret
directories; every other image stays a pretend container. Knows nothing of Ferry.
"""

from __future__ import annotations

import sys

from local.demoapp import behaviour
from local.sim.containers import Command, Launch


class DemoApp:
    """The runner of the local data plane: the demo app for its images."""

    def runs(self, image: str) -> bool:
        return behaviour.runs_demo_app(image)

    def command(self, launch: Launch) -> Command:
        argv = [sys.executable, "-m", "local.demoapp", "--image", launch.image]
        argv += ["--pod", launch.pod, "--host", launch.ip]
        for port in launch.ports or (8080,):
            argv += ["--port", str(port)]
        for mount in launch.mounts:
            argv += ["--config", str(mount)]
        return Command(argv, {"PYTHONUNBUFFERED": "1"})
