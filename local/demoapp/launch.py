"""How the simulated kubelet runs the demo app for a live Pod (``local.sim.containers.Runner``).

The images ``behaviour.runs_demo_app`` accepts run ``python -m local.demoapp`` with the Pod's
name, its loopback address and container ports (none declared: 9898, as podinfo), and its
mounted ConfigMap directories (never a Secret's: the app shows what it reads); every other image
stays a pretend container. Knows nothing of Ferry.
"""

from __future__ import annotations

import sys
from pathlib import Path

from local.demoapp import behaviour
from local.sim.containers import Command, Launch

ROOT = Path(__file__).resolve().parents[2]
"""The checkout (or installation) holding the ``local`` package."""
BOOT = (
    f"import runpy, sys; sys.path.insert(0, {str(ROOT)!r}); sys.argv[0] = 'local.demoapp'; "
    "runpy.run_module('local.demoapp', run_name='__main__', alter_sys=True)"
)
DEFAULT_PORT = 9898
"""Where it listens when its container declares no port (podinfo's own default)."""


class DemoApp:
    """The runner of the local data plane: the demo app for its images."""

    def runs(self, image: str) -> bool:
        return behaviour.runs_demo_app(image)

    def command(self, launch: Launch) -> Command:
        # isolated (-I): no PYTHON* variable, no user site, not the working directory on the
        # path; Ferry's checkout is put on it explicitly
        argv = [sys.executable, "-I", "-c", BOOT, "--image", launch.image]
        argv += ["--pod", launch.pod, "--host", launch.ip]
        ports = launch.ports or (DEFAULT_PORT,)
        for port in ports:
            argv += ["--port", str(port)]
        for mount in launch.mounts:
            argv += ["--config", str(mount)]
        return Command(argv, {"PYTHONUNBUFFERED": "1"}, ports)
