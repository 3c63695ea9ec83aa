"""The Celery app. Configuration lives in Django settings under the CELERY_ namespace."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

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
