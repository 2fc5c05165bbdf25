"""How the simulated kubelet runs the demo app for a live Pod (``local.sim.containers.Runner``).

The images ``behaviour.runs_demo_app`` accepts run ``python -m local.demoapp`` with the Pod's
name, its loopback address and container ports (none declared: 9898, as podinfo), and its
mounted ConfigMap directories (never a Secret's: the app shows what it reads); every other image
stays a pretend container. Knows nothing of Ferry.
"""

from __future__ import annotations

import sys

from local.demoapp import behaviour
from local.sim.containers import Command, Launch

DEFAULT_PORT = 9898
"""Where it listens when its container declares no port (podinfo's own default)."""


class DemoApp:
    """The runner of the local data plane: the demo app for its images."""

    def runs(self, image: str) -> bool:
        return behaviour.runs_demo_app(image)

    def command(self, launch: Launch) -> Command:
        argv = [sys.executable, "-m", "local.demoapp", "--image", launch.image]
        argv += ["--pod", launch.pod, "--host", launch.ip]
        ports = launch.ports or (DEFAULT_PORT,)
        for port in ports:
            argv += ["--port", str(port)]
        for mount in launch.mounts:
            argv += ["--config", str(mount)]
        return Command(argv, {"PYTHONUNBUFFERED": "1"}, ports)
