"""Every setting Herald reads from the environment, read once, here.

Settings modules import from this file instead of calling os.environ themselves, so the list of
knobs an operator can turn is this one file. Each integration turns on by the presence of its
variable: no DATABASE_URL means the embedded PostgreSQL, no reachable Redis means the filesystem
broker and the PostgreSQL-backed rate limiter.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file is a convenience for development; real deployments set variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Embedded PostgreSQL data and the filesystem broker's queue live here.
VAR_DIR = Path(env.str("HERALD_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def database_config() -> dict[str, Any]:
    """DATABASES['default'] from DATABASE_URL, else from the embedded PostgreSQL under var/."""
    url = env.str("DATABASE_URL", default="")
    if url:
        config: dict[str, Any] = env.db_url_config(url)
        # django-environ leaves a Unix-socket host percent-encoded (postgres://u@%2Fpath/db).
        config["HOST"] = unquote(str(config.get("HOST", "")))
    else:
        from config.embedded import embedded_database_config

        config = embedded_database_config(VAR_DIR)
    # Persistent connections: a new PostgreSQL connection per request costs more than most requests
    # (the /r/ redirect measured 190 requests/s without, ~1,000 with: docs/benchmarks.md).
    config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # Checked before reuse in each request (one `SELECT 1`): a connection the server dropped is
    # replaced instead of failing that request. CONN_HEALTH_CHECKS=0 saves the round trip.
    config["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    # pg_stat_activity names Herald's sessions (a worker's pool process adds its role and pid:
    # config.celery), unless DATABASE_URL sets ?application_name= itself.
    config.setdefault("OPTIONS", {}).setdefault("application_name", APPLICATION_NAME)
    # Give up connecting after a few seconds (libpq waits for the OS, minutes, when the server's
    # host does not answer at all): a request then fails fast and clearly, /r/ with its 503
    # (docs/tracking.md). DATABASE_URL's ?connect_timeout= overrides it.
    config["OPTIONS"].setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    # A session left idle inside a transaction (its process stalled: stopped, swapping, a slow disk)
    # is ended by the server after this long, so the row locks it holds (a wallet, a request
    # group's messages) do not hold up the dispatcher that took its work over, nor a cancel. The
    # stalled process's transaction rolls back (what it did not commit is an unknown outcome, as a
    # crash's). No transaction of Herald's waits that long between two of its statements. A
    # DATABASE_URL with ?options= of its own keeps them.
    idle = env.int("DB_IDLE_IN_TRANSACTION_TIMEOUT", default=IDLE_IN_TRANSACTION_TIMEOUT_S)
    if idle > 0:
        config["OPTIONS"].setdefault("options", f"-c idle_in_transaction_session_timeout={idle * 1000}")
    return config


CONNECT_TIMEOUT_S = 5
# The shortest dispatch lease (leases.py): a dispatcher stalled longer has lost its work anyway.
IDLE_IN_TRANSACTION_TIMEOUT_S = 60
APPLICATION_NAME = "herald"


def label_database_sessions(role: str, pid: int) -> None:
    """Name this process's new PostgreSQL sessions `herald <role> <pid>` (pg_stat_activity's
    application_name), so an operator or a test can tell which process holds which session or
    lock. Every thread's connection reads the same settings dict when it connects. A name set in
    DATABASE_URL is kept."""
    from django.db import connections

    for alias in connections:
        options = connections.settings[alias].setdefault("OPTIONS", {})
        if options.get("application_name", APPLICATION_NAME) == APPLICATION_NAME:
            options["application_name"] = f"{APPLICATION_NAME} {role} {pid}"


def redis_reachable(url: str, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections at the Redis URL's host and port."""
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


NO_REDIS = "none"


def redis_url() -> str | None:
    """REDIS_URL when set (`none` turns Redis off); else the local default if it answers; else None."""
    url = env.str("REDIS_URL", default="")
    if url.lower() == NO_REDIS:
        return None
    if url:
        return url
    return DEFAULT_REDIS_URL if redis_reachable(DEFAULT_REDIS_URL) else None


def broker_url(redis: str | None) -> str:
    """CELERY_BROKER_URL when set; else Redis when there is one; else kombu's filesystem transport."""
    url = env.str("CELERY_BROKER_URL", default="")
    if url:
        return url
    return redis if redis else "filesystem://"


def instance_tag() -> str:
    """A short tag unique to this checkout, used to keep test databases and Redis keys apart."""
    return hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
