"""The Deployment conditions as Kubernetes writes them: building one and setting it in a status.

Pure functions on a status dict; which condition is due when is the status pass's business
(``status``), not this module's.
"""

from __future__ import annotations

from local.sim.clock import rfc3339
from local.sim.controllers.base import status_condition
from local.sim.objects import Obj


def set_condition(status: Obj, cond: Obj) -> None:
    """Kubernetes' ``SetDeploymentCondition``: same status and reason change nothing; same
    status keeps the transition time; the condition goes last."""
    current = status_condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    others = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = [*others, cond]


def new_condition(kind: str, value: str, reason: str, message: str, now: float) -> Obj:
    """A condition of ``kind``, updated and transitioned ``now``."""
    stamp = rfc3339(now)
    return {
        "type": kind,
        "status": value,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }
