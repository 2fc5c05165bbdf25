"""Plugin families, all of one shape: a Protocol, one module per implementation, a registry.

Traffic routers (``shared.routers``) and metric providers (``shared.analysis.providers``) are
plugin families; notifiers, webhook receivers and gates follow the same shape. A family is a
package whose ``__init__`` holds its small ``Protocol`` and a :class:`Registry`; each
implementation is one module of that package defining

- ``CAPABILITIES``: a frozenset of what it can do (a router's weights, header or mirror routes),
  read by spec validation and by the documentation, so a spec that asks a plugin for something
  it cannot do is refused rather than silently ignored; and
- ``create(deps)``: the plugin, built from the family's dependencies (e.g. Kubernetes access).

The registry imports an implementation only when it is asked for, so implementations never
import one another, and it refuses an unknown name with the list of the known ones. No I/O here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Generic, TypeVar, cast

P = TypeVar("P")
"""The family's Protocol."""
D = TypeVar("D")
"""What the family's implementations are built from."""


class UnknownPlugin(ValueError):
    """A spec names a plugin Ferry does not have (the message lists the known ones)."""


class Registry(Generic[P, D]):
    """The implementations of one plugin family, by name."""

    def __init__(
        self,
        family: str,
        package: str,
        names: Iterable[str] | Mapping[str, str],
        *,
        unknown: type[UnknownPlugin] = UnknownPlugin,
    ) -> None:
        """``names``: the implementations' names, each its module's name, or a mapping from
        the name a spec uses (``gatewayAPI``) to the module's (``gatewayapi``)."""
        self.family = family
        """What the plugins are, in words ("traffic router"), for messages."""
        self.package = package
        modules = dict(names) if isinstance(names, Mapping) else {n: n for n in names}
        self._modules = modules
        self.names: tuple[str, ...] = tuple(sorted(modules))
        """Every known name, sorted."""
        self._unknown = unknown

    def check(self, name: str) -> str:
        """``name`` if it is known, else :class:`UnknownPlugin` listing the known names."""
        if name not in self.names:
            raise self._unknown(f"unknown {self.family} {name!r} (known: {', '.join(self.names)})")
        return name

    def module(self, name: str) -> ModuleType:
        """The module implementing ``name``."""
        return importlib.import_module(f"{self.package}.{self._modules[self.check(name)]}")

    def capabilities(self, name: str) -> frozenset[str]:
        """What the implementation called ``name`` declares it can do."""
        return frozenset(self.module(name).CAPABILITIES)

    def validate(self, name: str, config: object, where: str) -> list[str]:
        """The problems of ``config``, the spec's configuration of plugin ``name`` at ``where``,
        as the implementation's ``validate(config, where)`` finds them (none if it has none)."""
        check = getattr(self.module(name), "validate", None)
        return list(check(config, where)) if check is not None else []

    def create(self, name: str, deps: D) -> P:
        """The implementation called ``name``, built from ``deps``."""
        factory = cast(Callable[[D], P], self.module(name).create)
        return factory(deps)
