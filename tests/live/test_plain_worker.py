"""Workers as a new user starts them (issue 19, item 13; SPEC §2).

A plain `celery -A config worker`, with no -Q, consumes every queue Herald uses: on a stack whose
only worker is that one (`HERALD_WORKERS=plain`), a broadcast through the demo's simulator reaches a
webhook receiver in this process, signed. And on a stack that has a worker for the `celery` queue
only (`HERALD_WORKERS=celery`), /healthz answers 200 at first and then, within its deadline, 503
naming the `webhooks` queue as unconsumed and the test event waiting there.

Each stack is scripts/run.py on a database, a redis-server and ports of its own (chaos_tools'
`private_stack`), with production settings and HEALTH_MAX_AGE lowered to 15 s so that a minute's
judgement takes a quarter of one (the heartbeats go every 3 s). Both stacks start at once, so the
second one's quarter minute runs while the first test works.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import standardwebhooks

from tests.live.chaos_tools import private_stack, worker_master
from tests.live.conftest import LiveStack, wait_for

pytestmark = pytest.mark.slow

HEALTH_MAX_AGE = 15
UG = "+256772123456"


class Receiver:
    """A webhook receiver on loopback that records every request and answers 204."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/herald"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self) -> set[str]:
        return {json.loads(body)["type"] for _headers, body in self.requests}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    try:
        yield made
    finally:
        made.server.shutdown()


@contextlib.contextmanager
def stack_with(workers: str, tmp: Path) -> Iterator[LiveStack]:
    """A private stack whose Celery workers are HERALD_WORKERS=`workers` (one process each), its key
    the demo key `make run` prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.prod",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "STATIC_ROOT": str(tmp / "static"),  # nothing here renders a page: no collectstatic
            "WEBHOOKS_ALLOW_PRIVATE": "1",  # the receiver listens on loopback
            "LOG_LEVEL": "INFO",
            "HERALD_WORKERS": workers,
            "HERALD_WORKER_CONCURRENCY": "1",
            "HEALTH_MAX_AGE": str(HEALTH_MAX_AGE),
        }
    )
    (tmp / "static").mkdir()
    template = LiveStack(base_url="", key="", demo_key="", database_url="", env=env, log_path=tmp / "unused.log")
    with private_stack(template, tmp, f"workers_{re.sub(r'[^a-z]', '_', workers)}") as private:
        stack = private.stack
        found = re.search(r"API key:\s+(hk_\S+)", stack.log_path.read_text(errors="replace"))
        assert found, stack.log_tail()
        stack.key = stack.demo_key = found.group(1)
        yield stack


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveStack]]:
    """HERALD_WORKERS -> its running stack, for `plain` and `celery`, started side by side."""
    with contextlib.ExitStack() as started, ThreadPoolExecutor(2) as pool:
        managers = {workers: stack_with(workers, tmp_path_factory.mktemp(workers)) for workers in ("plain", "celery")}
        futures = {workers: pool.submit(manager.__enter__) for workers, manager in managers.items()}
        for manager in managers.values():
            started.push(manager.__exit__)  # stopped whether it started or not
        yield {workers: future.result() for workers, future in futures.items()}


def health(stack: LiveStack) -> tuple[int, dict[str, Any]]:
    with contextlib.suppress(requests.RequestException, ValueError):
        response = stack.get("/healthz", key=False, timeout=5)
        return response.status_code, response.json()
    return 0, {}


def waited(stack: LiveStack, predicate: Any, timeout: float, what: str) -> Any:
    """wait_for, failing with the end of the stack's log (worker and beat say what went wrong)."""
    try:
        return wait_for(predicate, timeout, what, interval=0.25)
    except pytest.fail.Exception as exc:
        pytest.fail(f"{exc}\n--- stack log ---\n{stack.log_tail(60)}")


def test_a_plain_worker_delivers_webhooks_signed(stacks: dict[str, LiveStack], receiver: Receiver) -> None:
    stack = stacks["plain"]
    command = worker_master(stack).cmdline()  # the stack's one worker, as a user types it
    assert command[command.index("worker") - 2 :] == ["-A", "config", "worker", "-l", "info", "--concurrency", "1"]
    made = stack.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["*"]})
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    body = {"name": "Plain worker", "recipients": [UG], "text": "Hi!", "sender": "Herald"}
    created = stack.post("/api/v1/broadcasts/", body)
    assert created.status_code == 201, created.text

    wanted = {"message.sent", "message.delivered", "broadcast.completed"}
    waited(stack, lambda: wanted <= receiver.types(), 60, f"{sorted(wanted)} at the receiver")
    verifier = standardwebhooks.Webhook(secret)
    for headers, raw in receiver.requests:
        verifier.verify(raw, headers)  # raises on a missing or bad signature
        assert json.loads(raw)["data"]["broadcast_id"] == created.json()["id"]

    def both_consumed() -> bool:
        status, report = health(stack)
        consumers = {name: q["consumer"] for name, q in report.get("queues", {}).items()}
        return status == 200 and consumers == {"celery": "ok", "webhooks": "ok"}

    waited(stack, both_consumed, 30, "/healthz to report both queues consumed by the one worker")


def test_healthz_names_a_queue_without_a_consumer(stacks: dict[str, LiveStack], receiver: Receiver) -> None:
    # private_stack has seen /healthz answer 200: a stack just started is not unhealthy.
    stack = stacks["celery"]
    made = stack.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["*"]})
    assert made.status_code == 201, made.text
    tested = stack.post(f"/api/v1/webhooks/{made.json()['id']}/test/")
    assert tested.status_code in (200, 201, 202), tested.text
    last: dict[str, Any] = {}

    def degraded() -> bool:
        status, report = health(stack)
        last.update(report)
        problems = report.get("problems", [])
        return (
            status == 503
            and any(p.startswith("queue webhooks: no consumer") for p in problems)
            and any(p.startswith("oldest undelivered webhook: waiting") for p in problems)
        )

    # Beat's start plus HEALTH_MAX_AGE, with room for a loaded machine.
    waited(stack, degraded, HEALTH_MAX_AGE + 45, "/healthz to name the webhooks queue unconsumed")
    assert last["status"] == "degraded"
    assert last["queues"]["celery"]["consumer"] == "ok", last
    assert last["queues"]["webhooks"] == {"consumer": "missing", "last_heartbeat": None}, last
    assert not any(p.startswith(("queue celery", "beat")) for p in last["problems"]), last
    assert receiver.requests == []
