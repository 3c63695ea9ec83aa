"""Tools for the chaos tests: a provider that counts deliveries, and hands on the stack's processes.

`CountingProvider` is a real HTTP server on 127.0.0.1 speaking the `http` backend's wire format (and
Twilio's, for a `twilio` connector whose `base_url` points at it: see `twilio_message_id`). It
decides every answer when the request arrives (status and delay, from a policy of the message id and
of how many times that id was seen) and records it: a 2xx is a delivery, whether or not the answer
ever reaches the worker (a worker killed mid-request still delivered the message). It also knows
which client ports have a request in flight, which is how a test finds the worker process that is
sending right now.

The process helpers only look at this test process's own descendants (the stacks it started), and
tell stacks apart by their HERALD_PORT, never touching anything else on the machine. `private_stack`
starts a whole stack of its own (database, redis-server, ports) for a test that breaks its stack on
purpose, so that nothing it does can reach the session's shared one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psutil
import requests

from tests.live.conftest import BASE_DIR, PYTHON, LiveStack, _database, _redis, free_port, wait_for

# (message id, nth request for that id, 1-based) -> (HTTP status, seconds to wait before answering)
Policy = Callable[[int, int], tuple[int, float]]

# Twilio's Messages resource: `{base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
TWILIO_MESSAGES = re.compile(r"/2010-04-01/Accounts/(AC[0-9A-Za-z]+)/Messages\.json$")


def fraction(seed: int, *parts: object) -> float:
    """A fixed pseudo-random number in [0, 1) for these parts (the same on every run)."""
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def accept(delay: float = 0.0) -> Policy:
    return lambda _id, _nth: (200, delay)


def flaky(rate: float, *, seed: int, status: int = 503, delay: float = 0.0) -> Policy:
    """`status` for about `rate` of the requests, chosen per (message, attempt): a retry can succeed."""
    return lambda mid, nth: (status, delay) if fraction(seed, mid, nth) < rate else (200, delay)


@dataclass(frozen=True)
class Hit:
    path: str  # which connector (each has a URL of its own)
    message_id: int
    to: str
    key: str  # the Idempotency-Key header ("" when none: Twilio's format has none)
    nth: int
    status: int
    client_port: int
    at: float

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # two workers keep up to 64 connections open at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a killed worker resets its connections: expected here, not worth a traceback


class CountingProvider:
    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.policy: Policy = accept()
        # Misbehaviours on top of the policy, per (message id, nth request), both off by default:
        # `cut`: an accepted answer's status line and headers go out, then half its body, then the
        # connection closes (the provider has the message; the client can never read its id);
        # `report_first`: before answering, POST this delivery report status ("failed", say) for
        # the message to the request's status_url, with the request's own bearer token, and wait
        # for Herald's answer: a report that arrives before Herald has written the send's answer.
        self.cut: Callable[[int, int], bool] = lambda _id, _nth: False
        self.report_first: Callable[[int, int], str | None] = lambda _id, _nth: None
        self.reports_sent: list[tuple[int, str, int]] = []  # (message id, status, Herald's answer)
        # Twilio's wire format names no message id (a form post of To, From, Body, StatusCallback):
        # a test sending through a `twilio` connector says which message a (path, To) is, or None.
        # Only the `http` format has `report_first`.
        self.twilio_message_id: Callable[[str, str], int | None] = lambda _path, _to: None
        # When set, a policy's delay is the longest an answer is held: it goes as soon as the test
        # sets the event (a race staged on the test's own signal, not on how fast the stack is).
        self.hold: threading.Event | None = None
        self._seen: Counter[tuple[str, int]] = Counter()
        self._in_flight: Counter[int] = Counter()  # client port -> requests being answered
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                provider._handle(self)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> CountingProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        twilio = TWILIO_MESSAGES.search(handler.path)
        body: Any
        try:
            if twilio:
                if not self._twilio_authorized(handler, twilio.group(1)):
                    self._answer(handler, 401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                body = {name: values[0] for name, values in parse_qs(raw.decode(), strict_parsing=True).items()}
                to = str(body["To"])
                found = self.twilio_message_id(handler.path, to)
                if found is None:
                    raise KeyError(to)
                message_id = found
            else:
                body = json.loads(raw)
                message_id = int(body["id"])
                to = str(body["to"])
        except (ValueError, KeyError, TypeError):
            self._answer(handler, 400, {"error": "not a message"})
            return
        port = int(handler.client_address[1])
        with self._lock:
            self._seen[(handler.path, message_id)] += 1
            nth = self._seen[(handler.path, message_id)]
            status, delay = self.policy(message_id, nth)
            if twilio and status == 200:
                status = 201  # Twilio answers a message created with 201 Created
            key = handler.headers.get("Idempotency-Key", "")
            self.hits.append(Hit(handler.path, message_id, to, key, nth, status, port, time.monotonic()))
            self._in_flight[port] += 1
        try:
            ok = 200 <= status < 300
            report = self.report_first(message_id, nth) if ok and not twilio else None
            if report:
                self._report(body, handler.headers.get("Authorization", ""), message_id, report)
            hold = self.hold
            if hold is not None:
                hold.wait(delay)
            elif delay:
                time.sleep(delay)
            if twilio:
                accepted: Any = {"sid": f"SM{message_id:032x}", "status": "queued"}
                refused: Any = {"code": 20000 + status, "message": f"answered {status}", "status": status}
            else:
                accepted, refused = {"id": f"prov-{message_id}"}, {"error": f"answered {status}"}
            if ok and self.cut(message_id, nth):
                self._cut(handler, accepted)
                return
            self._answer(handler, status, accepted if ok else refused)
        finally:
            with self._lock:
                self._in_flight[port] -= 1
                if self._in_flight[port] <= 0:
                    del self._in_flight[port]

    @staticmethod
    def _twilio_authorized(handler: BaseHTTPRequestHandler, account_sid: str) -> bool:
        """HTTP basic auth as the account in the path (any auth token)."""
        scheme, _, credentials = handler.headers.get("Authorization", "").partition(" ")
        with contextlib.suppress(ValueError):
            user = base64.b64decode(credentials, validate=True).decode().partition(":")[0]
            return scheme.lower() == "basic" and user == account_sid
        return False

    def _report(self, body: dict[str, Any], authorization: str, message_id: int, status: str) -> None:
        answer = requests.post(
            str(body["status_url"]),
            json={"id": f"prov-{message_id}", "status": status, "error_code": "early_failure"},
            headers={"Authorization": authorization},
            timeout=30,
        )
        with self._lock:
            self.reports_sent.append((message_id, status, answer.status_code))

    @staticmethod
    def _cut(handler: BaseHTTPRequestHandler, body: Any) -> None:
        payload = json.dumps(body).encode()
        with contextlib.suppress(OSError):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the worker died or gave up
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)

    # --- what it saw ---------------------------------------------------------------------------

    def hits_for(self, paths: Iterable[str], message_ids: Iterable[int]) -> list[Hit]:
        """The requests for these messages through these connectors (ids are per stack, paths per connector)."""
        wanted, where = set(message_ids), set(paths)
        with self._lock:
            return [h for h in self.hits if h.message_id in wanted and h.path in where]

    def in_flight_ports(self) -> set[int]:
        with self._lock:
            return set(self._in_flight)

    def last_hit_at(self) -> float:
        with self._lock:
            return self.hits[-1].at if self.hits else 0.0


# --- the stack's processes ---------------------------------------------------------------------


def _descendants() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def _is_celery_worker(process: psutil.Process | None) -> bool:
    if process is None:
        return False
    with contextlib.suppress(psutil.Error):
        line = process.cmdline()
        return any(part.endswith("celery") for part in line) and "worker" in line
    return False


def _of_stack(process: psutil.Process, stack: LiveStack) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.environ().get("HERALD_PORT") == stack.env["HERALD_PORT"]
    return False


def _queues(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error, ValueError, IndexError):
        line = process.cmdline()
        return line[line.index("-Q") + 1]
    return ""


def worker_master(stack: LiveStack) -> psutil.Process:
    """The stack's main worker (queue `celery`: dispatch); the webhooks worker is left alone."""
    masters = [
        p
        for p in _descendants()
        if _is_celery_worker(p)
        and not _is_celery_worker(p.parent())
        and _of_stack(p, stack)
        and _queues(p) != "webhooks"
    ]
    assert len(masters) == 1, f"expected one Celery worker of the stack on port {stack.env['HERALD_PORT']}: {masters}"
    return masters[0]


