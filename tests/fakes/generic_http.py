"""A fake provider for the `http` backend: a real HTTP server on 127.0.0.1 that speaks its wire format.

It records every request (method, path, headers, parsed JSON body) and answers each message with
`{"id": "prov-<our id>"}` unless told otherwise: `answer_next(...)` queues one answer (status, body,
headers, delay), `answer_always(...)` sets the default, `answer_for(id, ...)` fixes the answer for one message (for
concurrent batches, where arrival order is not known). It also counts the requests in flight at once,
so a test can see that a batch is sent concurrently.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import FakeServer, cut_short, reply


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or the raw text when it is not JSON


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # None: {"id": "prov-<the request's id>"}; bytes/str sent as is; else JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Send the status line, the headers and half the body, then close the connection: the client
    # knows the status but can never read the whole answer (a reset mid-body).
    cut: bool = False


class FakeHttpProvider:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: deque[Answer] = deque()
        self._default = Answer()
        self._by_id: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real provider

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

        self.server = FakeServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1/messages"

    def answer_next(
        self,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0,
        *,
        cut: bool = False,
    ):
        with self._lock:
            self._queue.append(Answer(status, body, headers or {}, delay, cut))

    def answer_always(
        self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0
    ):
        with self._lock:
            self._default = Answer(status, body, headers or {}, delay)

    def answer_for(self, our_id: str, status: int = 200, body: Any = None, headers: dict[str, str] | None = None):
        """How to answer every request for message `our_id` (the body's "id"), first of all rules."""
        with self._lock:
            self._by_id[our_id] = Answer(status, body, headers or {})

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(
                Recorded(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
            )
            our = str(body.get("id")) if isinstance(body, dict) else ""
            answer = self._by_id.get(our) or (self._queue.popleft() if self._queue else self._default)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if answer.delay:
                time.sleep(answer.delay)
            payload = answer.body
            if payload is None:
                our_id = body.get("id") if isinstance(body, dict) else None
                payload = {"id": f"prov-{our_id}", "status": "queued"}
            if answer.cut:
                cut_short(handler, answer.status, payload)
            else:
                reply(handler, answer.status, payload, answer.headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    def start(self) -> FakeHttpProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running_fake() -> Iterator[FakeHttpProvider]:
    """For a pytest fixture: a started fake, stopped afterwards."""
    fake = FakeHttpProvider().start()
    try:
        yield fake
    finally:
        fake.stop()
