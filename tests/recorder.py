"""A real HTTP endpoint for tests that stand in for someone Ferry calls (a hook, a webhook, a
Teams channel): it records each POST and answers with the status a test sets."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    def __init__(self, retry_after: int = 3) -> None:
        self.status = 200
        """What every POST gets (429 comes with ``Retry-After: retry_after``)."""
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        """(path, headers, body) of each POST, in order."""
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.posts.append((self.path, dict(self.headers.items()), body))
                self.send_response(recorder.status)
                if recorder.status == 429:
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Length", "1")
                self.end_headers()
                self.wfile.write(b"1")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def payloads(self) -> list[Any]:
        return [json.loads(body or b"{}") for _, _, body in list(self.posts)]

    @property
    def headers(self) -> list[dict[str, str]]:
        return [headers for _, headers, _ in list(self.posts)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
