"""`make run`: embedded PostgreSQL (unless DATABASE_URL), its own Redis (when redis-server is on PATH),
migrate, seed_demo, then web + worker + beat.

Runs everything in the foreground. Once every process is up and serving, it prints the dashboard
URL, a login and an API key last (the same key on every start: seed_demo keeps it in
var/demo-api-key, and says so when it has to issue a new one); Enter in its terminal, SIGUSR1, or
`python scripts/run.py --banner` from another one prints it again. The console shows warnings and
errors only; each process's full log is appended to var/log/<process>.log (scripts/runlog.py).
Ctrl-C (or SIGTERM) stops every child process, the redis-server and the embedded PostgreSQL it
started.

Redis: REDIS_URL from the environment when set (`none`: no Redis); otherwise a redis-server of its
own, started here on a free port with its data in var/redis/, when the binary is on PATH; otherwise
none, and kombu's filesystem broker under var/celery/. Never a Redis it did not start unless told.

Environment: DATABASE_URL, CELERY_BROKER_URL and REDIS_URL as in README; HERALD_PORT (default 8000);
HERALD_HOST (default 127.0.0.1); HERALD_VAR_DIR (default ./var) for the embedded data and logs;
HERALD_CONSOLE_LOG_LEVEL (default warning; `info` shows every process's routine lines too);
HERALD_WORKERS (default `dedicated`: a worker per queue, `-Q celery` and `-Q webhooks`; `plain`: one
`celery -A config worker` without -Q, which consumes every queue; or a comma-separated list of queues,
each given its dedicated worker and the others none, e.g. `celery` to see /healthz name the
`webhooks` queue unconsumed); HERALD_WORKER_CONCURRENCY (the plain worker's processes, default 2).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from runlog import ProcessLog, console, level_number

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

PYTHON = sys.executable
BIN = Path(PYTHON).parent
# A child that exits is started again, unless it exited this many times within the window.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
# The banner waits this long at most for every process to say it is up, then says who is not.
READY_TIMEOUT = 90.0
BANNER_FILE = "banner.txt"  # under the var directory, while the stack runs (the API key: mode 0600)


def log(message: str) -> None:
    console(f"[herald] {message}")


def var_directory() -> Path:
    return Path(os.environ.get("HERALD_VAR_DIR") or BASE_DIR / "var").resolve()


# --- Redis ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


class OwnRedis:
    """A redis-server of make run's own: 127.0.0.1 on a free port, data in var/redis/, its log in
    var/log/redis.log. Started again on the same port if it exits; stopped last but one."""

    def __init__(self, binary: str, var_dir: Path) -> None:
        self.binary = binary
        self.data_dir = var_dir / "redis"
        self.log_file = var_dir / "log" / "redis.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts: list[float] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
            "--logfile", str(self.log_file), "--daemonize", "no", "--appendonly", "no",
        ]  # fmt: skip
        with self.log_file.open("ab") as out:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.data_dir, start_new_session=True
            )

    def start(self) -> bool:
        """True once it answers PING; False when three tries on free ports failed."""
        for _ in range(3):
            self.port = free_port()
            self.proc = self._spawn()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                if redis_answers(self.port):
                    return True
                time.sleep(0.1)
            self.stop()
        return False

    def restart_if_exited(self) -> bool:
        """Start it again if it exited; False when it keeps exiting (MAX_RESTARTS within RESTART_WINDOW)."""
        if self.proc is None or self.proc.poll() is None:
            return True
        self.restarts = [t for t in self.restarts if time.monotonic() - t < RESTART_WINDOW]
        if len(self.restarts) >= MAX_RESTARTS:
            log(f"redis-server keeps exiting (status {self.proc.returncode}; its log: {self.log_file})")
            return False
        log(f"redis-server exited with status {self.proc.returncode}; starting it again on port {self.port}")
        self.restarts.append(time.monotonic())
        self.proc = self._spawn()
        return True

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # it saves var/redis/dump.rdb first
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def metrics_directory(path: str | Path) -> str:
    """Prometheus' multiprocess directory (accounts/metrics.py): every child writes its counters there
    and /metrics adds them up. Emptied at each start, as prometheus-client requires (a file left by
    a process of an earlier run would count again)."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    return str(directory)


