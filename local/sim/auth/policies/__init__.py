"""ValidatingAdmissionPolicy: admission policies written in CEL, enforced on every write.

``definitions`` defaults and validates the policy and binding objects; ``cel`` compiles and
evaluates expressions (``library`` adds the Kubernetes CEL functions); ``matching`` decides
which writes a policy or binding selects; ``evaluation`` runs one policy's expressions;
``engine`` follows the stored policies and bindings and refuses, warns about or audits writes.
"""

from __future__ import annotations

from local.sim.auth.policies.definitions import check_binding, check_policy
from local.sim.auth.policies.engine import Policies

__all__ = ["Policies", "check_binding", "check_policy"]
