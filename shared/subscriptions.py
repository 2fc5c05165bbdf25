"""Who is told what about a rollout: the notification services and subscriptions, read from
the namespace's ``ferry-notifications`` ConfigMap and the Rollout's annotations.

Argo Rollouts' notification configuration, with Ferry's names:

- ``service.<type>[.<name>]`` in the ConfigMap ``ferry-notifications`` of the Rollout's
  namespace: a notification service (``slack``, ``teams``, ``webhook``: ``shared.notifiers``),
  its YAML configuration; a value ``$key`` is the key's value in the Secret
  ``ferry-notifications-secret`` of the same namespace (only read when a value names it). The
  service is called ``<name>`` when given, else ``<type>``.
- ``subscriptions`` in the ConfigMap: namespace-wide defaults, a YAML list of
  ``{recipients: [<service>:<recipient>, ...], triggers: [...], selector: "k=v,k2!=v2"}``.
- On a Rollout, ``notifications.ferry.dev/subscribe.<trigger>.<service>: "<r1>;<r2>"`` (Argo's
  annotation, in Ferry's domain), and ``notifications.ferry.dev/mentions.<service>: "<@U1>
  <!here>"``, who to mention on failures (instead of the service's ``mentions``).

Pure: the ConfigMap's data and a Secret reader come in, a :class:`Setup` goes out; what is wrong
is listed in :attr:`Setup.problems` (never with a secret value in it), and only what is wrong is
left out. Nothing here sends anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from shared import milestones, notifiers, plugins

CONFIG_MAP = "ferry-notifications"
SECRET = "ferry-notifications-secret"
SUBSCRIBE = "notifications.ferry.dev/subscribe."
MENTIONS = "notifications.ferry.dev/mentions."
SERVICE_PREFIX = "service."

LET_READ = (
    "kubectl create rolebinding ferry-notify-secrets -n NAMESPACE "
    "--clusterrole=ferry-notify-secret-reader --serviceaccount=ferry-system:ferry-notify"
)
"""How a namespace lets Ferry's notifier read its Secret (``knative/rbac.yaml``)."""

SecretReader = Callable[[], Mapping[str, str] | None]
"""Reads the Secret's data (decoded); None when it is missing or may not be read."""


@dataclass(frozen=True)
class Subscription:
    service: str
    recipient: str
    triggers: frozenset[str]

    @property
    def key(self) -> str:
        """Names the subscription in the notifier's bookkeeping."""
        return f"{self.service}:{self.recipient}"


@dataclass(frozen=True)
class Service:
    name: str
    type: str
    config: Mapping[str, Any]
    """Its configuration, Secret references resolved: never log it."""
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Setup:
    services: Mapping[str, Service] = field(default_factory=dict)
    subscriptions: tuple[Subscription, ...] = ()
    problems: tuple[str, ...] = ()


def read(
    data: Mapping[str, str] | None,
    secret: SecretReader,
    rollout: Mapping[str, Any],
) -> Setup:
    """The services and subscriptions that apply to ``rollout`` (its annotations and labels),
    from the ConfigMap's ``data`` (None when there is none)."""
    problems: list[str] = []
    metadata = rollout.get("metadata") or {}
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    labels: Mapping[str, str] = metadata.get("labels") or {}
    secrets = _Secrets(secret)
    services: dict[str, Service] = {}
    for key, text in sorted((data or {}).items()):
        if not key.startswith(SERVICE_PREFIX):
            continue
        type_, _, name = key[len(SERVICE_PREFIX) :].partition(".")
        name = name or type_
        where = f"{CONFIG_MAP}: {key}"
        try:
            notifiers.REGISTRY.check(type_)
        except plugins.UnknownPlugin as exc:
            problems.append(f"{where}: {exc}")
            continue
        config = _yaml(text, where, problems)
        if not isinstance(config, dict):
            if config is not None:
                problems.append(f"{where}: must be a YAML mapping")
            continue
        resolved = secrets.resolve(config, where, problems)
        if resolved is None:
            continue
        found = notifiers.REGISTRY.validate(type_, resolved, where)
        if found:
            problems.extend(found)
            continue
        mentions = resolved.get("mentions", [])
        services[name] = Service(name, type_, resolved, tuple(mentions))
    subscriptions: list[Subscription] = []
    defaults = _yaml(
        (data or {}).get("subscriptions", ""), f"{CONFIG_MAP}: subscriptions", problems
    )
    for index, item in enumerate(defaults if isinstance(defaults, list) else []):
        where = f"{CONFIG_MAP}: subscriptions[{index}]"
        subscriptions.extend(_default(item, where, labels, problems))
    if defaults is not None and not isinstance(defaults, list):
        problems.append(f"{CONFIG_MAP}: subscriptions: must be a YAML list")
    for key, value in sorted(annotations.items()):
        if key.startswith(SUBSCRIBE):
            subscriptions.extend(_annotation(key, value, problems))
    merged = _merge(subscriptions, services, problems)
    for key, value in annotations.items():
        if key.startswith(MENTIONS):
            name = key[len(MENTIONS) :]
            if name in services:
                services[name] = Service(
                    name, services[name].type, services[name].config, tuple(value.split())
                )
    return Setup(services, merged, tuple(problems))


