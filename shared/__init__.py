"""Ferry's library: everything the functions share, one noun per module.

The core: ``models`` (the Rollout spec), ``events`` (the CloudEvent catalogue), ``state`` (the
only module that talks to Redis), ``kube`` (the only one that talks to the Kubernetes API),
``workloads`` and ``objects`` (what Ferry derives from the user's Deployment), ``timers``,
``status``, ``commands``. The transition machinery: ``transitions`` (the idempotency contract,
written once), ``rollouts``, ``progress``, ``endpoint`` (HTTP in), ``sink`` (HTTP out). Domains
and plugin families (``shared.plugins`` is their common shape): ``routers`` and ``analysis``
(with its metric ``providers``). The core knows no plugin; plugins never import one another.
Nothing here imports ``functions``, ``cli`` or ``local``.
"""
