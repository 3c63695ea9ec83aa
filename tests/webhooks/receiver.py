"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 in a thread.

It keeps every request's raw body and headers (to verify signatures exactly as an integrator would)
and answers as scripted: `answer_next(status, delay=, headers=)` queues one answer, `answer_always`
sets the default (200).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import FakeServer, reply


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: Any = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._queue: deque[Answer] = deque()
        self._default = Answer()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                receiver._handle(self)

        self.server = FakeServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str = "/hook") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def answer_next(self, status: int = 200, body: Any = "ok", headers: dict[str, str] | None = None, delay: float = 0):
        with self._lock:
            self._queue.append(Answer(status, body, headers or {}, delay))

    def answer_always(self, status: int = 200, body: Any = "ok", delay: float = 0) -> None:
        with self._lock:
            self._default = Answer(status, body, {}, delay)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(Received(handler.path, {k.lower(): v for k, v in handler.headers.items()}, raw))
            answer = self._queue.popleft() if self._queue else self._default
        if answer.delay:
            time.sleep(answer.delay)
        reply(handler, answer.status, answer.body, answer.headers)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