def prepare_environment(var_dir: Path) -> tuple[dict[str, str], bool, OwnRedis | None]:
    """The environment every child gets; whether this script started the embedded PostgreSQL; the
    redis-server it started, if any."""
    import config.env  # noqa: F401 - reads .env into os.environ (never over a variable already set)
    from config.embedded import embedded_database_url

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    env.setdefault("PYTHONUNBUFFERED", "1")  # each line in var/log/ as it happens
    env["HERALD_VAR_DIR"] = str(var_dir)
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_directory(env.get("PROMETHEUS_MULTIPROC_DIR") or var_dir / "metrics")
    started_pg = False
    if not env.get("DATABASE_URL"):
        log(f"starting embedded PostgreSQL (data in {var_dir / 'pgdata'})")
        env["DATABASE_URL"] = embedded_database_url(var_dir)
        started_pg = True
    redis: OwnRedis | None = None
    if env.get("REDIS_URL"):
        where = "none" if env["REDIS_URL"].lower() == "none" else "REDIS_URL from the environment"
        log(f"redis: {where}")
    else:
        binary = shutil.which("redis-server")
        redis = OwnRedis(binary, var_dir) if binary else None
        if redis is not None and redis.start():
            log(f"redis: started redis-server on 127.0.0.1:{redis.port} (data in {redis.data_dir})")
            env["REDIS_URL"] = redis.url
        else:
            why = "redis-server did not start (var/log/redis.log)" if redis else "no redis-server on PATH"
            log(f"redis: none ({why})")
            redis = None
            env["REDIS_URL"] = "none"
    if not env.get("CELERY_BROKER_URL"):
        # The filesystem transport ignores the host; naming one keeps kombu from warning on each connection.
        env["CELERY_BROKER_URL"] = env["REDIS_URL"] if env["REDIS_URL"] != "none" else "filesystem://localhost//"
    log(f"broker: {env['CELERY_BROKER_URL'].split('://')[0]}; redis: {'yes' if env['REDIS_URL'] != 'none' else 'no'}")
    return env, started_pg, redis


# --- children -----------------------------------------------------------------------------------


