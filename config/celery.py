"""The Celery app. Configuration lives in Django settings under the CELERY_ namespace."""

import os
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


@task_prerun.connect
def _drop_a_connection_left_in_a_transaction(task: Any = None, **_: Any) -> None:
    """A task starts outside any transaction. One left open by an earlier task in this process (a soft
    time limit raised inside psycopg's COMMIT wait leaves the connection busy and Django's atomic
    state set) would make every later task fail with "Cannot open a new connection in an atomic
    block" until the process is recycled: forget that state and close the connection, so this task
    opens a new one. Not in eager mode, where tasks run inside the caller's (or a test's) transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            reset_connection(conn)


def reset_connection(conn: Any) -> None:
    """Drop a connection whose transaction state was left behind (see above)."""
    conn.in_atomic_block = False
    conn.savepoint_ids = []
    conn.atomic_blocks = []
    conn.needs_rollback = False
    conn.closed_in_transaction = False
    conn.run_on_commit = []
    conn.commit_on_exit = True
    conn.close()
