"""Ferry's library: everything the functions share.

Resource models, the CloudEvent catalogue, the Redis state store, Kubernetes access and the
plugin families (routers, providers, notifiers). Nothing here may import from ``local`` (the
embedded runtime) or from ``functions``.
"""
