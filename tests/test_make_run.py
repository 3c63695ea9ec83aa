"""`make run` in embedded mode, as a new user meets it: no DATABASE_URL, no Redis, no broker server.

Starts scripts/run.py (what `make run` runs) with a fresh var/ directory, so it brings up the
embedded PostgreSQL and the filesystem broker; then checks the printed API key works, the docs and
the admin answer, a beat-scheduled task really runs on the worker, and Ctrl-C stops every process.

Then the first hour's friction (issue 21): started with `redis-server` on PATH and nothing said about
Redis, it runs a redis-server of its own on a free port (never the machine's on 6379) and stops it;
its banner comes last, once every process is up, and again on Enter, SIGUSR1 or `--banner`; the
console keeps warnings and errors while every process's routine lines go to var/log/ (scripts/runlog.py).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import pty
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psutil
import pytest

from tests.conftest import fresh_database, service_unavailable

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


# --- what make run's console shows (scripts/runlog.py) -----------------------------------------------


def load_script(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/<name>.py as a module (scripts/ is no package; run.py imports runlog beside it)."""
    monkeypatch.syspath_prepend(str(BASE_DIR / "scripts"))
    spec = importlib.util.spec_from_file_location(f"herald_script_{name}", BASE_DIR / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_console_keeps_warnings_and_errors_only(monkeypatch):
    runlog = load_script("runlog", monkeypatch)
    stderr = runlog.LineFilter(logging.WARNING, stderr=True)
    shown = [
        line
        for line in [
            "2026-03-02T12:00:00.000000Z [info     ] Task broadcasts.tasks.process_clicks[1] received [celery]",
            "2026-03-02T12:00:00.000000Z [warning  ] broadcast.soft_time_limit      [broadcasts.dispatch]",
            "2026-03-02T12:00:00.000000Z [info     ] continued record",
            "    an indented continuation of the info record",
            "2026-03-02T12:00:01.000000Z [error    ] Task broadcasts.tasks.tick[2] raised unexpected [celery]",
            "Traceback (most recent call last):",
            '  File "broadcasts/tasks.py", line 40, in tick',
            "",
            "ProgrammingError: column does not exist",
            "[2026-03-02 12:00:00 +0000] [12] [INFO] Booting worker with pid: 12",
            "[2026-03-02 12:00:00 +0000] [12] [ERROR] Exception in worker process",
            "[2026-03-02 12:00:00,000: INFO/MainProcess] celery@host ready.",
            "[2026-03-02 12:00:00,000: ERROR/MainProcess] consumer: Cannot connect",
            '{"event": "celery@host ready.", "level": "info", "timestamp": "2026-03-02T12:00:00Z"}',
            '{"event": "wallet.capture_failed", "level": "error", "timestamp": "2026-03-02T12:00:00Z"}',
            "/venv/celery/platforms.py:893: SecurityWarning: You're running the worker with superuser privileges",
            "Error: No such option: --bogus",
        ]
        if stderr.shows(line)
    ]
    assert shown == [
        "2026-03-02T12:00:00.000000Z [warning  ] broadcast.soft_time_limit      [broadcasts.dispatch]",
        "2026-03-02T12:00:01.000000Z [error    ] Task broadcasts.tasks.tick[2] raised unexpected [celery]",
        "Traceback (most recent call last):",
        '  File "broadcasts/tasks.py", line 40, in tick',
        "",
        "ProgrammingError: column does not exist",
        "[2026-03-02 12:00:00 +0000] [12] [ERROR] Exception in worker process",
        "[2026-03-02 12:00:00,000: ERROR/MainProcess] consumer: Cannot connect",
        '{"event": "wallet.capture_failed", "level": "error", "timestamp": "2026-03-02T12:00:00Z"}',
        "/venv/celery/platforms.py:893: SecurityWarning: You're running the worker with superuser privileges",
        "Error: No such option: --bogus",
    ]
    # stdout: Celery's banners and gunicorn's access log are for the file; a record there still counts.
    stdout = runlog.LineFilter(logging.WARNING, stderr=False)
    assert not stdout.shows(" -------------- celery@host v5.7.0 (collider)")
    assert not stdout.shows('127.0.0.1 - - [02/Mar/2026:12:00:00 +0000] "GET /healthz HTTP/1.1" 200 308 "-" "-"')
    assert stdout.shows("2026-03-02T12:00:00.000000Z [error    ] boom [x]")
    # HERALD_CONSOLE_LOG_LEVEL=info shows the routine lines too.
    assert runlog.LineFilter(runlog.level_number("info"), stderr=True).shows(
        "2026-03-02T12:00:00.000000Z [info     ] Task x received [celery]"
    )


def test_redis_from_the_environment_is_kept(monkeypatch, tmp_path):
    run = load_script("run", monkeypatch)
    monkeypatch.setattr(run.OwnRedis, "start", lambda self: pytest.fail("started a redis-server"))
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.invalid/x")
    monkeypatch.setenv("REDIS_URL", "redis://redis.invalid:6380/2")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    env, started_pg, redis = run.prepare_environment(tmp_path)
    assert (env["REDIS_URL"], env["CELERY_BROKER_URL"], started_pg, redis) == (
        "redis://redis.invalid:6380/2",
        "redis://redis.invalid:6380/2",
        False,
        None,
    )
    monkeypatch.setenv("REDIS_URL", "none")
    env, _, redis = run.prepare_environment(tmp_path)
    assert (env["REDIS_URL"], env["CELERY_BROKER_URL"], redis) == ("none", "filesystem://localhost//", None)


def test_without_redis_server_the_filesystem_broker_never_the_machines_redis(monkeypatch, tmp_path):
    """Even with something answering on 127.0.0.1:6379 (the machine's Redis, say)."""
    run = load_script("run", monkeypatch)
    monkeypatch.setattr(run.shutil, "which", lambda name: None)
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.invalid/x")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    env, _, redis = run.prepare_environment(tmp_path)
    assert (env["REDIS_URL"], env["CELERY_BROKER_URL"], redis) == ("none", "filesystem://localhost//", None)


def test_banner_command(tmp_path):
    def banner() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(BASE_DIR / "scripts" / "run.py"), "--banner"]
        env = {**os.environ, "HERALD_VAR_DIR": str(tmp_path)}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)

    assert (banner().returncode, "make run is not running here" in banner().stderr) == (1, True)
    (tmp_path / "banner.txt").write_text(f"pid {os.getpid()}\n\n  Herald is running.\n  Press Ctrl-C to stop.\n")
    shown = banner()
    assert (shown.returncode, shown.stdout) == (0, "\n  Herald is running.\n  Press Ctrl-C to stop.\n")
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "banner.txt").write_text(f"pid {gone.pid}\n\n  Herald is running.\n")
    shown = banner()
    assert (shown.returncode, shown.stdout) == (1, "\n  Herald is running.\n")
    assert f"pid {gone.pid} is gone" in shown.stderr


