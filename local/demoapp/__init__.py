"""Ferry's demo app: the process a live Pod of the local data plane runs.

A small HTTP server that answers with its version and Pod name, serves readiness and liveness
probes, and exposes Prometheus metrics of the requests it served. Its image tag chooses how it
behaves, so a bad release can be staged (``behaviour``); ``server`` is the process
(``python -m local.demoapp``). It knows nothing of Ferry.
"""
