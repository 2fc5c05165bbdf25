"""Slack: one message per rollout revision, updated in place, with a thread of transitions.

The first notice about a revision posts a Block Kit message to the channel
(``chat.postMessage``); each later one updates that message (``chat.update``: the phase, the
step, the weight, the analysis, the buttons) and adds its details as a reply in its thread
(``chat.postMessage`` with ``thread_ts``; a failure is also sent to the channel, with the
mentions). The Web API is called through ``slack_sdk`` at the service's ``apiURL`` (Argo
Rollouts' field; Slack's own by default), without the SDK's retries: Ferry retries.

Configuration (``service.slack`` of ``ferry-notifications``): ``token`` (a bot token, usually
``$slack-token`` from the Secret), ``apiURL``, ``mentions`` (mentioned on failures, e.g.
``<!subteam^S0123>``) and ``buttons`` (promote and abort buttons, answered by Ferry's Slack
interactivity endpoint). Never logs or returns the token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from shared.notifiers import Capability, Notice, RateLimited, Rejected, Unavailable

CAPABILITIES = frozenset(
    {Capability.UPDATE, Capability.THREADS, Capability.BUTTONS, Capability.MENTIONS}
)

DEFAULT_API = "https://slack.com/api/"
TIMEOUT = 5
"""Seconds one Web API call may take (a notice is at most two calls; a notify function
answers within its 30 s)."""
ACTION_PREFIX = "ferry."
"""``action_id`` of a button: ``ferry.promote``, ``ferry.abort``."""

RETRY_LATER = frozenset(
    {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
)
"""Web API errors that pass: the call is tried again later."""

_quiet = logging.getLogger("ferry.slack_sdk")
_quiet.setLevel(logging.CRITICAL)  # its lines show bodies; ``functions.notify`` reports


def validate(config: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    if not isinstance(config.get("token"), str) or not config["token"]:
        problems.append(f"{where}.token: required (a bot token, e.g. $slack-token)")
    api = config.get("apiURL", DEFAULT_API)
    if not isinstance(api, str) or urlsplit(api).scheme not in ("http", "https"):
        problems.append(f"{where}.apiURL: must be an http(s) URL")
    mentions = config.get("mentions", [])
    if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
        problems.append(f"{where}.mentions: must be a list of strings")
    if not isinstance(config.get("buttons", False), bool):
        problems.append(f"{where}.buttons: must be true or false")
    return problems


def create(config: Mapping[str, Any]) -> Slack:
    return Slack(config)


class Slack:
    def __init__(self, config: Mapping[str, Any]) -> None:
        api = str(config.get("apiURL") or DEFAULT_API)
        self.client = WebClient(
            token=str(config["token"]),
            base_url=api if api.endswith("/") else api + "/",
            timeout=TIMEOUT,
            retry_handlers=[],
            logger=_quiet,
        )
        self.buttons = bool(config.get("buttons", False))

    def send(self, notice: Notice, recipient: str, thread: Mapping[str, str]) -> dict[str, str]:
        text = f"{notice.subject}: {notice.headline}"
        blocks = message(notice, buttons=self.buttons)
        if thread.get("ts"):
            kept = {"channel": thread["channel"], "ts": thread["ts"]}
            try:
                _call(
                    self.client.chat_update,
                    channel=kept["channel"],
                    ts=kept["ts"],
                    text=text,
                    blocks=blocks,
                )
            except _Gone:
                kept = {}
        else:
            kept = {}
        if not kept:  # the revision's first message (or its message was deleted)
            if notice.failed and notice.mentions:  # a first message that is a failure
                text = " ".join(notice.mentions) + " " + text
                blocks = message(notice, buttons=self.buttons, mention=True)
            answer = _call(
                self.client.chat_postMessage, channel=recipient, text=text, blocks=blocks
            )
            return {"channel": str(answer["channel"]), "ts": str(answer["ts"])}
        try:
            _call(
                self.client.chat_postMessage,
                channel=kept["channel"],
                thread_ts=kept["ts"],
                text=reply(notice),
                reply_broadcast=notice.failed,
            )
        except (RateLimited, Unavailable) as exc:
            exc.keep = kept
            raise
        return kept


class _Gone(Exception):
    """The message to update was deleted."""


def _call(method: Any, **arguments: Any) -> Mapping[str, Any]:
    """One Web API call, its failure sorted into the three kinds (no token in any message)."""
    try:
        return method(**arguments).data  # type: ignore[no-any-return]
    except SlackApiError as exc:
        response = exc.response
        error = response.get("error") if isinstance(response.data, dict) else None
        if response.status_code == 429 or error == "ratelimited":
            raise RateLimited(_retry_after(response.headers)) from None
        if error == "message_not_found":
            raise _Gone() from None
        if response.status_code >= 500 or error in RETRY_LATER:
            raise Unavailable(
                f"Slack answered {response.status_code} {error or ''}".strip()
            ) from None
        raise Rejected(f"Slack refused {_name(method)}: {error or response.status_code}") from None
    except (SlackClientError, OSError) as exc:
        raise Unavailable(f"Slack unreachable: {type(exc).__name__}") from None


def _name(method: Any) -> str:
    return str(getattr(method, "__name__", "the call")).replace("_", ".")


def _retry_after(headers: Mapping[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(float(raw), 1.0)
            except (TypeError, ValueError):
                break
    return 1.0


EMOJI = {"Healthy": ":white_check_mark:", "Degraded": ":x:", "Paused": ":double_vertical_bar:"}


def message(notice: Notice, *, buttons: bool, mention: bool = False) -> list[dict[str, Any]]:
    """The revision's message, as Block Kit blocks (``mention``: with the mentions first)."""
    emoji = EMOJI.get(notice.phase, ":arrows_counterclockwise:")
    title = f"{emoji} *{notice.subject}* — revision `{notice.revision}`\n{notice.headline}"
    if mention:
        title = " ".join(notice.mentions) + " " + title
    fields = [
        f"*Phase*\n{notice.phase}",
        f"*Step*\n{notice.step or '—'}",
        f"*Canary weight*\n{notice.weight}%",
        f"*Stable*\n`{notice.stable or '—'}`",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(title, 3000)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": _cut(f, 2000)} for f in fields]},
    ]
    if notice.analysis:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(f"*Analysis*\n{notice.analysis}", 3000)},
            }
        )
    when = datetime.fromtimestamp(notice.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    context = f"Updated {when}"
    if notice.link:
        context += f" · <{notice.link}|Open in the dashboard>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    if buttons and notice.actions:
        blocks.append({"type": "actions", "elements": [_button(notice, a) for a in notice.actions]})
    return blocks


def _button(notice: Notice, action: str) -> dict[str, Any]:
    value = json.dumps(
        {"rollout": notice.subject, "uid": notice.uid, "revision": notice.revision},
        separators=(",", ":"),
    )
    button: dict[str, Any] = {
        "type": "button",
        "action_id": ACTION_PREFIX + action,
        "text": {"type": "plain_text", "text": action.capitalize()},
        "value": value,
        "style": "danger" if action == "abort" else "primary",
    }
    if action == "abort":
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Abort the rollout?"},
            "text": {
                "type": "mrkdwn",
                "text": f"All traffic goes back to the stable revision of {notice.subject}.",
            },
            "confirm": {"type": "plain_text", "text": "Abort"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def reply(notice: Notice) -> str:
    """The thread reply of one transition."""
    text = notice.headline
    if notice.failed and notice.detail and notice.detail not in text:
        text += f"\n>{notice.detail}"
    if notice.user:
        text += f"\n_by {notice.user}_"
    if notice.failed and notice.mentions:
        text = " ".join(notice.mentions) + " " + text
    return _cut(text, 3900)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
