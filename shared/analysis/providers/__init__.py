"""Metric providers: how one measurement of an analysis metric is taken, one module per provider.

The rule for every provider: **measure once and return**. A provider

- takes exactly one measurement per call and never sleeps, polls or retries (waiting between
  measurements is the analysis engine's timer; a measurement that is still running, such as a
  Kubernetes Job, answers ``pending`` and is asked again later);
- never decides a measurement's phase: it reports a value, and the analysis model applies the
  success/failure conditions. Only providers whose outcome is binary (``job``) say
  ``succeeded``;
- raises :class:`ProviderError` when the measurement itself failed (unreachable endpoint, bad
  query, timeout, non-2xx answer): its message in Ferry's own words (what was asked of which
  host, the status, a short reason class), what the source said apart in its ``detail``;
- never logs or reports secrets: header values, passwords in URLs and query strings stay out of
  its own words and logs, and it never cuts or quotes what a source said: a source may echo a
  secret in any form, and only the analysis, which knows the run's secrets, masks them before
  shortening (``measurements.redacted``; its logs meanwhile: ``redaction.hidden_from_logs``).

:class:`Provider` is the whole interface. Each implementation module declares its
``CAPABILITIES`` (:class:`Capability`) and ``create(deps)``; :data:`REGISTRY` (the shape of every
plugin family, see ``shared.plugins``) and :func:`get` look one up by the key used in a metric's
``provider`` block (:func:`provider_name`) and refuse names they do not know. Providers never
import one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import requests

from shared import plugins
from shared.kube import Kube


@dataclass(frozen=True)
class Observation:
    """What one measurement saw."""

    value: Any
    """float, list[float], dict, str... as the provider read it; None means "no data"."""
    pending: bool = False
    """The measurement is still running (a Job): ask again later."""
    succeeded: bool | None = None
    """The outcome, only for providers whose measurement is success/failure (``job``)."""
    message: str = ""
    """Human-readable context: why there is no data, Prometheus warnings, a Job's reason; as
    the source said it (redacted and shortened when the measurement is recorded)."""


class ProviderError(Exception):
    """The measurement could not be taken (it counts as an Error, not a Failure).

    The message (``str()``) is Ferry's own words, meant for users (it lands in the
    AnalysisRun's status): the target, the HTTP status and its standard phrase, a short reason
    class. :attr:`detail` is what the source itself said (an error body, Prometheus' ``error``),
    whole and raw: :attr:`report` joins the two for the analysis, which masks the secrets in it
    and shortens it before it is stored or shown.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail

    @property
    def report(self) -> str:
        """The message and the detail, as they are (never to be shown unredacted)."""
        return f"{self}: {self.detail}" if self.detail.strip() else str(self)


@dataclass(frozen=True)
class MeasurementRef:
    """Which measurement is being taken, for providers that create objects (``job``)."""

    namespace: str
    run: str
    """Name of the AnalysisRun."""
    metric: str
    index: int
    """Position of this measurement in the metric's series (0, 1, 2...)."""
    owner: dict[str, Any] | None = None
    """The AnalysisRun object, to own what the provider creates (None: no owner reference)."""


class Provider(Protocol):
    """Takes measurements of one kind (Prometheus query, HTTP request, Kubernetes Job...)."""

    def measure(self, config: Mapping[str, Any], ref: MeasurementRef) -> Observation:
        """Take one measurement as ``config`` (the provider's block, arguments already
        substituted) describes. Returns at once, pending if the result is not there yet;
        raises :class:`ProviderError` if the measurement could not be taken."""
        ...


class UnknownProvider(plugins.UnknownPlugin):
    """A metric names a provider Ferry does not have."""


class Capability(StrEnum):
    """What a provider can do, declared by each implementation module as ``CAPABILITIES``."""

    VALUE = "value"
    """Reports a value that the metric's conditions judge."""
    OUTCOME = "outcome"
    """Reports success or failure itself (``Observation.succeeded``)."""
    PENDING = "pending"
    """A measurement may still be running when asked (``Observation.pending``): ask again."""


@dataclass(frozen=True)
class Deps:
    """What providers are built from."""

    kube: Kube | None = None
    """Kubernetes access (the ``job`` provider needs it)."""
    session: requests.Session | None = None
    """The HTTP session ``web`` sends its requests with (a new one per measurement when None)."""


REGISTRY: plugins.Registry[Provider, Deps] = plugins.Registry(
    "metric provider", __name__, ("job", "prometheus", "web"), unknown=UnknownProvider
)
KNOWN: tuple[str, ...] = REGISTRY.names
"""Names of the providers Ferry has, as used in a metric's ``provider`` block."""


def provider_name(block: Mapping[str, Any]) -> str:
    """The provider a metric's ``provider`` block names: its single key, e.g.
    ``{"prometheus": {...}}`` -> ``"prometheus"``."""
    if not isinstance(block, Mapping) or not block:
        raise ValueError(f"a metric's provider must name one of: {', '.join(KNOWN)}")
    for key in block:
        REGISTRY.check(str(key))
    if len(block) > 1:
        raise ValueError(
            f"a metric's provider must name exactly one provider, not {', '.join(sorted(block))}"
        )
    return str(next(iter(block)))


def get(
    name: str, *, kube: Kube | None = None, session: requests.Session | None = None
) -> Provider:
    """The provider called ``name``. ``kube`` is needed by ``job``; ``session`` is the HTTP
    session ``web`` sends its requests with (a new one per measurement when None)."""
    return REGISTRY.create(name, Deps(kube, session))
