"""Contact imports: accept a file (checked before anything is written), then run it in chunks.

`contact_import_create` is what the API and the dashboard call; `contact_import_run` is what the
Celery task calls. A run commits once per chunk (contacts, list membership and the job's counters
together), so `processed_rows` shows progress while it runs and a run that dies resumes exactly
where the last commit left off. Two runs of one job never overlap: each holds a PostgreSQL advisory
lock for the job, which the server releases if the worker's connection dies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Final
from uuid import UUID

import structlog
from celery import current_app
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import Client
from contacts.models import ContactImport, ContactList
from contacts.selectors import contact_lists_by_ids
from contacts.services import clean_list_number, contact_list_get_or_create
from contacts.validation import field_error

from .files import MAX_ROWS, ImportFile, ImportFileError, open_import_file
from .pipeline import read_ahead
from .rows import DUPLICATE, RowError, RowParser, SeenAddresses, StagedRow
from .writer import write_chunk

log = structlog.get_logger(__name__)

CHUNK_SIZE: Final = 10_000
MAX_ERRORS: Final = 100
IMPORT_TASK: Final = "contacts.tasks.contact_import_process"
_LOCK_NAMESPACE: Final = 0x43_4E_49_4D  # "CNIM": contact imports' advisory locks


def _file_error(exc: ImportFileError) -> ValidationError:
    return field_error("file", exc.message, exc.code)


def contact_import_create(
    *,
    client: Client,
    file: IO[bytes],
    file_name: str = "",
    list_id: UUID | str | None = None,
    list_name: str | None = None,
    list_number: int | None = None,
    update_existing: bool = False,
) -> ContactImport:
    """Check the file and the list, store the file, create the job and enqueue it after commit.

    Everything is checked first: a file that is not CSV/XLSX, is empty, has no phone (or
    telegram_chat_id) column or more than 1,000,000 rows is a ValidationError naming `file`, an
    unknown list a NotFoundError naming `list`, and then nothing at all has been written.
    """
    if list_id is not None and list_name:
        raise field_error("list_name", "Give either list or list_name, not both.")
    if list_number is not None and not list_name:
        raise field_error("list_number", "list_number is the number of the list list_name creates: give list_name.")
    list_number = clean_list_number(list_number, "list_number")
    contact_list: ContactList | None = None
    if list_id is not None:
        contact_list = next(iter(contact_lists_by_ids(client=client, ids=[list_id], field="list").values()))
    elif list_name is not None and not list_name.strip():
        raise field_error("list_name", "The list name must not be blank.", "invalid_name")
    data = file.read()
    try:
        table = open_import_file(data)
        total_rows = table.count_rows(limit=MAX_ROWS)
    except ImportFileError as exc:
        raise _file_error(exc) from None
    with transaction.atomic():
        if list_name:
            contact_list = contact_list_get_or_create(
                client=client, name=list_name, field="list_name", number=list_number, number_field="list_number"
            )
        job = ContactImport(
            client=client,
            file_name=os.path.basename(file_name)[:255],
            file_format=table.file_format,
            contact_list=contact_list,
            update_existing=update_existing,
            total_rows=total_rows,
        )
        job.file.save(f"{job.id}.{table.file_format}", ContentFile(data), save=False)
        job.save()
        job_id = str(job.id)
        contact_import_enqueue(contact_import=job)
    log.info(
        "contact_import.created",
        client_id=str(client.id),
        contact_import_id=job_id,
        file_format=table.file_format,
        total_rows=total_rows,
    )
    return job


def contact_import_enqueue(*, contact_import: ContactImport) -> None:
    """Queue the job's task once the current transaction commits.

    robust: the upload is committed by then, so a broker failure must not turn the 202 into a 500; it
    is logged, and the job (still pending) can be queued again from the admin — running it twice is safe.
    """
    job_id = str(contact_import.pk)

    def enqueue() -> None:  # a named function: Django's robust on_commit logs callbacks by __qualname__
        # By the task's name: contacts.tasks imports this module, never the other way round.
        current_app.signature(IMPORT_TASK, args=(job_id,)).apply_async()

    transaction.on_commit(enqueue, robust=True)


# --- running ---------------------------------------------------------------------------------------


@contextmanager
def _run_lock(import_id: UUID) -> Iterator[bool]:
    """A session-level advisory lock for this job: True if we hold it, False if another run does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [_LOCK_NAMESPACE, str(import_id)])
        row = cursor.fetchone()
    held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [_LOCK_NAMESPACE, str(import_id)])


