"""Large audiences (SPEC §8): accepted at once with an estimate, prepared in the background.

A create whose lists hold more than BROADCAST_SYNC_LIMIT recipients answers 201 within a second:
the broadcast row, `preparing: true` and an `estimated_cost` (one SQL aggregate of the members by
number prefix, each prefix priced once, × the parts of the text before personalisation), 402 when
that estimate already exceeds the available credit. Its messages are then prepared by Celery, one
chunk per transaction, through the same steps as a synchronous create:

    audience (the explicit recipients first, then list members in contact id order after a cursor)
    → plan (planning.Planner: render, encode, price, time) → write (writing.messages_write)
    → reserve (the chunk's exact cost) → enqueue (dispatch starts with the first chunk)

The chunk, its reservation and the cursor commit together, under the broadcast's row lock (taken
once the rows are written, so that a dispatcher already sending waits only for the check): a worker
that dies mid-chunk leaves nothing of it, and the next run starts at the same cursor, so no chunk is
written twice and none is skipped. Too little credit for a chunk pauses the broadcast with
`insufficient_credit` (resume after a top-up goes on); cancel stops it and releases everything.

A worker runs it through prepare_ahead.prepare_run, which plans the next chunk (`plan_at`) on a
second thread while `prepare_chunk` writes this one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, Min, Q, Value, When
from django.db.models.functions import Left
from django.utils import timezone

from accounts.channels import Channel
from accounts.exceptions import InsufficientCreditError
from contacts.models import ContactList
from contacts.selectors import audience_contacts
from templates_app.encoding import analyze, optimize_text
from wallets.models import Wallet
from wallets.pricing import money, quote_messages

from .. import queue
from ..audience import Target
from ..local_time import LocalTimePlan, start
from ..lock_objects import broadcast_for_update
from ..models import Broadcast
from ..plan_checks import check_plan
from ..planning import PlanContext, Planner, PlanTotals, Row
from ..states import DISPATCHABLE_BROADCAST, PAUSE_INSUFFICIENT_CREDIT
from ..transitions import broadcast_move
from ..validation import BroadcastRequest, parse_broadcast_request
from ..writing import messages_write
from .ab_context import ab_prepare
from .context import client_wallet, plan_context
from .request import request_data
from .reserve import reserve_after_checks

log = structlog.get_logger(__name__)

B = Broadcast.Status
INSUFFICIENT_CREDIT = PAUSE_INSUFFICIENT_CREDIT
LISTS = "lists"  # the cursor once the explicit recipients are prepared
DONE = "done"
PREPARE_CHUNK = 5000  # list members per chunk (and transaction)
# The first chunk of list members is smaller: sending starts with it, so the first message leaves
# after planning and writing 1,000 rows rather than 5,000 (bench_first_message.py).
FIRST_CHUNK = 1000
ESTIMATE_PREFIX = 8  # characters of E.164 that decide a number's country and route, for the estimate


# --- the create side ---------------------------------------------------------------------------


def audience_size(*, client: Any, request: BroadcastRequest) -> int:
    """Recipients named + the lists' member counts (kept by the contacts services; a member of two
    lists counts twice, an excluded one still counts): what decides between the two paths, read
    without counting a million memberships."""
    named = len(request.recipients) + len(request.contact_ids)
    if not request.list_ids:
        return named
    counts = ContactList.objects.filter(client=client, pk__in=request.list_ids).values_list("contact_count", flat=True)
    return named + sum(counts)


def in_background(*, client: Any, request: BroadcastRequest) -> bool:
    """A create prepared in the background: lists over the limit. Drips keep their exact timing, and
    a `list_name` (the sendable recipients saved as a list, in the create's transaction) stays
    synchronous too."""
    if request.simulate or request.draft or not request.list_ids or request.list_name:
        return False
    if request.schedule_mode == Broadcast.ScheduleMode.DRIP:
        return False
    return audience_size(client=client, request=request) > settings.BROADCAST_SYNC_LIMIT


def base_segments(context: PlanContext, versions: Any = None) -> int:
    """Parts of the base version's text before personalisation (its placeholders as written), of
    the broadcast's content or of `versions` (an A/B variant's)."""
    request = context.request
    versions = context.versions if versions is None else versions
    if request.channel != Channel.SMS or not versions:
        return 1
    language = request.base_language if request.base_language in versions else sorted(versions)[0]
    text = versions[language].content
    if context.rewriter is not None:
        text = context.rewriter.template(text)[0]
    if request.optimize_text or request.transliterate:
        text = optimize_text(text, transliterate=request.transliterate)
    return max(1, analyze(text).segments)


def segment_shares(context: PlanContext) -> list[tuple[int, Decimal]]:
    """(parts, share of the audience) of what the preparation will plan: the base text for all, or
    with an A/B test each variant's sample at its own parts and the rest at the costliest variant's
    (what it is reserved at until the decision)."""
    split = context.split
    if split is None:
        return [(base_segments(context), Decimal(1))]
    parts = [base_segments(context, versions) for versions in split.versions]
    shares = [(n, variant.share / 100) for n, variant in zip(parts, split.spec.variants, strict=True)]
    return [*shares, (max(parts), split.spec.remainder_share / 100)]


def estimate(context: PlanContext) -> tuple[Decimal, int]:
    """(estimated cost, estimated recipients): list members counted by number prefix in one SQL
    aggregate, each prefix priced once on a sample number (at each part count the plan will use),
    plus the named recipients priced each."""
    request, client = context.request, context.client
    column = "telegram_chat_id" if request.channel == Channel.TELEGRAM else "phone"
    members = audience_contacts(client=client, list_ids=request.list_ids, exclude_list_ids=request.exclude_list_ids)
    # Numbers sharing their first 8 characters share a country and a route (the prefix's extended
    # statistics, contacts migration 0005, let PostgreSQL hash these few groups instead of sorting
    # a million numbers); Telegram chats all cost the same.
    prefix = Value("") if column == "telegram_chat_id" else Left("phone", ESTIMATE_PREFIX)
    grouped = (
        members.filter(**{f"{column}__isnull": False})
        .annotate(prefix=prefix)
        .values("prefix")
        .annotate(sample=Min(column), count=Count("pk"))
        .values_list("sample", "count")
        .order_by()
    )
    buckets = list(grouped)
    named = [target.address for target in Planner(context).audience.explicit_targets() if target.address]
    buckets += [(address, 1) for address in named]
    total = Decimal(0)
    for segments, share in segment_shares(context):
        if not share:
            continue
        quote = quote_messages(
            recipients=[(sample, segments) for sample, _count in buckets],
            channel=request.channel,
            wallet_currency=context.wallet.currency,
            routes=context.routes,
            rates=context.rates,
            tier=request.tier,
            route_code=request.route or None,
        )
        for (_sample, count), priced in zip(buckets, quote.messages, strict=True):
            if priced is not None:
                total += priced.wallet_cost * count * share
    return total.quantize(Decimal("0.000001")), sum(count for _sample, count in buckets)


def accept_in_background(*, broadcast: Broadcast, context: PlanContext, status: str) -> None:
    """The broadcast row with its estimate, nothing else; preparation starts on commit. 402 when
    the estimate already exceeds the available credit. Call inside the create's transaction."""
    cost, recipients = estimate(context)
    wallet = context.wallet
    if cost > wallet.available:
        raise InsufficientCreditError(
            f"This broadcast needs about {money(cost)} {wallet.currency} (an estimate over its lists); "
            f"{money(wallet.available)} {wallet.currency} is available."
        )
    if context.request.local_time is not None:
        status = local_time_accept(broadcast, context, status)
    broadcast.status = status
    broadcast.currency = wallet.currency
    broadcast.estimated_cost = cost
    broadcast.total_recipients = recipients
    broadcast.total_segments = round(recipients * sum(parts * share for parts, share in segment_shares(context)))
    broadcast.preparing = True
    broadcast.preparation_total = recipients
    broadcast.preparation_processed = 0
    broadcast.preparation_cursor = ""
    broadcast.save()
    queue.prepare_on_commit(broadcast.pk)


