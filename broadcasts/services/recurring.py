"""Recurring series (SPEC §8 "Campaigns"): accepting one, pausing, resuming and cancelling it, and
what is due when. Firing occurrences and editing a series are in recurring_runs.py (they create
broadcasts through create.py, which calls `series_accept` here).

A series is a broadcast with `schedule_mode: recurring` and a `recurrence` (recurrence.py). It never
sends itself: no messages, no reservation. Its status is `scheduled` while it runs (`next_run_at`:
the next occurrence, UTC), `paused`, `cancelled`, or `sent` once its rule has no occurrence left.
Each occurrence is an `Occurrence` row (unique per series and instant) and, when created, a child
broadcast (`parent`, `occurrence_at`) made by the normal create at its time.

Lateness: an occurrence found due later than its period (the gap to the next occurrence; the last
one: the gap from the one before) is recorded `missed`, not sent; so of the occurrences due at one
time only the latest can be sent, late, once. A pause keeps `next_run_at` (the first occurrence not
handled yet); the resume applies the same rule to what fell due meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from ..lock_objects import broadcast_for_action
from ..models import Broadcast, Occurrence
from ..plan_checks import check_plan
from ..planning import PlanContext, Planner, plan_totals_only
from ..recurrence import MIN_FIRST_AHEAD, Recurrence
from ..transitions import broadcast_transition
from .prepare import in_background

log = structlog.get_logger(__name__)

B = Broadcast.Status
O = Occurrence.Status  # noqa: E741 - the house's one-letter status aliases (B, M)
RECURRING = Broadcast.ScheduleMode.RECURRING
UPCOMING = 5  # next occurrences listed by GET …/occurrences/


def is_series(broadcast: Broadcast) -> bool:
    return broadcast.schedule_mode == RECURRING


def series_recurrence(series: Broadcast) -> Recurrence | None:
    return Recurrence.from_json(series.recurrence) if series.recurrence else None


def series_check(*, context: PlanContext) -> None:
    """The plan's rules (STOP mention, text length, someone to send to) on the audience as it is
    now, as a create checks them; not for an audience prepared in the background (too large to
    plan here: each occurrence checks it). Lists may fill up before the first occurrence, so an
    empty audience of lists is not refused."""
    request = context.request
    if in_background(client=context.client, request=request):
        return
    totals = plan_totals_only(Planner(context))
    try:
        check_plan(totals, request=request)
    except ValidationError as exc:
        problems = {
            name: errors for name, errors in exc.error_dict.items() if not (request.list_ids and name == "recipients")
        }
        if problems:
            raise ValidationError(problems) from None


def series_accept(*, broadcast: Broadcast, context: PlanContext, now: datetime) -> None:
    """A new series (filled from the request by create.py): checked as a create would be (sender,
    template, lists and route by plan_context; the plan's rules by series_check), with nothing
    planned, written or reserved; `next_run_at` is its first occurrence at least a minute ahead.
    Saved unless simulated."""
    request = context.request
    recurrence = request.recurrence
    if recurrence is None:  # pragma: no cover - validation requires it for schedule_mode recurring
        raise ValueError("a series needs a recurrence")
    series_check(context=context)
    broadcast.recurrence = recurrence.as_json()
    broadcast.next_run_at = recurrence.first_from(now + MIN_FIRST_AHEAD)
    broadcast.status = B.SCHEDULED
    broadcast.currency = context.wallet.currency
    broadcast.estimated_cost = Decimal(0)  # its occurrences are quoted and reserved each at its time
    if request.simulate:
        broadcast.created_at = now
        return
    broadcast.save()
    log.info("series.created", client_id=str(context.client.pk), broadcast_id=str(broadcast.pk))


# --- what is due -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """The occurrences from `next_run_at` to now: the one to send now (on time or late, at most
    one), those missed, and the first occurrence after now (None: the rule is exhausted)."""

    send: datetime | None
    missed: list[datetime]
    following: datetime | None


def series_due(*, recurrence: Recurrence, next_run_at: datetime, now: datetime) -> Due:
    instants = recurrence.instants()
    due = [at for at in instants if next_run_at <= at <= now]
    send: datetime | None = None
    missed: list[datetime] = []
    for at in due:
        period = recurrence.period_of(at)
        if period is None or now - at < period:
            send = at  # only the latest can be: an earlier one's period ends at the next, also due
        else:
            missed.append(at)
    following = recurrence.after(now)
    return Due(send=send, missed=missed, following=following[0] if following else None)


def occurrence_claim(*, series: Broadcast, at: datetime, status: str) -> int | None:
    """Record the occurrence `at` of `series`: its id, or None when it was recorded before (the
    unique key per series and instant: a second beat, a retried tick, a restart never repeat one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO broadcasts_occurrence (series_id, occurrence_at, status, error_code, error_message, created_at)
            VALUES (%s, %s, %s, '', '', %s)
            ON CONFLICT (series_id, occurrence_at) DO NOTHING
            RETURNING id
            """,
            [series.pk, at, status, timezone.now()],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def occurrences_miss(*, series: Broadcast, instants: list[datetime]) -> int:
    """Record these occurrences `missed` (never sent); those already recorded stay as they are."""
    return sum(1 for at in instants if occurrence_claim(series=series, at=at, status=O.MISSED) is not None)


# --- a user's actions on a series ----------------------------------------------------------------


def series_pause(*, series: Broadcast) -> Broadcast:
    """No occurrence fires while paused; `next_run_at` stays the first one not handled yet."""
    series = broadcast_transition(series, "series_pause", B.PAUSED, paused_at=timezone.now())
    log.info("series.paused", broadcast_id=str(series.pk))
    return series


def series_resume(*, series: Broadcast) -> Broadcast:
    """Running again: of the occurrences that fell due while paused, the latest is sent (late) by
    the next tick if still within its period, older ones are recorded `missed`; `next_run_at` rolls
    forward to it, or to the next occurrence."""
    now = timezone.now()
    with transaction.atomic():
        locked = broadcast_for_action(series, "series_resume")
        recurrence = series_recurrence(locked)
        updates: dict[str, object] = {"paused_at": None, "pause_reason": ""}
        if recurrence is not None and locked.next_run_at is not None and locked.next_run_at <= now:
            due = series_due(recurrence=recurrence, next_run_at=locked.next_run_at, now=now)
            occurrences_miss(series=locked, instants=due.missed)
            updates["next_run_at"] = due.send or due.following
        if "next_run_at" in updates and updates["next_run_at"] is None:
            # Every occurrence fell due while paused, and none can still be sent: the series ended.
            series = broadcast_transition(locked, "series_resume", B.SCHEDULED, **updates)
            series = broadcast_transition(series, "series_end", B.SENT, completed_at=now)
        else:
            series = broadcast_transition(locked, "series_resume", B.SCHEDULED, **updates)
    log.info("series.resumed", broadcast_id=str(series.pk), next_run_at=str(series.next_run_at))
    return series


def series_cancel(*, series: Broadcast) -> Broadcast:
    """No more occurrences; the children already created are left as they are."""
    series = broadcast_transition(series, "cancel", B.CANCELLED, cancelled_at=timezone.now(), next_run_at=None)
    log.info("series.cancelled", broadcast_id=str(series.pk))
    return series


# --- reads -----------------------------------------------------------------------------------------


def series_upcoming(*, series: Broadcast, limit: int = UPCOMING) -> list[datetime]:
    """The next occurrences of a running or paused series, from `next_run_at` (none once it ended
    or was cancelled)."""
    recurrence = series_recurrence(series)
    if recurrence is None or series.next_run_at is None or series.status not in (B.SCHEDULED, B.PAUSED):
        return []
    first = recurrence.first_from(series.next_run_at)
    if first is None:
        return []
    return [first, *recurrence.after(first, limit=limit - 1)]
