"""The Celery app. Configuration lives in Django settings under the CELERY_ namespace."""

import logging
import os
import sys
from typing import Any

from celery import Celery
from celery.signals import task_prerun, worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("herald")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _name_database_sessions(**_: Any) -> None:
    """Each pool process's PostgreSQL sessions say which process they belong to (pg_stat_activity)."""
    from config.env import label_database_sessions

    label_database_sessions("worker", os.getpid())


@worker_process_shutdown.connect
def _mark_metrics_process_dead(pid: int | None = None, **_: Any) -> None:
    """A pool process that exits leaves Prometheus' live gauges (accounts/metrics.py); its counters stay."""
    from accounts.metrics import process_exited

    process_exited(pid or os.getpid())
    _unbind_smpp()


def _unbind_smpp() -> None:
    """A pool process that exits unbinds its SMPP binds (SMPP 3.4 §4.2) rather than dropping them,
    and closes its store thread's connection: only when it had any (the module loaded)."""
    connector = sys.modules.get("broadcasts.smpp.connector")
    if connector is not None:
        try:
            connector.close_pools()
        except Exception:  # exiting anyway: the SMSC sees the connection close
            logging.getLogger(__name__).warning("smpp.unbind_at_exit_failed", exc_info=True)


@task_prerun.connect
def _drop_a_connection_left_in_a_transaction(task: Any = None, **_: Any) -> None:
    """A task starts outside any transaction, on a usable connection. One an earlier task of this
    process left broken (a soft time limit raised inside psycopg's COMMIT wait leaves the connection
    busy and Django's transaction state behind: accounts/interrupts.py) would make every later task
    fail until the process is recycled: forget that state and close the connection, so this task
    opens a new one. Not in eager mode, where tasks run inside the caller's (or a test's) transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import connections

    from accounts.interrupts import connection_broken, connection_reset

    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block or connection_broken(conn):
            connection_reset(conn)
