"""Ferry's embedded local runtime: everything a cluster would provide, on one machine.

It stands in for Kubernetes (an API simulator served over HTTP), Knative (a broker that routes
by the Trigger manifests in ``knative/``, source emulators) and Redis (a real ``redis-server``
started on demand). Functions and the ``shared`` library must never import from here: they
cannot tell which runtime they run in. Its commands (``ferry up``, ``sim``, ``demo``) plug into
the ``ferry`` command line through an entry point (``local.commands``); the ``cli`` package never
imports it. Test machinery (``faults``) lives here, installed as hooks, never in product code.
"""
