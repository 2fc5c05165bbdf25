"""The webhooks app: ``POST /slack/actions`` answers the promote and abort buttons of Ferry's
Slack messages.

A click is carried out only if every check passes, in this order: the body is at most
:data:`~shared.receivers.MAX_BODY` bytes (413), Slack signed it with the app's signing secret
less than five minutes ago (401), it was not received before (409: a replay), it is a click on
one of Ferry's buttons (400), the Slack user is mapped to a Kubernetes identity
(``webhooks.people``), the Rollout is the one the message was about and still on the revision
the message showed (a button of an older message does nothing), and the API server lets that
identity append the command (impersonation: RBAC and the admission policy judge the person, as
for ``kubectl ferry``). The command then flows like any other. Slack expects an HTTP 200 for a
click it delivered, so a refusal after the checks of the request itself is said to the person
in Slack (an ephemeral message to the ``response_url``) and changes nothing. Never logs the
signing secret or a request body.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, Response, request

from shared import appends, events, limits, plugins, receivers, seals, sink, webhookpolicies
from shared.events import RolloutRef
from shared.kube import ApiError, Kube, NotFound, Transient
from shared.receivers import Refused
from shared.receivers import slack as slack_receiver
from shared.state import StateStore
from webhooks import people

log = logging.getLogger(__name__)

RESPONSE_URLS = "https://hooks.slack.com/"
"""Where Slack's ``response_url`` may point (answers go nowhere else)."""
IN_PROGRESS = frozenset({"Progressing", "Paused"})


def create_app(
    api: Kube,
    store: StateStore,
    slack_secret: bytes,
    *,
    namespace: str = "ferry-system",
    response_urls: str = RESPONSE_URLS,
    broker_url: str = "",
    broker_token: Callable[[], str] | None = None,
    webhook_key: bytes = b"",
) -> Flask:
    """``api`` is the app's own client (it reads the mapping, policies and their Secrets, and
    impersonates the person); verified webhooks go to the Broker at ``broker_url``."""
    app = Flask(__name__)
    slack = receivers.REGISTRY.create("slack", slack_secret) if slack_secret else None

    @app.post("/hooks/<hook_namespace>/<policy_name>")
    @app.post("/hooks/<hook_namespace>/<policy_name>/<path_token>")
    def hooks(hook_namespace: str, policy_name: str, path_token: str = "") -> Any:
        try:
            body = limits.read(request.stream, receivers.MAX_BODY, declared=request.content_length)
        except limits.TooLarge as exc:
            return _text(413, str(exc))
        incoming = receivers.Incoming(dict(request.headers.items()), body, path_token)
        return hooks_answer(
            api,
            store,
            hook_namespace,
            policy_name,
            incoming,
            Handoff(broker_url, broker_token, webhook_key),
        )

    @app.post("/slack/actions")
    def slack_actions() -> Any:
        if slack is None:
            return _text(404, "Slack interactivity is not configured")
        try:
            body = limits.read(
                request.stream, slack_receiver.MAX_BODY, declared=request.content_length
            )
        except limits.TooLarge as exc:
            return _text(413, str(exc))
        try:
            incoming = receivers.Incoming(dict(request.headers.items()), body)
            delivery = slack.verify(incoming, time.time())
            if not store.first_delivery("slack", delivery.id, 2 * slack_receiver.TOLERANCE):
                return _text(409, "this request was received before")
            verb, rollout, uid, revision, slack_user = slack_receiver.action(delivery.payload)
        except Refused as exc:
            return _text(exc.status, str(exc))
        answer = _carry_out(api, namespace, verb, rollout, uid, revision, slack_user)
        _respond(delivery.payload.get("response_url"), answer, response_urls)
        return Response(status=200)

    return app


@dataclass(frozen=True)
class Handoff:
    """Where verified webhooks go: the Broker, with a token, sealed with the shared key."""

    broker_url: str
    broker_token: Callable[[], str] | None
    key: bytes


def hooks_answer(
    api: Kube,
    store: StateStore,
    namespace: str,
    name: str,
    incoming: receivers.Incoming,
    handoff: Handoff,
) -> Response:
    """Verify a delivery to policy ``namespace/name`` and hand what it may do to the Broker."""
    try:
        found = api.get(webhookpolicies.API_VERSION, webhookpolicies.PLURAL, namespace, name)
    except (ApiError, Transient) as exc:
        log.warning("hooks: cannot read WebhookPolicy %s/%s: %s", namespace, name, exc)
        return _text(503, "the policy cannot be read now; try again")
    if found is None:
        return _text(404, f"no WebhookPolicy {namespace}/{name}")
    try:
        policy = webhookpolicies.parse(found)
        if policy.source == webhookpolicies.KNATIVE:
            return _text(404, f"{namespace}/{name} is for a Knative source, not a webhook")
        receiver = receivers.REGISTRY.create(policy.source, _secret(api, policy))
    except (webhookpolicies.InvalidPolicy, plugins.UnknownPlugin) as exc:
        return _text(503, f"the policy cannot be used: {exc}")
    except _NoSecret as exc:
        return _text(503, str(exc))
    try:
        delivery = receiver.verify(incoming, time.time())
    except Refused as exc:
        log.info("hooks: %s/%s refused a %s delivery: %s", namespace, name, policy.source, exc)
        return _text(exc.status, str(exc))
    sender = f"{namespace}/{name}/{delivery.sender}"
    window = float(getattr(receivers.REGISTRY.module(policy.source), "REPLAY_WINDOW", 86400.0))
    if not store.first_delivery(sender, delivery.id, window):
        return _text(409, "this delivery was received before")
    accepted, ignored = [], []
    for intent in delivery.intents:
        if not policy.about(intent.repository, intent.ref):
            about = f"{intent.repository} {intent.ref}".strip()
            ignored.append(f"{intent.action}: about {about}, not what the policy names")
            continue
        if intent.action not in policy.actions:
            ignored.append(f"{intent.action}: not allowed by the policy")
            continue
        if intent.rollout and intent.rollout not in policy.rollouts:
            ignored.append(f"{intent.action}: rollout {intent.rollout} is not the policy's")
            continue
        for rollout in [intent.rollout] if intent.rollout else list(policy.rollouts):
            ref = RolloutRef(namespace, rollout)
            data = {
                "policy": name,
                "sender": delivery.sender,
                "delivery": delivery.id[:128],
                "action": intent.action,
                "tag": intent.tag,
            }
            event = events.new(
                events.Type.WEBHOOK_VERIFIED,
                ref,
                source=f"{events.SOURCE}/webhooks",
                event_id=events.derived_id(f"{sender}/{delivery.id}", f"{rollout}/{intent.action}"),
                data=data,
                seal=seals.seal(handoff.key, ref.subject, data),
            )
            try:
                sink.send(handoff.broker_url, event, token=handoff.broker_token)
            except sink.SinkError as exc:
                store.forget_delivery(sender, delivery.id)  # let the sender's retry through
                log.warning("hooks: the Broker did not take a delivery: %s", exc)
                return _text(503, "the delivery could not be handed on; try again")
            accepted.append({"rollout": rollout, "action": intent.action})
    log.info("hooks: %s/%s %s delivery: %s", namespace, name, policy.source, accepted or ignored)
    return Response(
        json.dumps({"accepted": accepted, "ignored": ignored}) + "\n",
        status=202,
        mimetype="application/json",
    )


class _NoSecret(Exception):
    pass


def _secret(api: Kube, policy: webhookpolicies.Policy) -> bytes:
    """The policy's secret (never logged)."""
    try:
        found = api.get("v1", "secrets", policy.namespace, policy.secret_name)
    except ApiError:
        found = None
    value = ((found or {}).get("data") or {}).get(policy.secret_key)
    if not value:
        raise _NoSecret(
            f"the Secret {policy.secret_name} (key {policy.secret_key}) is missing or Ferry may "
            f"not read it; the namespace lets it with: kubectl create rolebinding "
            f"ferry-webhooks-secrets -n {policy.namespace} "
            "--clusterrole=ferry-webhooks-secret-reader "
            "--serviceaccount=ferry-system:ferry-webhooks"
        )
    return base64.b64decode(value)


def _carry_out(
    api: Kube, namespace: str, verb: str, rollout: str, uid: str, revision: str, slack_user: str
) -> str:
    """What happened, in words for the person."""
    ns, _, name = rollout.partition("/")
    who = people.load(api, namespace).get(slack_user)
    if who is None:
        log.info("slack: %s is not mapped to a Kubernetes identity; %s refused", slack_user, verb)
        return (
            f"Nothing done: your Slack user {slack_user} is not mapped to a Kubernetes identity "
            f"(ConfigMap {people.CONFIG_MAP} in {namespace})."
        )
    as_person = api.acting_as(who.user, who.groups)
    try:
        obj = as_person.rollout(ns, name)
        if obj is None:
            return f"Nothing done: rollout {rollout} no longer exists."
        status = obj.get("status") or {}
        if obj["metadata"].get("uid") != uid or status.get("canaryRevision") != revision:
            return (
                f"Nothing done: {rollout} is no longer rolling out revision {revision} "
                "(this message is about an earlier rollout)."
            )
        if status.get("phase") not in IN_PROGRESS:
            return f"Nothing done: {rollout} is {status.get('phase')}, not in progress."
        entry = appends.new_command(verb, who.user)
        appends.append(as_person, ns, name, entry)
    except NotFound:
        return f"Nothing done: rollout {rollout} no longer exists."
    except ApiError as exc:
        log.info("slack: %s (%s) may not %s %s: %s", who.user, slack_user, verb, rollout, exc)
        return f"Refused: the API server does not let {who.user} {verb} {rollout} ({exc})."
    except Transient as exc:
        return f"Not done, try again: {exc}"
    log.info("slack: %s (%s) asked %s of %s (%s)", who.user, slack_user, verb, rollout, entry["id"])
    return f"{verb.capitalize()} of {rollout} asked by {who.user}."


def _respond(url: Any, text: str, allowed: str) -> None:
    """An ephemeral message to the person who clicked (best effort)."""
    if not isinstance(url, str) or not url.startswith(allowed):
        return
    body = {"response_type": "ephemeral", "replace_original": False, "text": text}
    try:
        requests.post(url, json=body, timeout=3)
    except requests.RequestException as exc:
        log.info("slack: could not answer the person: %s", type(exc).__name__)


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")
