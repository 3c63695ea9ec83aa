"""The live layer: Herald as its users meet it, outside any test transaction.

One stack per test session, started from the project's own command (`scripts/run.py`, what `make
run` runs): migrate, `seed_demo`, then gunicorn + a Celery worker + Celery beat, with the production
settings (`config.settings.prod`, `DEBUG` off, static files collected). It gets a database of its
own (a fresh one on DATABASE_URL's server, or an embedded PostgreSQL when there is none) and a Redis
server of its own on a free port (broker, rate limits and cache), so nothing here touches the
machine's Redis or another checkout's data. Tests talk to it over HTTP only, and read or nudge its
database with plain SQL (moving a scheduled broadcast's time, say), never through Django's ORM.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import fresh_database, service_unavailable

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
ALL_SCOPES = "send_sms,send_whatsapp,send_telegram,send_rcs,contacts,templates,webhooks,read"
START_TIMEOUT = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll until `predicate()` is truthy; returns its value, or fails saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Tenant:
    client_id: str
    key: str


@dataclass
class LiveStack:
    base_url: str
    key: str  # the demo client's key holding every scope (rate limits raised for tests)
    demo_key: str  # the key `make run` printed
    database_url: str
    env: dict[str, str]
    log_path: Path
    http: requests.Session = field(default_factory=requests.Session)

    # --- HTTP ---------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def request(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not False:
            headers.setdefault("Authorization", f"Bearer {key or self.key}")
        kwargs.setdefault("timeout", 60)
        return self.http.request(method, self.url(path), headers=headers, allow_redirects=False, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    # --- the database and the project's commands -----------------------------------------------

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, str(BASE_DIR / "manage.py"), *args],
            env=self.env,
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result.stdout

    def new_tenant(self, name: str, balance: str = "100") -> Tenant:
        """A client of its own (USD wallet, the sender `Herald`, generous rate limits, every scope)."""
        out = self.manage(
            "createclient", name, "--currency", "USD", "--balance", balance, "--country", "UG",
            "--timezone", "Africa/Kampala", "--send-rate-limit", "100000/m",
        )  # fmt: skip
        client_id = out.strip().splitlines()[-1]
        self.sql("UPDATE accounts_client SET api_rate_limit = '100000/m' WHERE id = %s", [client_id])
        self.manage("createsender", client_id, "Herald")
        key = self.manage("createapikey", client_id, "--scopes", ALL_SCOPES, "--name", "live tests")
        return Tenant(client_id=client_id, key=key.strip().splitlines()[-1])

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
        except OSError:
            return ""


def import_list(live: LiveStack, tenant: Tenant, count: int, name: str, prefix: str = "+2567758") -> str:
    """A list of `count` Ugandan contacts (no quiet hours: `prefix` + 5 digits) through the contacts
    import API, as an integrator would make one; its id once the worker has imported it."""
    rows = ["phone,first_name"] + [f"{prefix}{i:05d},P{i}" for i in range(count)]
    response = live.request(
        "POST",
        "/api/v1/contact-imports/",
        key=tenant.key,
        files={"file": ("large.csv", "\n".join(rows).encode(), "text/csv")},
        data={"list_name": name},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    wait_for(
        lambda: live.get(f"/api/v1/contact-imports/{job_id}/", key=tenant.key).json()["status"] == "completed",
        120,
        "the import to finish",
    )
    [made] = live.get(f"/api/v1/contact-lists/?name={name}", key=tenant.key).json()["results"]
    assert made["contact_count"] == count, made
    return str(made["id"])


def _database(tmp: Path) -> tuple[str, Any]:
    """(database URL, cleanup) — a fresh database on DATABASE_URL's server, else an embedded one."""
    return fresh_database(tmp, kind="live")


def _redis(tmp: Path) -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    if binary is None:
        service_unavailable("redis-server", "the binary is not on PATH")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        return False

    wait_for(answers, 20, "the live layer's own redis-server", interval=0.1)
    return f"redis://127.0.0.1:{port}/0", proc


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    tmp = tmp_path_factory.mktemp("live")
    redis_url, redis_proc = _redis(tmp)
    database_url, drop_database = _database(tmp)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.prod",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "HERALD_PORT": str(port),
            "HERALD_VAR_DIR": str(tmp / "var"),
            "MEDIA_ROOT": str(tmp / "media"),
            "STATIC_ROOT": str(tmp / "static"),  # collectstatic here, not under the checkout's var/
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            # The webhook receivers of these tests listen on loopback (the rule itself has its tests).
            "WEBHOOKS_ALLOW_PRIVATE": "1",
            "LOG_LEVEL": "INFO",
            # A provider request's deadline (SPEC §10): short, so a provider that answers too late
            # shows in seconds (the leases stay a minute: four deadlines, never under 60 s).
            "PROVIDER_TIMEOUT": "3",
            # Batches of 100: a broadcast of a few hundred claims full batches, so its dispatcher
            # starts a helper lane (two lanes, the production default) as a 100,000-member list does
            # with 500, and every dispatch chaos test here runs with two dispatchers per broadcast.
            "BROADCAST_BATCH_SIZE": "100",
        }
    )
    log_path = tmp / "stack.log"
    stack = LiveStack(
        base_url=f"http://127.0.0.1:{port}", key="", demo_key="", database_url=database_url, env=env, log_path=log_path
    )
    proc: subprocess.Popen[bytes] | None = None
    try:
        # Production settings serve collected, hashed static files (the Docker image does the same).
        stack.manage("collectstatic", "--noinput")
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [PYTHON, str(BASE_DIR / "scripts" / "run.py")], cwd=BASE_DIR, env=env, stdout=log_file, stderr=log_file
            )

        def started() -> bool:
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"scripts/run.py exited with {proc.returncode}:\n{stack.log_tail()}")
            return "Press Ctrl-C" in log_path.read_text(errors="replace")

        wait_for(started, START_TIMEOUT, "scripts/run.py to start the stack")

        def healthy() -> bool:
            with contextlib.suppress(requests.RequestException):
                return stack.get("/healthz", key=False, timeout=5).status_code == 200
            return False

        wait_for(healthy, 60, "/healthz to answer 200")
        output = log_path.read_text(errors="replace")
        stack.demo_key = next(
            line.split()[-1]
            for line in output.splitlines()
            if "API key:" in line and line.split()[-1].startswith("hk_")
        )
        me = stack.get("/api/v1/me/", key=stack.demo_key).json()
        client_id = me["client"]["id"]
        stack.sql(
            "UPDATE accounts_client SET send_rate_limit = '100000/m', api_rate_limit = '100000/m' WHERE id = %s",
            [client_id],
        )
        key = stack.manage("createapikey", client_id, "--scopes", ALL_SCOPES, "--name", "live tests")
        stack.key = key.strip().splitlines()[-1]
        yield stack
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        with contextlib.suppress(psycopg.Error):
            drop_database()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing live test shows the end of the stack's log (gunicorn, worker and beat)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    stack = getattr(item, "funcargs", {}).get("live")
    if report.failed and isinstance(stack, LiveStack):
        report.sections.append(("live stack log (last lines)", stack.log_tail(60)))


@pytest.fixture(scope="module")
def provider() -> Iterator[Any]:
    """A CountingProvider (chaos_tools, which builds on this module), one per test module."""
    from tests.live.chaos_tools import CountingProvider

    fake = CountingProvider().start()
    try:
        yield fake
    finally:
        fake.stop()
