"""Ferry's functions: one module per rollout transition, each handling one CloudEvent.

A function only decides and applies one transition; all plumbing (HTTP, CloudEvents, Redis,
Kubernetes) comes from ``shared``. Functions never import each other or ``local``.
"""