def _yaml(text: str, where: str, problems: list[str]) -> Any:
    if not text:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problems.append(f"{where}: not valid YAML{at}")
        return None


def _default(
    item: Any, where: str, labels: Mapping[str, str], problems: list[str]
) -> list[Subscription]:
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping with recipients and triggers")
        return []
    selector = item.get("selector", "")
    if not isinstance(selector, str):
        problems.append(f"{where}.selector: must be a string (k=v,k2!=v2)")
        return []
    matched = selects(selector, labels)
    if matched is None:
        problems.append(f"{where}.selector: {selector!r} is not a label selector (k=v,k2!=v2)")
        return []
    if not matched:
        return []
    recipients, triggers = item.get("recipients"), item.get("triggers")
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        problems.append(f"{where}.recipients: must be a list of <service>:<recipient>")
        return []
    checked = _triggers(triggers, f"{where}.triggers", problems)
    found = []
    for recipient in recipients:
        service, _, to = recipient.partition(":")
        found.append(Subscription(service, to, checked))
    return found


def _annotation(key: str, value: str, problems: list[str]) -> list[Subscription]:
    rest = key[len(SUBSCRIBE) :]
    trigger, _, service = rest.rpartition(".")
    if not trigger or not service:
        problems.append(f"annotation {key}: must be {SUBSCRIBE}<trigger>.<service>")
        return []
    checked = _triggers([trigger], f"annotation {key}", problems)
    if not checked:
        return []
    recipients = [r.strip() for r in value.split(";") if r.strip()] or [""]
    return [Subscription(service, r, checked) for r in recipients]


def _triggers(triggers: Any, where: str, problems: list[str]) -> frozenset[str]:
    if not isinstance(triggers, list) or not triggers:
        problems.append(f"{where}: must list triggers ({', '.join(milestones.TRIGGERS)})")
        return frozenset()
    unknown = [t for t in triggers if t not in milestones.TRIGGERS]
    if unknown:
        problems.append(
            f"{where}: unknown trigger {unknown[0]!r} (known: {', '.join(milestones.TRIGGERS)})"
        )
    return frozenset(t for t in triggers if t in milestones.TRIGGERS)


def _merge(
    found: list[Subscription], services: Mapping[str, Service], problems: list[str]
) -> tuple[Subscription, ...]:
    """One subscription per (service, recipient), with the triggers of all that name it."""
    triggers: dict[tuple[str, str], set[str]] = {}
    for sub in found:
        if not sub.triggers:
            continue
        if sub.service not in services:
            problem = f"no service {sub.service!r} in {CONFIG_MAP} (a subscription names it)"
            if problem not in problems:
                problems.append(problem)
            continue
        triggers.setdefault((sub.service, sub.recipient), set()).update(sub.triggers)
    return tuple(
        Subscription(service, recipient, frozenset(t))
        for (service, recipient), t in sorted(triggers.items())
    )


def selects(selector: str, labels: Mapping[str, str]) -> bool | None:
    """Whether an equality-based label selector matches ``labels`` (None: not a selector)."""
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        for op in ("!=", "==", "="):
            key, sep, value = term.partition(op)
            if sep:
                key, value = key.strip(), value.strip()
                if not key:
                    return None
                equal = labels.get(key) == value
                if equal == (op == "!="):
                    return False
                break
        else:
            if term.startswith("!"):
                if term[1:].strip() in labels:
                    return False
            elif term not in labels:
                return False
    return True


class _Secrets:
    """Resolves ``$key`` values from the Secret, read once and only if a value names one."""

    def __init__(self, read: SecretReader) -> None:
        self._read = read
        self._data: Mapping[str, str] | None = None
        self._loaded = False

    def resolve(self, value: Any, where: str, problems: list[str]) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                resolved = self.resolve(v, f"{where}.{k}", problems)
                if resolved is None and v is not None:
                    return None
                out[k] = resolved
            return out
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
            return (
                None
                if any(i is None for i, v in zip(items, value, strict=True) if v is not None)
                else items
            )
        if isinstance(value, str) and value.startswith("$") and len(value) > 1:
            if not self._loaded:
                self._data, self._loaded = self._read(), True
            if self._data is None:
                problems.append(
                    f"{where}: names {value}, but the Secret {SECRET} is missing or Ferry may "
                    f"not read it ({LET_READ})"
                )
                return None
            if value[1:] not in self._data:
                problems.append(f"{where}: the Secret {SECRET} has no key {value[1:]!r}")
                return None
            return self._data[value[1:]]
        return value
