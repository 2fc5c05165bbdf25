"""The example manifests of each router run: applied beside the podinfo Deployment, the
Rollout becomes Healthy and a new image reaches its first weight through that router.

Covered: ``knative/examples/rollout.yaml`` (nginx, with the demo's stable Ingress),
``gatewayapi.yaml``, ``istio.yaml``, ``istio-subsets.yaml`` and ``smi.yaml``, applied with the
real ``kubectl`` (strict validation) to the runtime with the upstream CRDs, so the real schemas
accept them; each reaches 20%, as its router reads it back from the cluster.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from local import demo
from local.runtime import KNATIVE_DIR, Runtime
from shared import models, routers
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually

EXAMPLES = {
    "nginx": "rollout.yaml",
    "gatewayAPI": "gatewayapi.yaml",
    "istio": "istio.yaml",
    "istio-subsets": "istio-subsets.yaml",
    "smi": "smi.yaml",
}


def _weight(kube: Kube) -> int | None:
    obj = kube.rollout(demo.NAMESPACE, demo.NAME)
    assert obj is not None
    spec = models.parse(obj)
    return routers.get(spec.router, kube).get_weight(spec)


@pytest.mark.parametrize("router", sorted(EXAMPLES))
def test_the_example_reaches_its_first_weight(routed: Runtime, admin: Kube, router: str) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl must be on PATH (.ci/run installs it)"
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    if router == "nginx":
        admin.create(demo.ingress())
    path = KNATIVE_DIR / "examples" / EXAMPLES[router]
    command = [kubectl, "--kubeconfig", str(routed.kubeconfig), "apply", "-n", demo.NAMESPACE]
    done = subprocess.run(
        [*command, "--validate=strict", "-f", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    obj = admin.rollout(demo.NAMESPACE, demo.NAME)
    assert obj is not None
    assert next(iter(obj["spec"]["trafficRouting"])) == router.split("-")[0]
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1, weight=20)
    eventually(lambda: _weight(admin) == 20, what="the router's weight at 20")
