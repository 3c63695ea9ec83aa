"""Recurring series at work: beat fires the due occurrences, a PATCH changes the future ones.

Firing (`series_fire_due`, beat's `fire_series` task every 10 s): each due series is taken `FOR UPDATE
SKIP LOCKED`, one transaction per series, so two beats (or a retried task) never take the same one;
its occurrence is recorded first (INSERT … ON CONFLICT DO NOTHING on the unique (series, instant)):
an occurrence already recorded is never created again. The child broadcast is made by the normal
create (`broadcast_create`: audience resolved now, quoted, reserved) with `schedule_mode: now`; a
refusal (402 insufficient_credit, or a rule the audience now breaks) fails that occurrence, emits
`broadcast.failed`, and the series goes on. See recurring.py for lateness and statuses.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.exceptions import HeraldError, InsufficientCreditError
from accounts.sql_values import rows_by_id

from ..events import broadcast_failed_announce
from ..lock_objects import broadcast_for_action, series_due_chunk_for_update, series_due_for_update
from ..models import Broadcast, Occurrence
from ..recurrence import MIN_FIRST_AHEAD
from ..transitions import broadcast_move
from ..validation import parse_broadcast_request
from .context import client_wallet, plan_context
from .create import Accepted, broadcast_create, fill
from .plan_memo import plan_memo, remembered
from .recurring import RECURRING, occurrence_claim, occurrences_miss, series_check, series_due, series_recurrence
from .request import request_data
from .series_burst import first_problem, group_key, occurrences_fire_group

log = structlog.get_logger(__name__)

B = Broadcast.Status
O = Occurrence.Status  # noqa: E741 - the house's one-letter status aliases (B, M)
FIRE_BATCH = 10_000  # series fired per run at most; the next tick goes on
FIRE_SECONDS = 60.0  # and for so long at most: well inside Celery's time limits (a run per 10 s goes on)
FIRE_CHUNK = 250  # due series per helper run a burst fans out to (series_helpers_wanted)
LOCK_CHUNK = 100  # due series locked and fired in one transaction (series_fire_chunk)


def series_due_count(*, now: datetime | None = None) -> int:
    """How many series are due at `now` (default: now): what a firing run has before it."""
    return Broadcast.objects.filter(
        status=B.SCHEDULED, schedule_mode=RECURRING, next_run_at__lte=now or timezone.now()
    ).count()


def series_helpers_wanted(*, now: datetime | None = None) -> int:
    """Firing runs a burst wants beside beat's own: one per FIRE_CHUNK due series beyond the first,
    at most SERIES_FIRE_HELPERS (the worker's other processes take them and share the due series
    with beat's run through SKIP LOCKED)."""
    most = settings.SERIES_FIRE_HELPERS
    if most <= 0:
        return 0
    return min(most, series_due_count(now=now) // FIRE_CHUNK)


def series_fire_due(*, now: datetime | None = None, limit: int = FIRE_BATCH, seconds: float = FIRE_SECONDS) -> int:
    """Fire every series due at `now` (default: now): returns how many were handled. Safe to run
    concurrently with itself: runs started by later ticks, and the helpers a burst fans out to,
    share the work (SKIP LOCKED). The run reads each client and its price list once (plan_memo)."""
    with plan_memo():
        return _fire_due(now=now or timezone.now(), limit=limit, seconds=seconds)


def _fire_due(*, now: datetime, limit: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    handled = 0
    broken: list[Any] = []  # series whose firing raised: left for the next run, not retried in a loop
    while handled < limit and time.monotonic() < deadline:
        try:
            with transaction.atomic():
                done = series_fire_chunk(now=now, limit=min(LOCK_CHUNK, limit - handled))
        except Exception:
            # Nothing of the chunk was kept; one by one below finds the series that breaks and leaves it.
            log.exception("series.chunk_failed")
            break
        if not done:
            return handled
        handled += done
    while handled < limit and time.monotonic() < deadline:
        series_id = None
        try:
            with transaction.atomic():
                series = series_due_for_update(now=now, skip=broken)
                if series is None:
                    break
                series_id = series.pk
                series_fire(series=series, now=now)
        except Exception:
            if series_id is None:
                raise
            log.exception("series.fire_failed", broadcast_id=str(series_id))
            broken.append(series_id)
            continue
        handled += 1
    return handled


def series_fire_chunk(*, now: datetime, limit: int = LOCK_CHUNK) -> int:
    """Fire up to `limit` due series locked together (in the caller's transaction): occurrences that
    would create the same child are created as a group (series_burst.py), the rest one by one as
    `series_fire` does. Returns how many series were handled (0: none is due, or all are taken)."""
    chunk = series_due_chunk_for_update(now=now, limit=limit, skip=())
    groups: dict[tuple[Any, ...], list[tuple[Broadcast, datetime]]] = {}
    bodies: dict[tuple[Any, ...], dict[str, Any]] = {}
    following: dict[Any, datetime] = {}
    for series in chunk:
        recurrence = series_recurrence(series)
        due = None
        if recurrence is not None and series.next_run_at is not None:
            due = series_due(recurrence=recurrence, next_run_at=series.next_run_at, now=now)
        if due is None or due.send is None or due.missed or due.following is None:
            series_fire(series=series, now=now)  # misses, a series' end: the one-by-one path
            continue
        data = child_data(series)
        key = group_key(series, data)
        groups.setdefault(key, []).append((series, due.send))
        bodies[key] = data
        following[series.pk] = due.following
    for key, members in groups.items():
        first = members[0][0]
        client = remembered(("client", first.client_id), lambda first=first: first.client)  # type: ignore[misc]
        # Planned at the clock of the group, as a create plans at its own (a run's `now` may be a minute old).
        if not occurrences_fire_group(client=client, data=bodies[key], due=members, now=timezone.now()):
            for series, at in members:
                occurrence_fire(series=series, at=at)
    if following:
        with connection.cursor() as cursor:
            # Rows by `id = ANY`, each reading its value by id (accounts/sql_values.py): no join to plan.
            cursor.execute(
                "UPDATE broadcasts_broadcast b SET next_run_at = (%s::jsonb ->> b.id::text)::timestamptz,"
                " updated_at = %s WHERE b.id = ANY(%s::uuid[])",
                [rows_by_id({str(i): n for i, n in following.items()}), timezone.now(), list(following)],
            )
    return len(chunk)


def series_fire(*, series: Broadcast, now: datetime) -> None:
    """Handle what is due of one series (locked by the caller, in its transaction): record the
    missed occurrences, create the one to send, roll `next_run_at` forward (or end the series)."""
    recurrence = series_recurrence(series)
    if recurrence is None or series.next_run_at is None:  # pragma: no cover - a series always has both
        return
    due = series_due(recurrence=recurrence, next_run_at=series.next_run_at, now=now)
    missed = occurrences_miss(series=series, instants=due.missed)
    if missed:
        log.info("series.missed", broadcast_id=str(series.pk), occurrences=missed)
    if due.send is not None:
        occurrence_fire(series=series, at=due.send)
    if due.following is not None:
        Broadcast.objects.filter(pk=series.pk).update(next_run_at=due.following, updated_at=timezone.now())
    else:
        broadcast_move(series.pk, "series_end", B.SENT, next_run_at=None, completed_at=now)
        log.info("series.ended", broadcast_id=str(series.pk))


def child_data(series: Broadcast) -> dict[str, Any]:
    """The create body of an occurrence: the series' own, sent now."""
    data = request_data(series)
    data["schedule_mode"] = Broadcast.ScheduleMode.NOW
    for name in ("scheduled_at", "drip_rate", "recurrence", "list_name"):
        data.pop(name, None)
    return data


def occurrence_fire(*, series: Broadcast, at: datetime) -> Broadcast | None:
    """Create the occurrence `at` of `series` once: its child broadcast, or None (recorded before,
    or failed: then `broadcast.failed` is announced)."""
    occurrence_id = occurrence_claim(series=series, at=at, status=O.CREATED)
    if occurrence_id is None:
        return None
    code, message = "", ""
    # One read of the client per firing run (plan_memo): a burst is mostly a few clients' series.
    client = remembered(("client", series.client_id), lambda: series.client)
    try:
        if not client.is_active:
            raise HeraldError("The account is suspended.", code="client_suspended")
        with transaction.atomic():
            accepted = broadcast_create(
                client=client, data=child_data(series), api_key=series.created_by_key, user=series.created_by_user
            )
            child = accepted.broadcast
            Broadcast.objects.filter(pk=child.pk).update(parent=series, occurrence_at=at)
    except InsufficientCreditError as exc:
        code, message = "insufficient_credit", exc.message
    except HeraldError as exc:
        code, message = exc.code, exc.message
    except ValidationError as exc:
        code, message = first_problem(exc)
    else:
        Occurrence.objects.filter(pk=occurrence_id).update(broadcast=child)
        log.info("series.occurred", broadcast_id=str(series.pk), child_id=str(child.pk), occurrence_at=at.isoformat())
        return child
    Occurrence.objects.filter(pk=occurrence_id).update(status=O.FAILED, error_code=code, error_message=message[:500])
    broadcast_failed_announce(broadcast=series, occurrence_at=at, error_code=code, error_message=message)
    log.info("series.occurrence_failed", broadcast_id=str(series.pk), occurrence_at=at.isoformat(), error_code=code)
    return None


# --- PATCH -----------------------------------------------------------------------------------------

SERIES_EDITABLE = frozenset(
    {
        "name", "recipients", "recipient_variables", "contacts", "contact_lists", "exclude_lists", "template",
        "text", "base_language", "attachments", "sender", "purpose", "route", "tier", "track_links",
        "optimize_text", "transliterate", "skip_opted_out", "with_replies", "recurrence", "schedule_mode",
    }
)  # fmt: skip


def series_update(*, series: Broadcast, patch: Any) -> Accepted:
    """PATCH of a running or paused series: the future occurrences change (children already created
    stay as they are). A new `recurrence` is checked like a create's and `next_run_at` becomes its
    first occurrence at least a minute ahead (an instant already recorded is still never repeated)."""
    if not isinstance(patch, dict):
        raise ValidationError("The body must be a JSON object.")
    unknown = sorted(set(patch) - SERIES_EDITABLE)
    if unknown:
        message = "'{}' cannot be changed on a series."
        raise ValidationError({name: [ValidationError(message.format(name), code="not_editable")] for name in unknown})
    if patch.get("schedule_mode", RECURRING) != RECURRING:
        raise ValidationError(
            {"schedule_mode": [ValidationError("A series stays recurring: cancel it instead.", code="not_editable")]}
        )
    now = timezone.now()
    with transaction.atomic():
        locked = broadcast_for_action(series, "series_edit")
        data = request_data(locked)
        for exclusive in (("recipients", "recipient_variables"), ("template", "text")):
            if any(k in patch for k in exclusive):
                for k in exclusive:
                    data.pop(k, None)
        data.update(patch)
        data["schedule_mode"] = RECURRING
        data["recurrence"] = patch.get("recurrence", locked.recurrence)
        data.pop("list_name", None)
        keep = "recurrence" not in patch
        if keep:
            # The rule as it is: not checked again (its next occurrence may be under a minute ahead).
            data.pop("recurrence")
            data["schedule_mode"] = Broadcast.ScheduleMode.NOW
        client = locked.client
        request = parse_broadcast_request(data, now=now, default_timezone=client.timezone)
        context, template = plan_context(client=client, request=request, now=now)
        series_check(context=context)
        next_run_at, recurrence = locked.next_run_at, locked.recurrence
        if request.recurrence is not None:
            recurrence = request.recurrence.as_json()
            next_run_at = request.recurrence.first_from(now + MIN_FIRST_AHEAD)
        fill(locked, request, template)
        locked.schedule_mode = RECURRING
        locked.recurrence, locked.next_run_at = recurrence, next_run_at
        locked.save()
    log.info("series.updated", broadcast_id=str(locked.pk), next_run_at=str(locked.next_run_at))
    return Accepted(locked, client_wallet(locked.client).available)