@dataclass
class _Chunk:
    rows: list[StagedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    seen_rows: int = 0
    invalid: int = 0
    duplicates: int = 0


def _chunks(table: ImportFile, parser: RowParser, *, skip: int, size: int) -> Iterator[_Chunk]:
    """Parse and de-duplicate rows, yielding chunks of `size` rows. The first `skip` rows (done by an
    earlier run) are only parsed, to remember their addresses for the duplicate check."""
    seen = SeenAddresses()
    chunk = _Chunk()
    for index, (number, cells) in enumerate(table.rows()):
        parsed = parser.parse(number, cells)
        verdict = seen.check(parsed) if isinstance(parsed, StagedRow) else parsed
        if index < skip:
            continue
        chunk.seen_rows += 1
        if isinstance(verdict, RowError):
            chunk.invalid += 1
            chunk.errors.append(verdict)
        elif verdict == DUPLICATE:
            chunk.duplicates += 1
        else:
            assert isinstance(parsed, StagedRow)  # noqa: S101 - verdict None means a valid row
            chunk.rows.append(parsed)
        if chunk.seen_rows >= size:
            yield chunk
            chunk = _Chunk()
    if chunk.seen_rows:
        yield chunk


class _LostClaim(Exception):  # noqa: N818 - control flow: another run moved the job on
    pass


def _commit_chunk(job: ContactImport, chunk: _Chunk) -> None:
    """Write the chunk and advance the job's counters in one transaction (retried once on a race)."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                result = write_chunk(
                    client_id=job.client_id,
                    rows=chunk.rows,
                    update_existing=job.update_existing,
                    contact_list_id=job.contact_list_id,
                )
                refused = result.refused or []
                errors = sorted([*chunk.errors, *refused], key=lambda e: e.row)
                new_errors = job.errors + [e.as_json() for e in errors][: max(0, MAX_ERRORS - len(job.errors))]
                processed = job.processed_rows + chunk.seen_rows
                advanced = ContactImport.objects.filter(
                    pk=job.pk, status=ContactImport.Status.PROCESSING, processed_rows=job.processed_rows
                ).update(
                    processed_rows=processed,
                    total_rows=Greatest(F("total_rows"), processed),
                    created=F("created") + result.created,
                    updated=F("updated") + result.updated,
                    invalid=F("invalid") + chunk.invalid + len(refused),
                    duplicates=F("duplicates") + chunk.duplicates,
                    errors=new_errors,
                    updated_at=timezone.now(),
                )
                if not advanced:
                    raise _LostClaim
                if result.added_to_list and job.contact_list_id is not None:
                    ContactList.objects.filter(pk=job.contact_list_id).update(
                        contact_count=F("contact_count") + result.added_to_list, updated_at=timezone.now()
                    )
            job.processed_rows, job.errors = processed, new_errors
            return
        except IntegrityError:
            # A contact written by someone else between our check and our insert (e.g. the same chat
            # id through the API): the second attempt's check sees it and refuses that row.
            if attempt == 2:
                raise


def _claim(import_id: UUID) -> ContactImport | None:
    job = ContactImport.objects.filter(pk=import_id).select_related("client").first()
    if job is None:
        log.warning("contact_import.missing", contact_import_id=str(import_id))
        return None
    if job.status == ContactImport.Status.PENDING:
        claimed = ContactImport.objects.filter(pk=job.pk, status=ContactImport.Status.PENDING).update(
            status=ContactImport.Status.PROCESSING, started_at=timezone.now(), updated_at=timezone.now()
        )
        if not claimed:
            return None
        job.refresh_from_db()
        return job
    if job.status == ContactImport.Status.PROCESSING:
        # We hold the job's lock, so the run that set it processing is gone: resume after its last commit.
        log.info("contact_import.resumed", contact_import_id=str(job.id), processed_rows=job.processed_rows)
        return job
    return None  # completed or failed: running it again does nothing


def _fail(job: ContactImport, reason: str) -> None:
    errors = [*job.errors[: MAX_ERRORS - 1], {"row": None, "value": None, "reason": reason}]
    ContactImport.objects.filter(pk=job.pk, status=ContactImport.Status.PROCESSING).update(
        status=ContactImport.Status.FAILED,
        failure_reason=reason,
        errors=errors,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    log.warning("contact_import.failed", contact_import_id=str(job.id), reason=reason)


def _read_file(job: ContactImport) -> bytes:
    with job.file.open("rb") as handle:
        data: bytes = handle.read()
    return data


def contact_import_run(*, contact_import_id: UUID | str, chunk_size: int = CHUNK_SIZE) -> ContactImport | None:
    """Run (or resume) an import; safe to call twice, also at once. Returns the job, or None if
    another run holds it or it does not exist."""
    import_id = UUID(str(contact_import_id))
    with _run_lock(import_id) as held:
        if not held:
            log.info("contact_import.already_running", contact_import_id=str(import_id))
            return None
        job = _claim(import_id)
        if job is None:
            return ContactImport.objects.filter(pk=import_id).first()
        try:
            table = open_import_file(_read_file(job))
        except (OSError, ValueError, ImportFileError) as exc:
            reason = exc.message if isinstance(exc, ImportFileError) else "The uploaded file can no longer be read."
            _fail(job, reason)
            job.refresh_from_db()
            return job
        parser = RowParser(table.columns, job.client.country)
        try:
            chunks = _chunks(table, parser, skip=job.processed_rows, size=chunk_size)
            for chunk in read_ahead(chunks, name="contact-import-reader"):
                _commit_chunk(job, chunk)
        except _LostClaim:
            log.warning("contact_import.claim_lost", contact_import_id=str(job.id))
            return ContactImport.objects.filter(pk=import_id).first()
        except Exception:
            _fail(job, "The import failed on our side; the rows written so far are kept.")
            raise
        _complete(job)
    job.refresh_from_db()
    return job


def _complete(job: ContactImport) -> None:
    finished = ContactImport.objects.filter(pk=job.pk, status=ContactImport.Status.PROCESSING).update(
        status=ContactImport.Status.COMPLETED, finished_at=timezone.now(), updated_at=timezone.now()
    )
    if not finished:
        return
    job.refresh_from_db()
    log.info(
        "contact_import.completed",
        contact_import_id=str(job.id),
        client_id=str(job.client_id),
        total_rows=job.total_rows,
        created=job.created,
        updated=job.updated,
        invalid=job.invalid,
        duplicates=job.duplicates,
    )
    # The file holds personal data and is no longer needed once every row is in.
    name = job.file.name
    if name:
        storage = job.file.storage
        transaction.on_commit(lambda: storage.delete(name))
        ContactImport.objects.filter(pk=job.pk).update(file="")
