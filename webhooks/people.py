"""Who a Slack user is in Kubernetes: the explicit mapping in the ConfigMap ``ferry-slack-users``
of Ferry's namespace (owned by whoever administers Ferry, since a mapping lets a Slack user act
as the identity it names).

Each data key is a Slack user id (``U012AB3CD``); its value a Kubernetes user name, or a YAML
mapping ``{user: alice@example.com, groups: [ops]}`` when the user's rights come from groups. A
Slack user who is not listed is nobody: their clicks are refused. Read at each request, so an
edit takes effect at once. Pure but for :func:`load`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from shared import kube
from shared.kube import Kube

CONFIG_MAP = "ferry-slack-users"


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...] = ()


def parse(data: Mapping[str, str]) -> dict[str, Identity]:
    """Slack user id -> identity (entries that do not parse are left out)."""
    found = {}
    for slack_id, text in data.items():
        value = text.strip()
        if not value.startswith("{"):
            if value and "\n" not in value:
                found[slack_id] = Identity(value)
            continue
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            continue
        user, groups = (parsed or {}).get("user"), (parsed or {}).get("groups", [])
        if isinstance(user, str) and user and isinstance(groups, list):
            found[slack_id] = Identity(user, tuple(str(g) for g in groups))
    return found


def load(api: Kube, namespace: str) -> dict[str, Identity]:
    """The mapping as it is now (none when the ConfigMap is missing or unreadable)."""
    try:
        found = api.get("v1", "configmaps", namespace, CONFIG_MAP)
    except kube.ApiError:
        return {}
    return parse((found or {}).get("data") or {})
