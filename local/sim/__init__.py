"""A Kubernetes API simulator, served over HTTP, for the places no real cluster can run.

Faithful where a reconciler depends on the API: resourceVersion and conflicts, generation,
selectors, watch, patch, status/scale subresources, garbage collection and simulated workload
controllers. The official ``kubernetes`` client and ``kubectl`` talk to it unmodified. It is a
test and demo fixture: it keeps everything in memory and does no authentication.
"""
