"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

It follows kube-controller-manager's algorithm closely, because Ferry drives Deployments and
reads back exactly these fields:

- one ReplicaSet per pod template, named ``<deployment>-<hash>``, the hash also stamped as the
  ``pod-template-hash`` label on the ReplicaSet, its selector and its template; ReplicaSets
  carry a controller ownerReference and the annotations ``deployment.kubernetes.io/revision``,
  ``desired-replicas`` and ``max-replicas``; the Deployment carries the current revision
  (``sync``, with the hash and annotations in ``fields``);
- RollingUpdate (``maxSurge`` rounded up, ``maxUnavailable`` rounded down, unavailable 1 when
  both are 0) scales the new ReplicaSet up and old ones down as Pods become available
  (``rolling``); Recreate scales old ones to 0, waits for their Pods to go, then scales the new
  one up (``recreate``); a change of ``spec.replicas`` alone is spread proportionally
  (``proportional``); ``spec.paused`` stops the rollout (``controller``);
- status counts, the ``Available`` and ``Progressing`` conditions (with
  ``ProgressDeadlineExceeded``) and ``observedGeneration`` (``status``, ``conditions``); old
  ReplicaSets beyond ``revisionHistoryLimit`` are deleted (``sync``).

Pods are the ReplicaSet controller's business: this package writes Deployments (status and the
revision annotation) and ReplicaSets only.
"""

from __future__ import annotations

from local.sim.controllers.deployments.controller import DeploymentController
from local.sim.controllers.deployments.fields import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    canonical,
    scaled,
    surge_and_unavailable,
    template_hash,
)

__all__ = [
    "DESIRED_REPLICAS",
    "HASH_LABEL",
    "MAX_REPLICAS",
    "REVISION",
    "DeploymentController",
    "canonical",
    "scaled",
    "surge_and_unavailable",
    "template_hash",
]
