"""A Kubernetes API simulator, served over HTTP, for the places no real cluster can run.

Faithful where a reconciler depends on the API: resourceVersion and conflicts, generation,
selectors, watch, patch, status/scale subresources, garbage collection and simulated workload
controllers. The official ``kubernetes`` client and ``kubectl`` talk to it unmodified. It
authenticates bearer tokens, authorizes with RBAC, enforces ValidatingAdmissionPolicies and
keeps an audit trail, as a real API server does, so tests can run components as their own
identities; a request without credentials has local admin access unless that is turned off. It
is a test and demo fixture: it keeps everything in memory.
"""
