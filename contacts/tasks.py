"""Celery tasks of the contacts app: thin doors that load ids and call a service."""

from __future__ import annotations

from celery import shared_task

from .imports.services import IMPORT_TASK, contact_import_run


# A 1,000,000-row import takes about a minute; the limits leave room for a slow database. A run that
# is redelivered (acks_late) while another still holds the job finds it locked and stops at once.
@shared_task(name=IMPORT_TASK, acks_late=True, soft_time_limit=1800, time_limit=1900)
def contact_import_process(contact_import_id: str) -> None:
    contact_import_run(contact_import_id=contact_import_id)
