"""The provider registry: naming a provider from a metric's ``provider`` block, and looking it up.

Covers: the single known key is the name, unknown names are refused with the known ones listed
(both in a block and in ``get``), empty and multi-provider blocks are refused, and ``get`` returns
something that measures.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.analysis import providers


def test_single_known_key_names_the_provider() -> None:
    assert providers.provider_name({"prometheus": {"query": "up"}}) == "prometheus"
    assert providers.provider_name({"job": {}}) == "job"
    assert providers.KNOWN == ("job", "prometheus", "web")


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(
        providers.UnknownProvider, match=r"'datadog' \(known: job, prometheus, web\)"
    ):
        providers.provider_name({"datadog": {}})
    with pytest.raises(providers.UnknownProvider, match="known: job, prometheus, web"):
        providers.get("newrelic")


@pytest.mark.parametrize("block", [{}, {"prometheus": {}, "web": {}}, "prometheus"])
def test_block_must_name_exactly_one_provider(block: Any) -> None:
    with pytest.raises(ValueError, match="provider"):
        providers.provider_name(block)


def test_get_returns_providers_that_measure() -> None:
    for name in ("prometheus", "web"):
        assert callable(providers.get(name).measure)