# Numbers sharing this many characters of E.164 share their time zones (phonenumbers' longest prefix).
ZONE_PREFIX = 10


def local_time_accept(broadcast: Broadcast, context: PlanContext, status: str) -> str:
    """A large local-time audience, read as its members' zones (one aggregate: a contact's own
    timezone, else its number's prefix) before anything is prepared: refused when the time already
    passed for some and `if_passed` says nothing (400, as a small one), scheduled until the first
    zone's time (quiet hours, which only delay, are left to the preparation)."""
    request, client = context.request, context.client
    assert request.local_time is not None  # noqa: S101 - the caller's condition
    plan = LocalTimePlan(request.local_time, client_zone=client.timezone, now=context.now)
    members = audience_contacts(client=client, list_ids=request.list_ids, exclude_list_ids=request.exclude_list_ids)
    phone_prefix = Value("") if request.channel == Channel.TELEGRAM else Left("phone", ZONE_PREFIX)
    groups = (
        members.annotate(prefix=Case(When(~Q(timezone=""), then=Value("")), default=phone_prefix))
        .values("timezone", "prefix")
        .annotate(sample=Min("phone"), count=Count("pk"))
        .values_list("timezone", "sample", "count")
        .order_by()
    )
    explicit = Planner(context).audience.explicit_targets()
    named = [(t.timezone, t.address, 1, t.variables) for t in explicit if not t.skip]
    for zone, sample, count, variables in [(z, p, c, {}) for z, p, c in groups] + named:
        phone = sample if sample and request.channel != Channel.TELEGRAM else ""
        target = Target(urn="", address=phone or "", timezone=zone or "", variables=variables)
        if not plan.skips(target, count):
            slot = plan.slot(target)
            plan.count(slot, None if slot.passed else slot.send_at, count)
    tally = plan.tally
    problem = tally.refusal() or ("" if tally.send_times else tally.all_skipped())
    if problem:
        raise ValidationError({"local_time": [ValidationError(problem, code="local_time_passed")]})
    broadcast.local_time = {**(broadcast.local_time or {}), "skipped": 0}
    status, scheduled_at = start(tally, status)
    broadcast.scheduled_at = scheduled_at
    return status


