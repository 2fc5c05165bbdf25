"""deadletter: keeps what the Broker gave up on, so it can be seen and replayed.

The event (with Knative's error extensions) goes to the ``ferry:deadletters`` stream. Ferry
does not depend on it for progress: the reconcile tick re-emits whatever a lost event meant.
"""

from __future__ import annotations

import logging

from cloudevents.core.v1.event import CloudEvent

from shared import events
from shared.context import Context

log = logging.getLogger(__name__)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    attributes = event.get_attributes()
    reason = (
        f"{attributes.get('knativeerrorcode', '?')} from {attributes.get('knativeerrordest', '?')}"
    )
    log.warning(
        "dead letter: %s %s (%s): %s", event.get_type(), event.get_subject(), event.get_id(), reason
    )
    ctx.store.record_dead_letter(events.to_json(event), reason)
    return None