def worker_children(stack: LiveStack) -> list[psutil.Process]:
    """The prefork pool's processes (the ones that run tasks)."""
    alive = []
    for process in worker_master(stack).children():
        with contextlib.suppress(psutil.Error):
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def workers_talking_from(stack: LiveStack, ports: set[int]) -> list[psutil.Process]:
    """The pool processes owning a TCP connection from one of these local ports."""
    found = []
    for process in worker_children(stack):
        with contextlib.suppress(psutil.Error):
            if any(c.laddr and c.laddr.port in ports for c in process.net_connections(kind="tcp")):
                found.append(process)
    return found


def sigkill(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, f"still alive after SIGKILL: {alive}"


# --- a private stack, for a test that restarts its broker ----------------------------------------


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


@dataclass
class PrivateStack:
    stack: LiveStack
    run: subprocess.Popen[bytes]  # scripts/run.py
    redis: subprocess.Popen[bytes]
    redis_dir: Path

    def exited(self) -> str | None:
        """Why the stack is gone (run.py stops everything when one of its processes exits), or None."""
        if self.run.poll() is None:
            return None
        return f"scripts/run.py exited with {self.run.returncode}:\n{self.stack.log_tail(40)}"

    def restart_redis(self, down_seconds: float) -> None:
        """SIGKILL its redis-server, leave it down a while, start a fresh (empty) one on the same port."""
        port = urlparse(self.stack.env["REDIS_URL"]).port
        assert port
        self.redis.kill()
        self.redis.wait(timeout=10)
        time.sleep(down_seconds)
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.redis_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: _answers(port), 20, "the restarted redis-server to answer PING", interval=0.1)


