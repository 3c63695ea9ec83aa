"""`make run`: embedded PostgreSQL (unless DATABASE_URL), migrate, seed_demo, then web + worker + beat.

Runs everything in the foreground and prints the dashboard URL, a login and an API key (the same
key on every start: seed_demo keeps it in var/demo-api-key, and says so when it has to issue a new
one). Ctrl-C (or SIGTERM) stops every child process and the embedded PostgreSQL it started.

Environment: DATABASE_URL, CELERY_BROKER_URL and REDIS_URL as in README; HERALD_PORT (default 8000);
HERALD_HOST (default 127.0.0.1); HERALD_VAR_DIR (default ./var) for the embedded data; HERALD_WORKERS
(default `dedicated`: a worker per queue, `-Q celery` and `-Q webhooks`; `plain`: one
`celery -A config worker` without -Q, which consumes every queue; or a comma-separated list of queues,
each given its dedicated worker and the others none, e.g. `celery` to see /healthz name the
`webhooks` queue unconsumed); HERALD_WORKER_CONCURRENCY (the plain worker's processes, default 2).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from config.embedded import embedded_database_url, stop_embedded_postgres  # noqa: E402
from config.env import redis_reachable  # noqa: E402

PYTHON = sys.executable
BIN = Path(PYTHON).parent
# A child that exits is started again, unless it exited this many times within the window.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def log(message: str) -> None:
    print(f"[herald] {message}", flush=True)


def prepare_environment(var_dir: Path) -> tuple[dict[str, str], bool]:
    """The environment every child gets; True when this script started the embedded PostgreSQL."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    env["HERALD_VAR_DIR"] = str(var_dir)
    started_pg = False
    if not env.get("DATABASE_URL"):
        log(f"starting embedded PostgreSQL (data in {var_dir / 'pgdata'})")
        env["DATABASE_URL"] = embedded_database_url(var_dir)
        started_pg = True
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0" if redis_reachable("redis://127.0.0.1:6379/0") else "none"
    if not env.get("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = env["REDIS_URL"] if env["REDIS_URL"] != "none" else "filesystem://"
    log(f"broker: {env['CELERY_BROKER_URL'].split('://')[0]}; redis: {'yes' if env['REDIS_URL'] != 'none' else 'no'}")
    return env, started_pg


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, str(BASE_DIR / "manage.py"), *args], env=env, cwd=BASE_DIR, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed")
    return result.stdout


def start(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log(f"starting {name}")
    # Own process group: Ctrl-C in the terminal reaches us, and we stop each child in order.
    return subprocess.Popen(command, env=env, cwd=BASE_DIR, start_new_session=True)


def stop_all(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, proc in children:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for name, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in time; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def worker_commands(mode: str) -> dict[str, tuple[str, list[str]]]:
    """The Celery workers to start: see HERALD_WORKERS in this module's docstring."""
    celery = [str(BIN / "celery"), "-A", "config", "worker", "-l", "info"]
    if mode == "plain":
        concurrency = os.environ.get("HERALD_WORKER_CONCURRENCY", "2")
        return {"worker": ("Celery worker (every queue)", [*celery, "--concurrency", concurrency])}
    dedicated = {
        "celery": ("worker", "Celery worker", [*celery, "--concurrency", "2", "-Q", "celery"]),
        # Webhook deliveries have their own queue and worker: a slow receiver never holds up dispatch.
        "webhooks": (
            "webhooks",
            "Celery worker (webhooks)",
            [*celery, "--concurrency", "1", "-Q", "webhooks", "-n", "webhooks@%h"],
        ),
    }
    queues = list(dedicated) if mode == "dedicated" else [q.strip() for q in mode.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(dedicated))
    if unknown or not queues:
        raise SystemExit(f"HERALD_WORKERS={mode!r}: expected dedicated, plain or queues among {sorted(dedicated)}")
    return {name: (label, command) for name, label, command in (dedicated[q] for q in queues)}


def main() -> int:
    var_dir = Path(os.environ.get("HERALD_VAR_DIR") or BASE_DIR / "var").resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("HERALD_HOST", "127.0.0.1")
    port = os.environ.get("HERALD_PORT", "8000")
    env, started_pg = prepare_environment(var_dir)
    # Where hooks and short links point: the address served here, unless set (a port chosen with
    # HERALD_PORT would otherwise leave links on settings' default, :8000).
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        log("migrating the database")
        manage(env, "migrate", "--noinput")
        # The demo key is kept under var/ so the one printed here stays the same across restarts.
        demo = manage(env, "seed_demo", "--key-file", str(var_dir / "demo-api-key"))
        commands: dict[str, tuple[str, list[str]]] = {
            "web": (
                "web (gunicorn)",
                [
                    str(BIN / "gunicorn"),
                    "config.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    # Room for slow requests (a drip or list_name create over a large list is still
                    # planned in its request; other large audiences are prepared in the background).
                    "--timeout",
                    "300",
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "10",
                ],
            ),
            **worker_commands(os.environ.get("HERALD_WORKERS", "dedicated")),
            "beat": ("Celery beat", [str(BIN / "celery"), "-A", "config", "beat", "-l", "info", "--pidfile="]),
        }
        children = [(name, start(label, command, env)) for name, (label, command) in commands.items()]
        time.sleep(1.5)
        print(
            "\n"
            f"  Herald is running.\n"
            f"  Dashboard:  http://{host}:{port}/\n"
            f"  Admin:      http://{host}:{port}/admin/\n"
            f"  API docs:   http://{host}:{port}/api/docs/\n"
            + "".join(f"  {line}\n" for line in demo.strip().splitlines())
            + f"  Try it:     curl -H 'Authorization: Bearer <api key>' http://{host}:{port}/api/v1/me/\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        restarts: dict[str, list[float]] = {name: [] for name in commands}
        while not stopping:
            for index, (name, proc) in enumerate(children):
                if proc.poll() is None or stopping:
                    continue
                # A crashed child (a Celery worker loses its broker and exits, say) is started again,
                # as a process supervisor would; one that keeps crashing stops everything.
                recent = [t for t in restarts[name] if time.monotonic() - t < RESTART_WINDOW]
                if len(recent) >= MAX_RESTARTS:
                    log(
                        f"{name} exited with status {proc.returncode} {len(recent)} times in a row; stopping everything"
                    )
                    stopping = True
                    continue
                log(f"{name} exited with status {proc.returncode}; starting it again")
                restarts[name] = [*recent, time.monotonic()]
                time.sleep(1)
                label, command = commands[name]
                children[index] = (name, start(label, command, env))
            time.sleep(0.5)
    finally:
        log("stopping")
        stop_all(children)
        if started_pg:
            stop_embedded_postgres(var_dir)
            log("embedded PostgreSQL stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
