"""A local Slack Web API (for tests, benchmarks and trying Ferry without Slack): a real HTTP
server that answers ``chat.postMessage``, ``chat.update`` and ``auth.test`` as Slack documents
them, and records every call and the messages an app posts to an interaction's ``response_url``.

As Slack does: a missing or unknown bot token is HTTP 200 with ``{"ok": false, "error":
"invalid_auth"}``; an unknown channel ``channel_not_found``; ``chat.update`` of a message that
does not exist ``message_not_found``; a rate limit HTTP 429 with ``Retry-After`` (seconds) and
``{"ok": false, "error": "ratelimited"}``; an outage (tests switch it on) HTTP 503 with an HTML
body, as a load balancer in front of Slack answers. Arguments come as JSON
(``application/json``, what ``slack_sdk`` sends) or form-encoded. ``ts`` values are unique and
increase, ``channel`` in answers is the channel's id.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    status: int
    answer: dict[str, Any]
    at: float = field(default_factory=time.time)


class SlackApi:
    def __init__(self, tokens: set[str], channels: dict[str, str]) -> None:
        """``channels``: name -> id (a channel is found by either, with or without ``#``)."""
        self.tokens = set(tokens)
        self.channels = dict(channels)
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []
        """What was posted to a ``response_url`` (``<base>/actions/...``), in order."""
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        """(channel id, ts) -> the message as last posted or updated."""
        self.rate_limit_next = 0
        """How many of the next calls get 429."""
        self.retry_after = 1
        self.down = False
        """Answer every call with 503 (an outage)."""
        self._lock = threading.Lock()
        self._ts = int(time.time()) * 1_000_000
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                api._handle(self, raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what tests read ---------------------------------------------------------------------

    def ok_calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.answer.get("ok") and (method is None or c.method == method)
            ]

    def replies(self, ts: str) -> list[Call]:
        """The successful thread replies under the message ``ts``."""
        return [c for c in self.ok_calls("chat.postMessage") if c.args.get("thread_ts") == ts]

    def parents(self) -> list[Call]:
        """The successful top-level messages."""
        return [c for c in self.ok_calls("chat.postMessage") if not c.args.get("thread_ts")]

    # -- the API ---------------------------------------------------------------------------

    @property
    def response_url(self) -> str:
        """A ``response_url`` as Slack puts in an interaction payload."""
        return self.url.replace("/api/", "/actions/T0FERRY/1234/abcdef")

    def _handle(self, request: BaseHTTPRequestHandler, raw: bytes) -> None:
        if request.path.startswith("/actions/"):
            with self._lock:
                self.responses.append(json.loads(raw or b"{}"))
            body = b'{"ok": true}'
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
            return
        method = request.path.rsplit("/", 1)[-1]
        args = self._args(request.headers.get("Content-Type", ""), raw)
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else str(args.get("token", ""))
        with self._lock:
            status, answer, headers = self._answer(method, args, token)
            self.calls.append(Call(method, args, token, status, answer))
        if status == 503:
            body = b"<html><body><h1>503 Service Unavailable</h1></body></html>"
            content_type = "text/html"
        else:
            body = json.dumps(answer).encode()
            content_type = "application/json; charset=utf-8"
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def _args(content_type: str, raw: bytes) -> dict[str, Any]:
        if content_type.startswith("application/json"):
            found = json.loads(raw or b"{}")
            return found if isinstance(found, dict) else {}
        return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}

    def _answer(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.down:
            return 503, {}, {}
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return (
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(self.retry_after)},
            )
        if token not in self.tokens:
            return 200, {"ok": False, "error": "invalid_auth" if token else "not_authed"}, {}
        if method == "auth.test":
            return 200, {"ok": True, "team": "Ferry", "user": "ferry", "bot_id": "B0FERRY"}, {}
        if method not in ("chat.postMessage", "chat.update"):
            return 200, {"ok": False, "error": "unknown_method"}, {}
        channel = self._channel(str(args.get("channel", "")))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if not args.get("text") and not args.get("blocks"):
            return 200, {"ok": False, "error": "no_text"}, {}
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if blocks is not None and (
            not isinstance(blocks, list) or len(blocks) > 50 or not all("type" in b for b in blocks)
        ):
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        if method == "chat.update":
            ts = str(args.get("ts", ""))
            if (channel, ts) not in self.messages:
                return 200, {"ok": False, "error": "message_not_found"}, {}
            self.messages[(channel, ts)] = {"text": args.get("text"), "blocks": blocks}
            return 200, {"ok": True, "channel": channel, "ts": ts, "text": args.get("text")}, {}
        thread = args.get("thread_ts")
        if thread and (channel, str(thread)) not in self.messages:
            return 200, {"ok": False, "error": "thread_not_found"}, {}
        self._ts += 100
        ts = f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"
        message = {"text": args.get("text"), "blocks": blocks, "ts": ts}
        if not thread:
            self.messages[(channel, ts)] = message
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}, {}

    def _channel(self, name: str) -> str | None:
        name = name.lstrip("#")
        if name in self.channels.values():
            return name
        return self.channels.get(name)