# --- a stack as `make run` starts it with redis-server on PATH -----------------------------------------

START_TIMEOUT = 55
BANNER_END = "  Press Ctrl-C to stop."


@dataclass
class RunningStack:
    proc: subprocess.Popen[str]
    lines: list[str]
    base: str
    var_dir: Path
    tty: int  # the master side of the pseudo-terminal run.py has as its stdin

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, f"run.py exited ({self.proc.returncode}):\n{self.output()[-5000:]}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s:\n{self.output()[-5000:]}"
            time.sleep(0.2)

    def banners(self) -> int:
        return sum(1 for line in self.lines if line.rstrip("\n") == BANNER_END)

    def redis_port(self) -> int:
        return int(re.search(r"Redis:\s+redis://127\.0\.0\.1:(\d+)/0 \(its own", self.output()).group(1))


@pytest.fixture(scope="module")
def own_stack() -> Iterator[RunningStack]:
    """scripts/run.py with nothing said about Redis or the broker, redis-server on PATH, a terminal
    as its stdin (to press Enter in) and a fresh database; stopped by the last test of this file."""
    if shutil.which("redis-server") is None:
        service_unavailable("redis-server", "the binary is not on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="herald-make-run-redis-"))
    tmp.chmod(0o755)
    database_url, drop_database = fresh_database(tmp, kind="run")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
            "HERALD_CONSOLE_LOG_LEVEL",
        )
    }
    env.update({"DATABASE_URL": database_url, "HERALD_PORT": str(port), "HERALD_VAR_DIR": str(tmp / "var")})
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "scripts" / "run.py")],
        cwd=BASE_DIR,
        env=env,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(slave)
    stack = RunningStack(proc, [], f"http://127.0.0.1:{port}", tmp / "var", master)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        stack.wait_for(lambda: stack.banners() >= 1, START_TIMEOUT, "banner")
        yield stack
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        os.close(master)
        drop_database()
        shutil.rmtree(tmp, ignore_errors=True)


ROUTINE = re.compile(r'\[info\s*\]|\[INFO\]|"level": "info"|INFO/|"GET /|Sending due task|succeeded in|received')


