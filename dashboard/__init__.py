"""The dashboard: rollouts seen and steered from a browser, with Kubernetes RBAC as the policy.

A person signs in with a Kubernetes bearer token (checked with a TokenReview, then forgotten:
the session keeps only who they are) or with an OpenID Connect provider. Every read is
authorized for that identity with a SubjectAccessReview; every action is a command appended
to the Rollout's status *as that person* (Kubernetes impersonation), so RBAC and the admission
policy see them, not the dashboard. Pages update live from the state store. It reads rollouts
and writes only commands: never a spec, never Redis. It also serves every rollout's Prometheus
metrics (``/metrics``, to a bearer token allowed to get that URL), since the functions scale to
zero and cannot be scraped.

``identity`` (who is asking, and what they may do), ``oidc`` (provider sign-in), ``sessions``
(signed cookies, CSRF), ``views`` (what a page shows, from the API's objects), ``metrics``
(the Prometheus collector), ``app`` (the Flask app: pages, JSON API, live updates, commands,
metrics).
"""
