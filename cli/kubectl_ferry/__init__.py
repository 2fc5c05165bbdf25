"""``kubectl ferry``: the kubectl plugin (``main`` parses, ``control`` talks to the Kubernetes
API, ``views`` renders). Never touches Redis, the local runtime or a Rollout's spec."""
