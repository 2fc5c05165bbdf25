"""The router family: every router declares what it can do, the README's table says the same.

Covered: each registered router module declares CAPABILITIES (known capabilities only), a
``create`` and a ``validate``; the README's capability table is exactly the one generated from
those declarations; a Rollout naming an unknown router, or a router's invalid configuration, is
an InvalidSpec naming the field.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared import routers

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.mark.parametrize("name", routers.REGISTRY.names)
def test_each_router_declares_its_capabilities_and_validates_its_config(name: str) -> None:
    declared = routers.REGISTRY.capabilities(name)
    assert declared and declared <= set(routers.Capability)
    module = routers.REGISTRY.module(name)
    assert callable(module.create)
    if name in routers.spec_names():  # configured in spec.trafficRouting: checks it
        assert callable(module.validate)
        assert routers.validate(name, {"surely": "not"}) != []


def test_the_readme_table_is_generated_from_the_declarations() -> None:
    text = README.read_text()
    found = re.search(r"<!-- routers:begin -->\n(.*?)<!-- routers:end -->", text, re.S)
    assert found, "README.md has no routers table markers"
    assert found.group(1) == routers.table(), (
        "README.md's router table is out of date; replace it with:\n" + routers.table()
    )


def test_the_table_says_what_each_router_declares() -> None:
    rows = {line.split("|")[1].strip(): line for line in routers.table().splitlines()[2:]}
    assert set(rows) == {
        "`gatewayAPI`",
        "`istio`",
        "`nginx`",
        "`smi`",
        "(none: replica counts)",
        "(none, blue/green: the active Service's selector, 0 or 100)",
    }
    assert rows["`gatewayAPI`"].count("yes") == len(routers.REGISTRY.capabilities("gatewayAPI"))
