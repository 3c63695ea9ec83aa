"""`make run` in embedded mode, as a new user meets it: no DATABASE_URL, no Redis, no broker server.

Starts scripts/run.py (what `make run` runs) with a fresh var/ directory, so it brings up the
embedded PostgreSQL and the filesystem broker; then checks the printed API key works, the docs and
the admin answer, a beat-scheduled task really runs on the worker, and Ctrl-C stops every process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - a local URL we built
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(url: str, body: object, headers: dict[str, str]) -> tuple[int, bytes]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={**headers, "Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a local URL we built
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 302 itself is the answer (its target is not on this machine)


def status_of(url: str) -> int:
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory outside pytest's own temp root: as root, the embedded server runs as another user
    that must traverse the path, and every pytest session started meanwhile (another checkout's,
    say) resets /tmp/pytest-of-<user> to 0700 under it."""
    path = Path(tempfile.mkdtemp(prefix="herald-make-run-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_make_run_in_embedded_mode(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update({"REDIS_URL": "none", "HERALD_PORT": str(port), "HERALD_VAR_DIR": str(tmp_path / "var")})
    proc = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "scripts" / "run.py")],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert ready.wait(timeout=240), "".join(lines[-50:])
        output = "".join(lines)
        assert f"Dashboard:  {base}/" in output
        assert "Login:      demo / herald-demo" in output
        key = re.search(r"API key:\s+(hk_\S+)", output).group(1)
        # Kept under var/, so the next start prints the same key.
        assert (tmp_path / "var" / "demo-api-key").read_text() == key + "\n"

        deadline = time.monotonic() + 30
        while get(f"{base}/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        status, body = get(f"{base}/api/v1/me/", {"Authorization": f"Bearer {key}"})
        assert status == 200, body
        assert json.loads(body)["client"]["name"] == "Demo Client"
        # Short links point at the port served here (PUBLIC_BASE_URL follows HERALD_PORT).
        body = {"name": "Links", "recipients": ["+256772123456"], "text": "See https://shop.example.com/sale",
                "sender": "Herald", "track_links": True}  # fmt: skip
        status, created = post(f"{base}/api/v1/broadcasts/", body, {"Authorization": f"Bearer {key}"})
        assert status == 201, created
        status, messages = get(
            f"{base}/api/v1/messages/?broadcast={json.loads(created)['id']}", {"Authorization": f"Bearer {key}"}
        )
        [message] = json.loads(messages)["results"]
        link = re.search(r"(\S+/r/[0-9A-Za-z]{7})", message["text"]).group(1)
        assert link.startswith(f"{base}/r/"), message["text"]
        assert status_of(link) == 302
        assert get(f"{base}/api/docs/")[0] == 200
        assert get(f"{base}/admin/login/")[0] == 200
        health = json.loads(get(f"{base}/healthz")[1])
        assert (health["broker"], health["redis"]) == ("filesystem", False)

        # Beat (DatabaseScheduler) sends a heartbeat to each queue and a worker of that queue runs
        # it, on the filesystem broker as on Redis: /healthz then sees every queue consumed.
        deadline = time.monotonic() + 90
        while {q["consumer"] for q in json.loads(get(f"{base}/healthz")[1]).get("queues", {}).values()} != {"ok"}:
            assert time.monotonic() < deadline, "no heartbeat ran on every queue:\n" + "".join(lines[-40:])
            time.sleep(1)
        status, body = get(f"{base}/healthz")
        assert status == 200, body
        assert json.loads(body)["beat_last_seen"] is not None
    finally:
        children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, "".join(lines[-30:])
    # Every child has exited (reaped or a zombie of a parent that is gone), within a deadline.
    _, alive = psutil.wait_procs(children, timeout=15)
    survivors = [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], survivors
    assert not (tmp_path / "var" / "pgdata" / "postmaster.pid").exists()