# --- the worker side ---------------------------------------------------------------------------


@dataclass
class PlannedChunk:
    """A chunk planned (audience read, rows rendered, encoded, priced and timed), not yet written."""

    cursor: str  # the preparation cursor it starts at
    next_cursor: str
    read: int  # audience rows read (skipped ones included)
    rows: list[Row]
    totals: PlanTotals
    duplicates: int
    request: BroadcastRequest


def load_context(broadcast: Broadcast, *, now: Any) -> PlanContext:
    """The plan's context of a preparing broadcast: its stored request, checked and priced again."""
    request = parse_broadcast_request(request_data(broadcast), now=broadcast.created_at)
    context, _template = plan_context(client=broadcast.client, request=request, now=now)
    ab_prepare(context, broadcast)  # A/B: the same seed and decision time for every chunk
    return context


def plan_at(context: PlanContext, cursor: str) -> PlannedChunk:
    """Plan the chunk that starts at `cursor`: the named recipients first (cursor ""), then
    PREPARE_CHUNK list members after the last contact id written (FIRST_CHUNK at most for the first)."""
    planner = Planner(context)
    explicit = planner.audience.explicit_targets()  # first: named members are left out of the lists
    named_duplicates = planner.audience.duplicates
    if cursor == "":
        targets, next_cursor, read, duplicates = explicit, LISTS, len(explicit), named_duplicates
    else:
        after = "" if cursor == LISTS else cursor
        limit = min(FIRST_CHUNK, PREPARE_CHUNK) if cursor == LISTS else PREPARE_CHUNK
        targets, last, read = planner.audience.members_after(after, limit=limit)
        next_cursor = last or DONE
        duplicates = planner.audience.duplicates - named_duplicates
    rows = planner.plan_chunk(targets)
    return PlannedChunk(cursor, next_cursor, read, rows, planner.totals, duplicates, context.request)


