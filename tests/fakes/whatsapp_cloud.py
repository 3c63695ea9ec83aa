"""A local WhatsApp Cloud API (Graph API) that speaks its wire format over real HTTP.

`POST /{version}/{phone_number_id}/messages` with `Authorization: Bearer <token>` answers like Meta:
`200 {"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid.…"}]}`, or a
Graph error `{"error": {"message", "type", "code", "fbtrace_id"}}` (190 for a bad token, 100 for an
unknown path). Tests queue the next answers (`fake.answer(...)`) and read every request it got
(`fake.requests`); `fake.max_in_flight` tells how many requests it served at once.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import FakeServer

PATH = re.compile(r"/(v\d+\.\d+)/(\d+)/messages")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, else the raw text


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # None: Meta's success body with a fresh wamid
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeWhatsApp:
    def __init__(self, *, access_token: str, phone_number_id: str) -> None:
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.requests: list[Recorded] = []
        self.answers: deque[Answer] = deque()
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = FakeServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0):
        """Queue the answer to the next request (answers are used in order, then success)."""
        self.answers.append(Answer(status, body, headers or {}, delay))

    def error(self, status: int, code: int, message: str = "error", headers: dict[str, str] | None = None) -> None:
        """Queue a Graph API error answer with that HTTP status and `error.code`."""
        body = {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}}
        self.answer(status, body, headers)

    def _next(self, recorded: Recorded) -> Answer:
        with self._lock:
            self.requests.append(recorded)
            queued = self.answers.popleft() if self.answers else None
            wamid = f"wamid.HBgM{next(self._ids):06d}"
        if recorded.headers.get("authorization") != f"Bearer {self.access_token}":
            return Answer(
                401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
            )
        match = PATH.fullmatch(recorded.path)
        if recorded.method != "POST" or not match or match.group(2) != self.phone_number_id:
            return Answer(
                400, {"error": {"message": "Unsupported request.", "type": "GraphMethodException", "code": 100}}
            )
        to = recorded.body.get("to", "") if isinstance(recorded.body, dict) else ""
        success = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }
        if queued is None:
            return Answer(200, success)
        if queued.body is None:
            queued.body = success
        return queued

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Graph serves it

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    try:
                        body: Any = json.loads(raw)
                    except ValueError:
                        body = raw.decode(errors="replace")
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    answer = fake._next(Recorded(self.command, self.path, headers, body))
                    if answer.delay:
                        time.sleep(answer.delay)
                    payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            do_POST = _serve  # noqa: N815 - http.server's naming
            do_GET = _serve  # noqa: N815

        return Handler

    def start(self) -> FakeWhatsApp:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running(*, access_token: str, phone_number_id: str) -> Iterator[FakeWhatsApp]:
    """For a pytest fixture: `yield from running(...)`."""
    fake = FakeWhatsApp(access_token=access_token, phone_number_id=phone_number_id).start()
    try:
        yield fake
    finally:
        fake.stop()
