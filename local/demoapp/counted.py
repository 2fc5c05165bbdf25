"""What the demo app's Pods behind a Service counted: their own ``http_requests_total``.

For tests and benchmarks that check where requests went by asking the Pods themselves (never
a load generator's or a proxy's word for it). Reads each ready address's ``/metrics``; it
changes nothing.
"""

from __future__ import annotations

import re

import requests

from shared.kube import Kube

COUNTED = re.compile(r'^http_requests_total\{[^}]*path="/"[^}]*\} (\S+)', re.M)
"""The demo app's counter of answered requests to ``/`` (every code, every method)."""


def served(kube: Kube, namespace: str, service: str) -> int:
    """Requests to ``/`` the ready Pods behind ``service`` answered, by their own counters."""
    endpoints = kube.get("v1", "endpoints", namespace, service) or {}
    total = 0
    for subset in endpoints.get("subsets") or []:
        port = subset["ports"][0]["port"]
        for address in subset.get("addresses") or []:
            text = requests.get(f"http://{address['ip']}:{port}/metrics", timeout=5).text
            total += sum(int(float(m.group(1))) for m in COUNTED.finditer(text))
    return total
