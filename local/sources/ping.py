"""Emulator of Knative's PingSource: its tick event, sent on the runtime's interval.

:class:`PingSourceEmulator` emits ``dev.knative.sources.ping`` every ``interval`` seconds (the
runtime's tick replaces the cron schedule), source ``/apis/v1/namespaces/<ns>/pingsources/<name>``,
data from ``spec.data`` or ``spec.dataBase64`` with ``spec.contentType``, plus ``ceOverrides``.

This module must not log event data (only type, subject and id) and must not write to the API.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from local.sources.sink import OnEvent, Sender, ce_overrides

PING = "dev.knative.sources.ping"


def ping_source(namespace: str, name: str) -> str:
    return f"/apis/v1/namespaces/{namespace}/pingsources/{name}"


class PingSourceEmulator:
    """Sends a PingSource manifest's event every ``interval`` seconds (its cron schedule is
    ignored: the runtime's tick decides)."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        sink_url: str,
        interval: float,
        *,
        on_event: OnEvent | None = None,
        token: Callable[[], str] | None = None,
        # the source's OIDC token for its sink, with Knative's sender identity
    ) -> None:
        meta = manifest.get("metadata") or {}
        self.name = str(meta.get("name", "pingsource"))
        self.namespace = str(meta.get("namespace") or "default")
        spec: Mapping[str, Any] = manifest.get("spec") or {}
        if spec.get("data") and spec.get("dataBase64"):
            raise ValueError(f"PingSource {self.name}: set data or dataBase64, not both")
        self.data: bytes | None = None
        if spec.get("dataBase64"):
            try:
                self.data = base64.b64decode(str(spec["dataBase64"]), validate=True)
            except binascii.Error:
                raise ValueError(f"PingSource {self.name}: dataBase64 is not base64") from None
        elif spec.get("data"):
            self.data = str(spec["data"]).encode()
        self.content_type = str(spec.get("contentType") or "")
        self.overrides = ce_overrides(spec)
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._stopped = threading.Event()
        self._sender = Sender(sink_url, self._stopped, on_event, token)
        self._thread: threading.Thread | None = None

    def event(self) -> CloudEvent:
        """A fresh tick event (new id and time)."""
        attributes: dict[str, Any] = {
            "type": PING,
            "source": ping_source(self.namespace, self.name),
            "id": str(uuid.uuid4()),
            "time": datetime.now(UTC),
            **self.overrides,
        }
        if self.data is not None and self.content_type:
            attributes["datacontenttype"] = self.content_type
        return CloudEvent(attributes, self.data)

    def fire_now(self) -> bool:
        """Send one tick now; True if the sink accepted it."""
        return self._sender.send(self.event())

    def start(self) -> PingSourceEmulator:
        self._stopped.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"pingsource-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            self.fire_now()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._sender.close()

    def __enter__(self) -> PingSourceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
