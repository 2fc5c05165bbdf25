"""A local ingress controller: a real nginx routing by the Ingresses of the simulated cluster.

It stands in for ingress-nginx on one machine: ``routes`` reads Ingresses with ingress-nginx's
canary annotations into routes, ``conf`` renders them as nginx configuration, ``controller``
watches the API, validates each configuration with ``nginx -t`` and reloads nginx gracefully.
Knows nothing of Ferry: it reads the objects any ingress-nginx user writes.
"""