@contextlib.contextmanager
def private_stack(
    shared: LiveStack, tmp: Path, tag: str, extra_env: dict[str, str] | None = None
) -> Iterator[PrivateStack]:
    """scripts/run.py on a database, a redis-server and ports of its own, with the shared stack's
    settings (and `extra_env` on top: a lowered time limit, say)."""
    previous = os.environ.get("HERALD_TEST_TAG")
    os.environ["HERALD_TEST_TAG"] = f"{previous or 'main'}_{tag}"  # names its database
    try:
        database_url, drop_database = _database(tmp)
    finally:
        if previous is None:
            os.environ.pop("HERALD_TEST_TAG")
        else:
            os.environ["HERALD_TEST_TAG"] = previous
    redis_url, redis_proc = _redis(tmp)
    port = free_port()
    env = {
        **shared.env,  # the same settings (and already collected static files)
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "HERALD_PORT": str(port),
        "HERALD_VAR_DIR": str(tmp / "var"),
        "MEDIA_ROOT": str(tmp / "media"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    }
    log_path = tmp / "stack.log"
    stack = LiveStack(
        base_url=f"http://127.0.0.1:{port}", key="", demo_key="", database_url=database_url, env=env, log_path=log_path
    )
    with log_path.open("wb") as log_file:
        run = subprocess.Popen(
            [PYTHON, str(BASE_DIR / "scripts" / "run.py")], cwd=BASE_DIR, env=env, stdout=log_file, stderr=log_file
        )
    private = PrivateStack(stack, run, redis_proc, tmp)
    try:

        def started() -> bool:
            gone = private.exited()
            assert gone is None, gone
            return "Press Ctrl-C" in log_path.read_text(errors="replace")

        wait_for(started, 240, "the private stack's scripts/run.py to start")

        def healthy() -> bool:
            with contextlib.suppress(requests.RequestException):
                return stack.get("/healthz", key=False, timeout=5).status_code == 200
            return False

        wait_for(healthy, 60, "the private stack's /healthz to answer 200")
        yield private
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
        private.redis.terminate()
        private.redis.wait(timeout=10)
        with contextlib.suppress(Exception):
            drop_database()
