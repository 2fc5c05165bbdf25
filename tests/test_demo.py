"""``make demo`` (``ferry demo``) promotes a new revision through every router it offers.

Covered: ``ferry demo --router R`` for each choice (nginx, the default; gatewayapi and istio
with the upstream CRDs; smi; none) exits 0, having printed the promotion and, for a router with
routing objects, the weights 20 and 50 read back from those objects; ``--strategy bluegreen``
with and without a router switches 0 -> 100 -> 0 as read back from the cluster; an unknown
router exits 2 naming the choices.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from local import demo

FERRY = Path(sys.executable).parent / "ferry"


@pytest.mark.parametrize("router", sorted(demo.ROUTERS))
def test_the_demo_promotes_through_the_router(router: str) -> None:
    done = subprocess.run(
        [str(FERRY), "demo", "--router", router], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promoted: podinfo-primary runs ghcr.io/stefanprodan/podinfo:6.1.0" in done.stdout
    said = [line for line in done.stdout.splitlines() if "router's objects send" in line]
    if router == "none":
        assert said == []
    else:
        assert any("send 20% to the canary" in line for line in said), done.stdout
        assert any("send 50% to the canary" in line for line in said), done.stdout
        assert said[-1].endswith("send 0% to the canary"), done.stdout
    if router in ("nginx", "gatewayapi"):  # on the local data plane
        shares = measured(done.stdout)
        assert 10 <= shares[20] <= 30 and 38 <= shares[50] <= 62, done.stdout
        assert re.search(r"users sent [\d,]+ requests; 0 failed$", done.stdout, re.M), done.stdout


def measured(output: str) -> dict[int, float]:
    """The share of requests the new revision served at each weight, as the demo printed."""
    found = re.findall(r"weight (\d+)%: the new revision served ([\d.]+)% of [\d,]+", output)
    return {int(weight): float(share) for weight, share in found}


def test_the_bad_release_is_caught_by_the_analysis_of_real_traffic() -> None:
    done = subprocess.run(
        [str(FERRY), "demo", "--scenario", "bad-release"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aborted: analysis" in done.stdout and "success-rate" in done.stdout, done.stdout
    assert "aborted: all traffic back on the stable revision" in done.stdout
    failed = re.search(
        r"users sent ([\d,]+) requests; ([\d,]+) failed \(([\d,]+) 500\)$", done.stdout, re.M
    )
    assert failed is not None, done.stdout
    assert failed.group(2) == failed.group(3) and int(failed.group(2).replace(",", "")) > 0


def test_with_no_users_ferrys_own_load_lets_the_analysis_catch_the_bad_release() -> None:
    done = subprocess.run(
        [str(FERRY), "demo", "--scenario", "no-users"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "users send" not in done.stdout  # nobody but Ferry sends a request
    assert "load started (spec.loadTest): 50 rps (8 at once)" in done.stdout, done.stdout
    assert "aborted: analysis" in done.stdout and "success-rate" in done.stdout, done.stdout
    load = re.search(
        r"Ferry's load: ([\d,]+) requests sent at ([\d.]+)/s, ([\d,]+) failed; "
        r"stopped by itself: the rollout was aborted$",
        done.stdout,
        re.M,
    )
    assert load is not None, done.stdout
    assert int(load.group(1).replace(",", "")) > 50 and 40 <= float(load.group(2)) <= 52
    assert int(load.group(3).replace(",", "")) > 0  # what the analysis saw


def test_an_unknown_router_is_refused_with_the_choices() -> None:
    done = subprocess.run(
        [str(FERRY), "demo", "--router", "traefik"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "unknown router 'traefik'" in done.stderr and "gatewayapi" in done.stderr


@pytest.mark.parametrize("router", ["none", "nginx"])
def test_the_blue_green_demo_switches_all_traffic_at_once(router: str) -> None:
    done = subprocess.run(
        [str(FERRY), "demo", "--strategy", "bluegreen", "--router", router],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promoted: podinfo-primary runs ghcr.io/stefanprodan/podinfo:6.1.0" in done.stdout
    lines = done.stdout.splitlines()
    said = [line.split(" send")[-1].removeprefix("s") for line in lines if "% to the" in line]
    assert said == [" 0% to the canary", " 100% to the canary", " 0% to the canary"], done.stdout
    assert "switch: podinfo sends all traffic to" in done.stdout
