"""The simulator's HTTP face: the Kubernetes REST API over the in-memory store.

URL layout, verbs, content types, discovery documents, watch streams, Tables and Status error
bodies follow the real API server closely enough that the official client and ``kubectl`` work
unmodified. The package translates HTTP to store calls and back; it holds no state of its own
besides the open watch streams, and it knows nothing of particular kinds (see ``admission``).

``api`` builds the Flask app and dispatches by URL; ``gate`` authenticates, authorizes and
audits every request (with ``local.sim.auth``); ``discovery`` serves the discovery and OpenAPI
documents; ``routes`` handles the verbs on collections, objects and their subresources (and
hands reviews and TokenRequests to their handlers); ``watch`` streams watch events; ``inputs``
(with ``protobuf`` for the few protobuf bodies kubectl sends) and ``responses`` decode requests
and encode replies.
"""

from __future__ import annotations

from local.sim.server.api import SERVER_VERSION, Api

__all__ = ["SERVER_VERSION", "Api"]