def prepare_chunk(*, broadcast_id: uuid.UUID | str, planned: PlannedChunk | None = None) -> str:
    """Write the next chunk: `planned` when it starts at the broadcast's cursor (planned ahead by
    prepare_ahead.PlannedAhead), else planned here. Returns "more", "done" or "stopped" (paused,
    cancelled, not found). The chunk, its reservation and the cursor commit together.

    The rows are written before the broadcast's row is locked, and kept only if, under the lock, the
    broadcast is still being prepared from the same cursor: the COPY is most of a chunk's time, and
    the lock is what its dispatcher's lease and every handed mark wait for (they sent nothing while
    a chunk was written). One preparer per broadcast (prepare_run's advisory lock) writes at a time."""
    now = timezone.now()
    with transaction.atomic():
        broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
        if broadcast is None:
            return "stopped"
        if (stopped := _not_preparing(broadcast)) is not None:  # read unlocked: checked again below
            return stopped
        if planned is None or planned.cursor != broadcast.preparation_cursor:
            planned = plan_at(load_context(broadcast, now=now), broadcast.preparation_cursor)
        totals, request = planned.totals, planned.request
        if totals.stop_missing or totals.too_long:
            try:
                check_plan(totals, request=request)
            except ValidationError as exc:
                reason = "; ".join(exc.messages)[:255]
                broadcast_move(broadcast.pk, "pause", B.PAUSED, pause_reason=reason, paused_at=now)
                return "stopped"
        if planned.totals.total_cost > client_wallet(broadcast.client).available:
            return _wait_for_credit(broadcast, now=now)  # short already: nothing written
        written = transaction.savepoint()
        messages_write(broadcast, planned.rows, now=now)
        broadcast = broadcast_for_update(broadcast_id)
        stopped = _not_preparing(broadcast) or ("more" if planned.cursor != broadcast.preparation_cursor else None)
        if stopped is not None:
            transaction.savepoint_rollback(written)  # paused or cancelled meanwhile: nothing of it stays
            return stopped
        # The credit now, under the lock, not when the chunk was planned.
        if not _reserve(broadcast, planned, wallet=client_wallet(broadcast.client)):
            transaction.savepoint_rollback(written)
            return _wait_for_credit(broadcast, now=now)
        transaction.savepoint_commit(written)
        first = planned.cursor == ""
        _add_totals(broadcast, totals, duplicates=planned.duplicates, first=first)
        if totals.local_time is not None and broadcast.local_time is not None:
            # Local time: recipients skipped because their time had passed (the broadcast's `skipped`).
            before = 0 if first else int(broadcast.local_time.get("skipped") or 0)
            broadcast.local_time = {**broadcast.local_time, "skipped": before + totals.local_time.skipped}
        broadcast.preparation_processed = (0 if first else broadcast.preparation_processed) + planned.read
        broadcast.preparation_cursor = planned.next_cursor
        broadcast.preparing = planned.next_cursor != DONE
        if not broadcast.preparing:
            broadcast.preparation_total = broadcast.preparation_processed
        broadcast.save(update_fields=[*_TOTAL_FIELDS, *_PREPARATION_FIELDS, "local_time", "updated_at"])
        # A chunk that wrote nothing (the named recipients of a list-only broadcast) has nothing to
        # send: its dispatcher would run on the default queue (no smpp message yet to route it).
        if broadcast.status != B.SCHEDULED and (planned.rows or not broadcast.preparing):
            queue.dispatch_on_commit(broadcast.pk)
    log.info(
        "broadcast.prepared_chunk", broadcast_id=str(broadcast.pk), rows=len(planned.rows), done=not broadcast.preparing
    )
    return "more" if broadcast.preparing else DONE


def _not_preparing(broadcast: Broadcast) -> str | None:
    """Why no chunk is written now (DONE, or "stopped": paused, resume enqueues preparation again,
    or cancelled), or None."""
    if not broadcast.preparing:
        return DONE
    if broadcast.status not in DISPATCHABLE_BROADCAST and broadcast.status != B.SCHEDULED:
        return "stopped"
    return None


def _wait_for_credit(broadcast: Broadcast, *, now: Any) -> str:
    """Too little credit for the chunk: paused with the reason (resume after a top-up goes on)."""
    paused = broadcast_move(broadcast.pk, "pause", B.PAUSED, pause_reason=INSUFFICIENT_CREDIT, paused_at=now)
    # A scheduled broadcast cannot be paused: it waits (beat retries) until credit comes.
    log.warning(
        "broadcast.preparation_waits_for_credit",
        broadcast_id=str(broadcast.pk),
        paused=paused,
        reason=INSUFFICIENT_CREDIT,
    )
    return "stopped"


def _reserve(broadcast: Broadcast, planned: PlannedChunk, *, wallet: Wallet) -> bool:
    """The chunk's exact cost held; False when the credit is short, whether seen before or by the
    reservation itself (another broadcast took it meanwhile)."""
    cost = planned.totals.total_cost
    if cost > wallet.available:
        return False
    if cost > 0:
        note = f"Broadcast {broadcast.name[:80]} (part)"
        try:
            reserve_after_checks(wallet=wallet, amount=cost, broadcast_id=broadcast.pk, note=note)
        except InsufficientCreditError:
            return False
    return True


_TOTAL_FIELDS = (
    "total_recipients", "total_segments", "estimated_cost", "skipped_invalid", "skipped_opted_out",
    "skipped_unroutable", "skipped_window_closed", "duplicates",
)  # fmt: skip
_PREPARATION_FIELDS = ("preparing", "preparation_total", "preparation_processed", "preparation_cursor")


def _add_totals(broadcast: Broadcast, totals: Any, *, duplicates: int, first: bool) -> None:
    """The chunk's exact totals added to the broadcast's (the first chunk replaces the estimate)."""
    chunk = {
        "total_recipients": totals.total_contacts,
        "total_segments": totals.total_segments,
        "estimated_cost": totals.total_cost,
        "skipped_invalid": totals.invalid_count,
        "skipped_opted_out": totals.opted_out_count,
        "skipped_unroutable": totals.unroutable_count,
        "skipped_window_closed": totals.window_closed_count,
        "duplicates": duplicates,
    }
    for name, value in chunk.items():
        setattr(broadcast, name, value if first else getattr(broadcast, name) + value)