@pytest.mark.timeout(120)
def test_banner_is_printed_last_and_again_on_request(own_stack):
    stack = own_stack
    output = stack.output()
    banner = output[output.index("\n  Herald is running.\n") :]
    assert f"  Dashboard:  {stack.base}/\n" in banner
    assert "  Login:      demo / herald-demo\n" in banner
    key = re.search(r"API key:\s+(hk_\S+)", banner).group(1)
    assert "  Again:      press Enter here, or run `" in banner
    # Every process was up when it was printed: the web answers and both workers and beat said so.
    for name in ("worker", "webhooks"):
        assert re.search(r"@\S+ ready\.", (stack.var_dir / "log" / f"{name}.log").read_text()), name
    assert "beat: Starting..." in (stack.var_dir / "log" / "beat.log").read_text()
    # And nothing follows it while the stack does its routine work (beat sends a task every 2 s).
    time.sleep(8)
    assert stack.output().endswith(BANNER_END + "\n"), stack.output()[-3000:]

    os.write(stack.tty, b"\n")  # Enter in its terminal
    stack.wait_for(lambda: stack.banners() == 2, 10, "banner after Enter")
    stack.proc.send_signal(signal.SIGUSR1)
    stack.wait_for(lambda: stack.banners() == 3, 10, "banner after SIGUSR1")
    assert stack.output().endswith(banner), stack.output()[-3000:]
    again = subprocess.run(
        [sys.executable, str(BASE_DIR / "scripts" / "run.py"), "--banner"],
        env={**os.environ, "HERALD_VAR_DIR": str(stack.var_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert again.stdout == banner
    assert key in again.stdout
    assert (stack.var_dir / "banner.txt").stat().st_mode & 0o077 == 0  # it holds the key


@pytest.mark.timeout(120)
def test_routine_logs_go_to_var_log_not_the_console(own_stack):
    stack = own_stack
    logs = stack.var_dir / "log"
    assert get(f"{stack.base}/healthz")[0] in (200, 503)

    def logged(name: str, text: str) -> bool:
        return text in (logs / f"{name}.log").read_text(errors="replace")

    stack.wait_for(lambda: logged("web", '"GET /healthz HTTP/1.1"'), 10, "access log line in web.log")
    stack.wait_for(lambda: logged("worker", "succeeded in"), 20, "task line in worker.log")
    stack.wait_for(lambda: logged("beat", "Sending due task"), 10, "beat line in beat.log")
    assert logged("worker", "[info     ]")
    assert logged("webhooks", "[info     ]")
    assert logged("web", "[INFO] Booting worker")
    assert logged("setup", "--- manage.py migrate")
    assert not logged("setup", "hk_")  # seed_demo's output, the key, is not kept there
    assert logged("redis", "Ready to accept connections")
    routine = [line for line in stack.lines if ROUTINE.search(line)]
    assert routine == [], routine[:20]


@pytest.mark.timeout(120)
def test_redis_is_its_own_and_stopped_with_the_stack(own_stack):
    """The last test of the module: it stops the stack."""
    stack = own_stack
    port = stack.redis_port()
    url = f"redis://127.0.0.1:{port}/0"
    assert port != 6379
    processes = psutil.Process(stack.proc.pid).children(recursive=True)
    [redis] = [p for p in processes if p.name() == "redis-server"]
    assert f"127.0.0.1:{port}" in " ".join(redis.cmdline())
    assert str(stack.var_dir / "redis") == redis.cwd()
    celery = [p for p in processes if "celery" in " ".join(p.cmdline()) and p.parent().pid == stack.proc.pid]
    gunicorn = [p for p in processes if "gunicorn" in " ".join(p.cmdline()) and p.parent().pid == stack.proc.pid]
    assert len(celery) == 3
    assert len(gunicorn) == 1
    for process in celery + gunicorn:
        environ = process.environ()
        assert (environ["REDIS_URL"], environ["CELERY_BROKER_URL"]) == (url, url), process.cmdline()
    health = json.loads(get(f"{stack.base}/healthz")[1])
    assert (health["broker"], health["redis"]) == ("redis", True)

    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=45) == 0, stack.output()[-3000:]
    _, alive = psutil.wait_procs(processes, timeout=15)
    assert [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert not redis.is_running()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert "[herald] redis-server stopped\n" in stack.output()
    assert (stack.var_dir / "redis" / "dump.rdb").exists()
    assert not (stack.var_dir / "banner.txt").exists()