def manage(env: dict[str, str], log_dir: Path, *args: str, keep_stdout: bool = True) -> str:
    """`manage.py args` to the end; its output appended to var/log/setup.log (stdout only when
    `keep_stdout`: seed_demo's holds the API key) and returned."""
    result = subprocess.run(
        [PYTHON, str(BASE_DIR / "manage.py"), *args],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    with (log_dir / "setup.log").open("a", encoding="utf-8") as out:
        out.write(f"--- manage.py {args[0]}\n" + (result.stdout if keep_stdout else "") + result.stderr)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed")
    return result.stdout


class Child:
    """One process of the stack, its output followed by a runlog.ProcessLog."""

    def __init__(self, name: str, label: str, command: list[str], output: ProcessLog) -> None:
        self.name = name
        self.label = label
        self.command = command
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None
        self.readers: list[threading.Thread] = []

    def start(self, env: dict[str, str]) -> None:
        log(f"starting {self.label} (log: {self.output.path})")
        # Own process group: Ctrl-C in the terminal reaches us, and we stop each child in order.
        proc = subprocess.Popen(
            self.command,
            env=env,
            cwd=BASE_DIR,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.proc = proc
        if proc.stdout is None or proc.stderr is None:
            raise RuntimeError("subprocess.PIPE gave no pipe")
        self.readers = [self.output.follow(proc.stdout, stderr=False), self.output.follow(proc.stderr, stderr=True)]

    def exit_status(self) -> int | None:
        """Its exit status once it has exited; None while it runs (or before it is started)."""
        return None if self.proc is None else self.proc.poll()


def stop_all(children: list[Child]) -> None:
    running = [(child, child.proc) for child in children if child.proc is not None]
    for _, proc in running:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child, proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{child.name} did not stop in time; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for child, _ in running:  # their last lines, into var/log/
        for reader in child.readers:
            reader.join(timeout=2)


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
    if os.environ.get("SMPP_QUEUE", "").lower() in ("1", "true", "yes", "on"):
        # SMPP dispatch (docs/providers/smpp.md): one process, so each connector's binds are held once.
        dedicated["smpp"] = (
            "smpp-worker",
            "Celery worker (smpp)",
            [*celery, "--concurrency", "1", "-Q", "smpp", "-n", "smpp@%h"],
        )
    queues = list(dedicated) if mode == "dedicated" else [q.strip() for q in mode.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(dedicated))
    if unknown or not queues:
        raise SystemExit(f"HERALD_WORKERS={mode!r}: expected dedicated, plain or queues among {sorted(dedicated)}")
    return {name: (label, command) for name, label, command in (dedicated[q] for q in queues)}


# A process is up once a line of its log says so (Celery logs these at info, its `-l` here; gunicorn
# its own lines at info too); the web process, once it also answers HTTP (another server on the port
# could answer, while ours failed to bind it).
_WORKER_READY = re.compile(r"@\S+ ready\.")
_BEAT_READY = "beat: Starting..."
_SMPP_LISTENER_READY = "smpp.listener_started"
_WEB_LISTENING = "Listening at: "


def ready_marker(name: str) -> Callable[[str], bool]:
    if name == "web":
        return lambda line: _WEB_LISTENING in line
    if name == "beat":
        return lambda line: _BEAT_READY in line
    if name == "smpp-listener":
        return lambda line: _SMPP_LISTENER_READY in line
    return lambda line: _WORKER_READY.search(line) is not None


def watch_ready(ready: dict[str, bool], name: str, marker: Callable[[str], bool]) -> Callable[[str], None]:
    def watch(line: str) -> None:
        if marker(line):
            ready[name] = True

    return watch


def web_answers(host: str, port: str) -> bool:
    address = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - a mapping
    # Each gunicorn worker loads Django on its first request: give it time.
    connection = http.client.HTTPConnection(address, int(port), timeout=15)
    try:
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        return True  # 200 or 503: it serves
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


# --- the banner ---------------------------------------------------------------------------------


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (var/log, not /home/.../var/log)."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def banner_text(host: str, port: str, demo: str, redis_line: str, log_dir: Path, waiting: list[str], again: str) -> str:
    base = f"http://{host}:{port}"
    lines = [
        "Herald is running." if not waiting else f"Herald is running, but still waiting for: {', '.join(waiting)}.",
        f"Dashboard:  {base}/",
        f"Admin:      {base}/admin/",
        f"API docs:   {base}/api/docs/",
        *demo.strip().splitlines(),
        f"Try it:     curl -H 'Authorization: Bearer <api key>' {base}/api/v1/me/",
        f"Redis:      {redis_line}",
        f"Logs:       {shown_path(log_dir)}/ (a file per process; only warnings and errors show here)",
        f"Again:      {again}",
        "Press Ctrl-C to stop.",
    ]
    return "\n" + "".join(f"  {line}\n" for line in lines)


def show_banner(var_dir: Path) -> int:
    """`run.py --banner`: the banner of the `make run` running on this var directory, printed again."""
    path = var_dir / BANNER_FILE
    try:
        first, _, banner = path.read_text().partition("\n")
    except FileNotFoundError:
        print(f"make run is not running here (no {path}).", file=sys.stderr)
        return 1
    pid = int(first.removeprefix("pid ").strip() or 0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        print(f"make run is not running (pid {pid} is gone); its last banner was:", file=sys.stderr)
        print(banner, end="")
        return 1
    except PermissionError:
        pass  # alive, another user's
    print(banner, end="")
    return 0


def watch_enter(requested: threading.Event) -> bool:
    """Set `requested` each time Enter is pressed in the terminal, while this process is in its
    foreground; False (nothing watched) when stdin is not a terminal."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    if not os.isatty(fd):
        return False
    # A read while in the background (`make run &`, Ctrl-Z then `bg`) fails instead of stopping us.
    signal.signal(signal.SIGTTIN, signal.SIG_IGN)

    def loop() -> None:
        while True:
            try:
                readable, _, _ = select.select([fd], [], [], 1.0)
                if not readable:
                    continue
                with contextlib.suppress(OSError):  # not our controlling terminal: no background
                    if os.tcgetpgrp(fd) != os.getpgrp():
                        time.sleep(1)
                        continue
                data = os.read(fd, 1024)
            except OSError:
                time.sleep(1)
                continue
            if not data:
                return  # end of input
            if b"\n" in data or b"\r" in data:
                requested.set()

    threading.Thread(target=loop, daemon=True, name="enter").start()
    return True


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    var_dir = var_directory()
    if sys.argv[1:] == ["--banner"]:
        return show_banner(var_dir)
    if sys.argv[1:]:
        print(f"usage: {sys.argv[0]} [--banner]", file=sys.stderr)
        return 2
    from config.embedded import stop_embedded_postgres

    var_dir.mkdir(parents=True, exist_ok=True)
    log_dir = var_dir / "log"
    log_dir.mkdir(exist_ok=True)
    console_level = level_number(os.environ.get("HERALD_CONSOLE_LOG_LEVEL", "warning"))
    host = os.environ.get("HERALD_HOST", "127.0.0.1")
    port = os.environ.get("HERALD_PORT", "8000")
    banner_path = var_dir / BANNER_FILE
    banner_path.unlink(missing_ok=True)
    children: list[Child] = []
    redis: OwnRedis | None = None
    started_pg = False
    stopping = False
    banner_requested = threading.Event()  # Enter pressed (a thread watches the terminal)
    banner_signalled = False  # SIGUSR1 (a plain flag: a handler must not take the Event's lock)

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping, banner_signalled
        if signum == signal.SIGUSR1:
            banner_signalled = True
        else:
            stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # its terminal closed: stop, leaving nothing behind
    signal.signal(signal.SIGUSR1, on_signal)
    try:
        env, started_pg, redis = prepare_environment(var_dir)
        # Where hooks and short links point: the address served here, unless set (a port chosen with
        # HERALD_PORT would otherwise leave links on settings' default, :8000).
        env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
        if redis is not None:
            redis_line = f"{redis.url} (its own redis-server, data in {redis.data_dir})"
        elif env["REDIS_URL"].lower() == "none":
            redis_line = f"none; the broker is {env['CELERY_BROKER_URL'].split('://')[0]}"
        else:
            redis_line = f"{env['REDIS_URL']} (REDIS_URL)"
        log("migrating the database")
        manage(env, log_dir, "migrate", "--noinput")
        # The demo key is kept under var/ so the one printed here stays the same across restarts.
        demo = manage(env, log_dir, "seed_demo", "--key-file", str(var_dir / "demo-api-key"), keep_stdout=False)
        # Receipts and MO of SMPP connectors arrive on binds held by a process of their own.
        smpp_listener = manage(env, log_dir, "smpp_listener", "--active").strip() not in ("", "0")
        if smpp_listener and "SMPP_QUEUE" not in env:
            # And their dispatch goes to a worker of its own, so binds are held once per node, not
            # once per prefork child (docs/providers/smpp.md, "Process model"). SMPP_QUEUE=0 keeps
            # them on the default queue.
            env["SMPP_QUEUE"] = os.environ["SMPP_QUEUE"] = "1"
        commands: dict[str, tuple[str, list[str]]] = {
            "web": (
                "web (gunicorn)",
                [
                    str(BIN / "gunicorn"),
                    "config.wsgi",
                    "--config",
                    str(BASE_DIR / "config" / "gunicorn.py"),
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
                    # On stdout, which goes to var/log/web.log only (runlog).
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "10",
                ],
            ),
            **worker_commands(os.environ.get("HERALD_WORKERS", "dedicated")),
            "beat": ("Celery beat", [str(BIN / "celery"), "-A", "config", "beat", "-l", "info", "--pidfile="]),
            **(
                {"smpp-listener": ("SMPP listener", [PYTHON, str(BASE_DIR / "manage.py"), "smpp_listener"])}
                if smpp_listener
                else {}
            ),
        }
        width = max(len(name) for name in commands)
        ready: dict[str, bool] = {}
        for name, (label, command) in commands.items():
            output = ProcessLog(name, log_dir / f"{name}.log", console_level, width)
            ready[name] = False
            output.watchers.append(watch_ready(ready, name, ready_marker(name)))
            children.append(Child(name, label, command, output))
        for child in children:
            child.start(env)
        started_at = time.monotonic()
        serving = False  # the web process said it listens, and the port answers
        banner = ""
        restarts: dict[str, list[float]] = {name: [] for name in commands}
        while not stopping:
            if not banner:
                serving = serving or (ready["web"] and web_answers(host, port))
                waiting = [name for name, up in ready.items() if not up or (name == "web" and not serving)]
                if not waiting or time.monotonic() - started_at > READY_TIMEOUT:
                    again_command = f"{shown_path(Path(PYTHON))} {shown_path(Path(__file__).resolve())} --banner"
                    if var_dir != BASE_DIR / "var":
                        again_command = f"HERALD_VAR_DIR={var_dir} {again_command}"
                    again = f"run `{again_command}` (or `kill -USR1 {os.getpid()}`) to print this again."
                    if watch_enter(banner_requested):
                        again = f"press Enter here, or {again}"
                    banner = banner_text(host, port, demo, redis_line, log_dir, waiting, again)
                    banner_path.touch(mode=0o600)
                    banner_path.write_text(f"pid {os.getpid()}\n{banner}")
                    console(banner)
            elif banner_requested.is_set() or banner_signalled:
                banner_requested.clear()
                banner_signalled = False
                console(banner)
            for child in children:
                status = child.exit_status()
                if status is None or stopping:
                    continue
                # A crashed child (a Celery worker loses its broker and exits, say) is started again,
                # as a process supervisor would; one that keeps crashing stops everything.
                recent = [t for t in restarts[child.name] if time.monotonic() - t < RESTART_WINDOW]
                if len(recent) >= MAX_RESTARTS:
                    log(
                        f"{child.name} exited with status {status} {len(recent)} times in a row;"
                        f" stopping everything (its log: {child.output.path})"
                    )
                    stopping = True
                    continue
                log(f"{child.name} exited with status {status}; starting it again")
                restarts[child.name] = [*recent, time.monotonic()]
                time.sleep(1)
                child.start(env)
            if redis is not None and not stopping and not redis.restart_if_exited():
                log("stopping everything")
                stopping = True
            time.sleep(0.5)
    finally:
        log("stopping")
        banner_path.unlink(missing_ok=True)
        stop_all(children)
        if redis is not None:
            redis.stop()
            log("redis-server stopped")
        if started_pg:
            stop_embedded_postgres(var_dir)
            log("embedded PostgreSQL stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
