"""trigger: carries out what an authenticated webhook asked of a rollout (``webhook.verified``),
as its namespace's ``WebhookPolicy`` allows, as the policy's own Kubernetes identity.

The webhooks app verified the sender (signature or token, replay) and named the policy; this
reads the policy again (it may have changed since) and checks that it allows the action on
this Rollout and, for a release, the tag. It then acts as ``webhook:<namespace>:<policy>``
(impersonated, so the namespace's RBAC decides): ``promote`` and ``abort`` append a command to
the Rollout's status like any person's, as does ``confirm`` (the gate the rollout waits at:
acceptance tests passed); ``release`` writes the new image, to the target
Deployment (``write: Deployment``) or to Git (``write: Git``: a commit on the configured
branch, with the git CLI; Git then syncs it to the cluster). What is refused is a Warning on
the Rollout (``WebhookRefused``) and changes nothing. Each event is carried out once (its id is
remembered; a failure that may pass forgets it, and the Broker tries again).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from cloudevents.core.v1.event import CloudEvent

from shared import appends, events, gitops, kube, seals, webhookpolicies
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.kube import ApiError, NotFound, Transient
from shared.receivers import Intent, github
from shared.state import PROCESSED_TTL, Conflict

log = logging.getLogger(__name__)


class _Refused(Exception):
    pass


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    if event.get_type() != Type.WEBHOOK_VERIFIED:
        _from_source(ctx, event)
        return None
    ref = RolloutRef.parse(event.get_subject())
    data = events.data(event)
    name, action = str(data.get("policy", "")), str(data.get("action", ""))
    if not name or action not in ("promote", "abort", "confirm", "release"):
        raise events.MalformedEvent("webhook.verified needs a policy and an action")
    if not seals.sealed(ctx.webhook_key, ref.subject, data, events.ext(event, Ext.SEAL) or ""):
        raise events.MalformedEvent(
            "webhook.verified without a valid seal: only Ferry's webhook endpoint may send it"
        )
    # once per sealed content: the same verified delivery under another event id is one
    key = seals.seal(b"ferry-trigger", ref.subject, data)
    tag, sender = str(data.get("tag", "")), str(data.get("sender", ""))
    _once(ctx, key, ref, name, lambda: _carry_out(ctx, ref, name, action, tag, sender))
    return None


WORKING = 120.0
"""Seconds one delivery may be at work on a request before another may take it over (a
function killed mid-way, say by its timeout, leaves it to the Broker's retry)."""


def _once(ctx: Context, key: str, ref: RolloutRef, policy: str, work: Callable[[], None]) -> None:
    """Do ``work`` once for ``key``: not again once done, not twice at the same time; a
    refusal is a Warning on the Rollout, a failure that may pass leaves it to a retry."""
    if ctx.store.delivered("trigger", key):
        return  # carried out already
    if not ctx.store.first_delivery("trigger-working", key, WORKING):
        raise Conflict(f"{ref.subject}: this webhook is being carried out by another delivery")
    try:
        work()
    except (_Refused, gitops.GitRefused) as exc:
        log.info("%s: webhook of policy %s refused: %s", ref.subject, policy, exc)
        rollout = ctx.kube.rollout(ref.namespace, ref.name)
        ctx.kube.record_event(rollout, "WebhookRefused", f"{policy}: {exc}", warning=True)
    except gitops.GitError as exc:
        ctx.store.forget_delivery("trigger-working", key)
        raise Transient(f"git: {exc}") from None
    except BaseException:
        ctx.store.forget_delivery("trigger-working", key)
        raise
    ctx.store.first_delivery("trigger", key, PROCESSED_TTL)  # done (refused is done too)


def _from_source(ctx: Context, event: CloudEvent) -> None:
    """A GitHubSource's event, or any producer's ``action.requested``, for every WebhookPolicy
    of type ``knative`` that names its
    CloudEvent source (``cloudEventSource``). The Broker admitted its sender (its EventPolicy
    names who may send); the policy says what that source may ask, and the same checks as for
    a webhook follow."""
    payload = events.data(event)
    if event.get_type() == Type.ACTION_REQUESTED:
        intents = _asked(payload)
    else:
        intents = github.intents(event.get_type().rsplit(".", 1)[-1], payload)
    if not intents:
        return
    source = str(event.get_source())
    for obj in ctx.kube.list_of(webhookpolicies.API_VERSION, webhookpolicies.PLURAL):
        try:
            policy = webhookpolicies.parse(obj)
        except webhookpolicies.InvalidPolicy:
            continue
        if policy.source != webhookpolicies.KNATIVE or not policy.trusts(source):
            continue
        for intent in intents:
            if not policy.about(intent.repository, intent.ref):
                continue
            if intent.action not in policy.actions:
                continue
            for rollout in [intent.rollout] if intent.rollout else list(policy.rollouts):
                if rollout not in policy.rollouts:
                    continue
                ref = RolloutRef(policy.namespace, rollout)
                key = f"{events.key(event)}/{ref.subject}/{policy.name}/{intent.action}"
                work = functools.partial(
                    _carry_out, ctx, ref, policy.name, intent.action, intent.tag, policy.source
                )
                _once(ctx, key, ref, policy.name, work)


def _asked(data: dict[str, object]) -> tuple[Intent, ...]:
    """The intent of an ``action.requested`` event (400 for one that asks nothing known)."""
    action = data.get("action")
    if action not in ("promote", "abort", "confirm", "release"):
        raise events.MalformedEvent(
            "action.requested needs an action: promote, abort, confirm or release"
        )
    fields = {k: data.get(k, "") for k in ("rollout", "tag", "repository", "ref")}
    if not all(isinstance(v, str) and len(v) <= 256 for v in fields.values()):
        raise events.MalformedEvent("rollout, tag, repository and ref must be short strings")
    return (Intent(str(action), **{k: str(v) for k, v in fields.items()}),)


def _carry_out(
    ctx: Context, ref: RolloutRef, name: str, action: str, tag: str, sender: str
) -> None:
    found = ctx.kube.get(webhookpolicies.API_VERSION, webhookpolicies.PLURAL, ref.namespace, name)
    if found is None:
        raise _Refused("the WebhookPolicy no longer exists")
    try:
        policy = webhookpolicies.parse(found)
    except webhookpolicies.InvalidPolicy as exc:
        raise _Refused(str(exc)) from None
    if action not in policy.actions:
        raise _Refused(f"the policy does not allow {action}")
    if ref.name not in policy.rollouts:
        raise _Refused(f"the policy does not name rollout {ref.name}")
    if policy.source != sender:
        raise _Refused(f"the policy's source is {policy.source}, not {sender}")
    as_webhook = ctx.kube.acting_as(policy.identity, webhookpolicies.GROUPS)
    try:
        if action == "release":
            _release(ctx, as_webhook, policy, ref, tag)
            return
        entry = appends.new_command(action, policy.identity)
        appends.append(as_webhook, ref.namespace, ref.name, entry)
        log.info("%s: %s asked %s (%s)", ref.subject, policy.identity, action, entry["id"])
    except NotFound:
        raise _Refused(f"rollout {ref.name} does not exist") from None
    except ApiError as exc:
        raise _Refused(f"the API server refused {policy.identity}: {exc}") from None


def _release(
    ctx: Context, as_webhook: kube.Kube, policy: webhookpolicies.Policy, ref: RolloutRef, tag: str
) -> None:
    release = policy.release
    if release is None:
        raise _Refused("the policy has no release")
    why = webhookpolicies.tag_allowed(release, tag)
    if why is not None:
        raise _Refused(why)
    image = f"{release.image}:{tag}"
    rollout = ctx.kube.rollout(ref.namespace, ref.name)  # which target: Ferry's own read
    if rollout is None:
        raise NotFound(ref.subject)
    target = str(((rollout.get("spec") or {}).get("targetRef") or {}).get("name", ""))
    if release.write == "Git":
        # the same right as a release to the Deployment: Git then writes it to the cluster
        if not ctx.kube.allowed(
            policy.identity,
            webhookpolicies.GROUPS,
            "patch",
            "apps",
            "deployments",
            ref.namespace,
            target,
        ):
            raise _Refused(
                f"{policy.identity} may not patch deployment {target}, which a release to Git "
                "needs as much as one to the Deployment"
            )
        message = f"{ref.subject}: release {image} (webhook {policy.namespace}/{policy.name})"
        changed = gitops.set_image(
            release.git_repository,
            release.git_branch,
            release.git_path,
            release.image,
            tag,
            message,
            protocols=ctx.git_protocols,
        )
        log.info("%s: %s %s in git", ref.subject, "committed" if changed else "already", image)
        return
    deployment = as_webhook.deployment(ref.namespace, target)
    if deployment is None:
        raise _Refused(f"the target Deployment {target} does not exist")
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    names = [c.get("name") for c in containers]
    container = release.container or (names[0] if names else "")
    if container not in names:
        raise _Refused(f"the target has no container {container!r}")
    at = f"/spec/template/spec/containers/{names.index(container)}"
    ops = [  # conditional on the container still being where it was read
        {"op": "test", "path": f"{at}/name", "value": container},
        {"op": "replace", "path": f"{at}/image", "value": image},
    ]
    as_webhook.json_patch("apps/v1", "deployments", ref.namespace, target, ops)
    log.info("%s: %s set %s of %s to %s", ref.subject, policy.identity, container, target, image)
