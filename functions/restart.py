"""restart: a person asked to restart the stable revision's Pods, without a new revision.

Argo Rollouts records a restart in the Rollout's ``spec.restartAt`` and evicts the Pods one at
a time. Ferry never writes a Rollout's spec (Git owns it: Argo CD or Flux would revert it), so
the restart is a command in ``status.commands`` like promote or abort. The stable revision
runs in the primary (``<target>-primary``), a Deployment Ferry made and owns, which no Git
repository holds: the restart's time goes into the state (``restarted_at``) and
``shared.levels`` writes it as the annotation ``ferry.dev/restartedAt`` on the primary's pod
template. Its Deployment controller then replaces the Pods in a rolling update within the
primary's maxSurge and maxUnavailable (no downtime with one replica, unlike eviction), and the
revision, a hash of the *target's* template and configuration, does not change, so no canary
starts. The target (Git's Deployment) is never touched: an annotation on its template would
be reverted by the next sync, and would itself be a new revision that starts a canary. Its
Pods, the canary's, are not restarted (a retry, or a new revision, replaces them).

The same command delivered twice restarts once (the event's key is derived from the command's
id: the second delivery finds it processed); a command that waited while the Pods were
restarted after it was issued is not carried out again. Each restart carried out gets a time
later than the last one's, to the millisecond (the annotation carries milliseconds), so two
restarts within one second are two rolling updates, never one. Refused ("ignored: why", in
the history) when there are no stable Pods to restart (initializing, invalid spec), while
promoting (the primary is replacing its Pods with the new revision's anyway), when the
primary's strategy (the target's, copied) would take every stable Pod down at once
(``Recreate``, or a ``maxUnavailable`` that comes to all its replicas: a restart must not be
an outage), and while the primary is not fully available (as Argo waits until every
ReplicaSet is: a restart then would take more stable Pods out of service). Allowed during a
canary's steps, pauses and after an abort, as Argo allows a restart in the middle of an
update. It decides only: the annotation is written by ``shared.levels`` after the commit.
"""

from __future__ import annotations

from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import transitions, workloads
from shared.clock import rfc3339
from shared.commands import Command
from shared.context import Context
from shared.outcomes import Expect, Outcome, Turn
from shared.state import Stage

Obj = dict[str, Any]

EXPECT = Expect()
"""Any stage (the decision says why a stage has nothing to restart); the live Rollout names
the primary."""
NOTHING_TO_RESTART = {
    Stage.INITIALIZING: "the stable revision has no Pods yet (the rollout is initializing)",
    Stage.INVALID: "the spec is invalid: nothing is touched until it is fixed",
    Stage.PROMOTING: "the primary is being promoted: its Pods are being replaced anyway",
}


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run_command(ctx, event, _restart, EXPECT)


def _restart(turn: Turn, command: Command) -> Outcome:
    state, spec = turn.state, turn.spec
    why = NOTHING_TO_RESTART.get(state.stage)
    if why is not None or not state.stable_revision:
        return command.ignored(state, why or "there is no stable revision yet")
    if int(state.restarted_at) > command.time:
        return command.ignored(
            state,
            f"the stable Pods were restarted at {rfc3339(state.restarted_at)}, after this "
            "command was issued",
        )
    primary = turn.ctx.kube.deployment(spec.namespace, spec.primary)
    if primary is None:
        return command.ignored(state, f"{spec.primary} is missing: nothing to restart")
    if workloads.replicas(primary) == 0:
        return command.ignored(state, f"{spec.primary} runs no Pods: there is nothing to restart")
    if workloads.unavailable_at_once(primary) >= workloads.replicas(primary):
        return command.ignored(state, _all_at_once(spec.primary, spec.target, primary))
    if not workloads.is_ready(primary):
        status = primary.get("status") or {}
        return command.ignored(
            state,
            f"{spec.primary} is not fully available "
            f"({status.get('availableReplicas', 0)}/{workloads.replicas(primary)} available, "
            f"{status.get('updatedReplicas', 0)} updated): a restart now would take more "
            "stable Pods out of service; try again once it is",
        )
    # a later value than the last restart's even within one millisecond: an equal one would
    # replace no Pod
    now = max(turn.ctx.now(), state.restarted_at + 0.001)
    note = (
        f"restarted by {command.user}: the Pods of stable revision {state.stable_revision} "
        f"({spec.primary}, {workloads.replicas(primary)} replicas) are replaced by a rolling "
        "update"
    )
    return command.done_as(
        Outcome(
            state.with_(restarted_at=now, restarted_primary=_uid(primary)),
            note=note,
            events=(("RolloutRestarted", note, False),),
        )
    )


def _all_at_once(primary_name: str, target: str, primary: Obj) -> str:
    """Why a restart is refused when the primary's strategy (copied from the target's) would
    take every stable Pod out of service at once, and what to do."""
    strategy = (primary.get("spec") or {}).get("strategy") or {}
    replicas = workloads.replicas(primary)
    if strategy.get("type") == "Recreate":
        how = "strategy Recreate"
    else:
        rolling = strategy.get("rollingUpdate") or {}
        how = (
            f"maxUnavailable {rolling.get('maxUnavailable', '25%')} "
            f"(maxSurge {rolling.get('maxSurge', '25%')})"
        )
    return (
        f"{primary_name} replaces its Pods with {how}, copied from {target}: a restart would "
        f"take all {replicas} stable Pods out of service at once; give {target} a "
        "RollingUpdate strategy whose maxUnavailable comes to fewer Pods than its replicas "
        "(with one replica: maxUnavailable 0, maxSurge 1), or, to accept the downtime, run "
        f"kubectl rollout restart deployment/{primary_name}"
    )


def _uid(deployment: Obj) -> str:
    return str((deployment.get("metadata") or {}).get("uid") or "")
