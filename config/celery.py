"""The Celery app. Configuration lives in Django settings under the CELERY_ namespace."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("herald")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _name_database_sessions(**_: Any) -> None:
    """Each pool process's PostgreSQL sessions say which process they belong to (pg_stat_activity)."""
    from config.env import label_database_sessions

    label_database_sessions("worker", os.getpid())
