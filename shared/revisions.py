"""A target's revision as every function computes it: ``shared.configs`` under the key.

The revision of a Deployment is its pod template and the data of the ConfigMaps and Secrets it
references; Secrets' digests are HMACs under the installation's key, which lives in the state
store. This is where the two meet, so the core (``configs``) needs no store and ``kubectl
ferry`` (which has none) can still compute revisions that involve no Secret.
"""

from __future__ import annotations

from typing import Any

from shared import configs
from shared.context import Context


def of(ctx: Context, target: dict[str, Any]) -> str:
    """The revision of ``target`` now."""
    return configs.revision(ctx.kube, target, ctx.store.config_key())


def plan(ctx: Context, rollout: str, target: dict[str, Any]) -> configs.Pinned:
    """``configs.plan`` under the installation's key."""
    return configs.plan(ctx.kube, rollout, target, ctx.store.config_key())


def pin(ctx: Context, pinned: configs.Pinned, owner: dict[str, Any]) -> None:
    """``configs.ensure`` under the installation's key: the copies made (or checked)."""
    configs.ensure(ctx.kube, pinned, owner, ctx.store.config_key())
