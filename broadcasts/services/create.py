"""Creating a broadcast: plan, write every message row, reserve its cost, enqueue its dispatch.

A broadcast is accepted in one transaction: the broadcast row, every message row (COPY, chunk by
chunk as the planner produces them), the optional `list_name` list, and last the wallet reservation.
Anything that fails — too little credit (402), a compliance rule, a race on a list name — rolls all
of it back, so nothing is created. The wallet row is locked only for the final reservation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import ConflictError, InsufficientCreditError
from accounts.models import ApiKey, Client, User
from contacts.selectors import contact_list_name_taken
from contacts.services import contact_list_create_with_phones
from wallets.models import Wallet
from wallets.pricing import money

from .. import local_time, queue
from ..models import Broadcast
from ..plan_checks import check_plan
from ..planning import PlanContext, Planner, PlanTotals, plan_totals_only
from ..validation import MIN_SCHEDULE_AHEAD, BroadcastRequest, parse_broadcast_request
from ..writing import messages_write
from .ab_context import ab_accept, ab_fill, ab_prepare
from .context import client_wallet, plan_context
from .prepare import accept_in_background, in_background
from .recurring import series_accept
from .reserve import reserve_after_checks

log = structlog.get_logger(__name__)

B = Broadcast.Status


@dataclass
class Accepted:
    """A created (or simulated) broadcast and the wallet's available credit after it."""

    broadcast: Broadcast
    residual_credit: Decimal
    simulated: bool = False


def fill(broadcast: Broadcast, request: BroadcastRequest, template: Any) -> None:
    broadcast.name = request.name
    broadcast.channel = request.channel
    broadcast.schedule_mode = request.schedule_mode
    broadcast.scheduled_at = request.scheduled_at
    broadcast.drip_rate = request.drip_rate
    broadcast.purpose = request.purpose
    broadcast.sender = request.sender
    broadcast.template = template
    broadcast.template_name = request.template or ""
    broadcast.text = request.text
    broadcast.base_language = request.base_language
    broadcast.attachments = request.attachments
    broadcast.route_code = request.route
    broadcast.tier = request.tier
    broadcast.track_links = request.track_links
    broadcast.optimize_text = request.optimize_text
    broadcast.transliterate = request.transliterate
    broadcast.skip_opted_out = request.skip_opted_out
    broadcast.with_replies = request.with_replies
    broadcast.list_name = request.list_name
    broadcast.audience = request.audience_json()
    broadcast.local_time = request.local_time.as_json() if request.local_time is not None else None
    ab_fill(broadcast, request)


def apply_totals(broadcast: Broadcast, totals: PlanTotals, currency: str) -> None:
    broadcast.total_recipients = totals.total_contacts
    broadcast.total_segments = totals.total_segments
    broadcast.estimated_cost = totals.total_cost
    broadcast.currency = currency
    broadcast.skipped_invalid = totals.invalid_count
    broadcast.skipped_opted_out = totals.opted_out_count
    broadcast.skipped_unroutable = totals.unroutable_count
    broadcast.skipped_window_closed = totals.window_closed_count
    broadcast.duplicates = totals.duplicate_count
    if totals.local_time is not None and broadcast.local_time is not None:
        broadcast.local_time = {**broadcast.local_time, "skipped": totals.local_time.skipped}


def local_time_start(broadcast: Broadcast, totals: PlanTotals, status: str) -> str:
    """A local-time broadcast whose messages all wait is scheduled until the first one's time."""
    status, scheduled_at = local_time.start(totals.local_time, status)
    if scheduled_at is not None:
        broadcast.scheduled_at = scheduled_at
    return status


def _materialize(broadcast: Broadcast, context: PlanContext) -> PlanTotals:
    """Plan and write every message row of `broadcast` (inside the caller's transaction)."""
    planner = Planner(context)
    available = context.wallet.available
    for rows in planner.run():
        if rows:
            messages_write(broadcast, rows, now=context.now)
        if planner.totals.total_cost > available:
            # Fail early on a large list: the final reservation would refuse it anyway.
            raise _short(context.wallet, planner.totals.total_cost)
    return planner.totals


def _short(wallet: Wallet, needed: Decimal) -> InsufficientCreditError:
    return InsufficientCreditError(
        f"This broadcast needs {money(needed)} {wallet.currency}; {money(wallet.available)} {wallet.currency} "
        "is available.",
    )


def accept(*, broadcast: Broadcast, context: PlanContext, status: str, keep_list: bool) -> PlanTotals:
    """Write rows, check the rules, create the list, reserve: all in the caller's transaction."""
    request = context.request
    ab_prepare(context, broadcast, keep=False)  # A/B: seeded by its id; the rest waits for the decision
    totals = _materialize(broadcast, context)
    check_plan(totals, request=request)
    apply_totals(broadcast, totals, context.wallet.currency)
    ab_accept(broadcast, context)
    status = local_time_start(broadcast, totals, status)
    if keep_list and request.list_name:
        broadcast.created_list = contact_list_create_with_phones(
            client=context.client, name=request.list_name, phones=totals.sendable_phones
        )
    broadcast.status = status
    broadcast.save()
    # The message rows' foreign keys are checked at COMMIT (deferred); at a million rows that takes
    # seconds, and the wallet row locked below would be held through all of it. Check them now, so
    # the wallet is locked only for the reservation itself.
    if totals.total_cost > 0:
        reserve_after_checks(
            wallet=context.wallet, amount=totals.total_cost, broadcast_id=broadcast.pk,
            note=f"Broadcast {broadcast.name[:100]}",
        )  # fmt: skip
    return totals


def start_status(request: BroadcastRequest) -> str:
    return B.SCHEDULED if request.schedule_mode == Broadcast.ScheduleMode.SCHEDULED else B.QUEUED


def enqueue_dispatch(broadcast: Broadcast) -> None:
    """A queued broadcast's dispatcher starts once the transaction that queued it commits."""
    if broadcast.status == B.QUEUED:
        queue.dispatch_on_commit(broadcast.pk)


def broadcast_create(
    *,
    client: Client,
    data: Any,
    api_key: ApiKey | None = None,
    user: User | None = None,
    min_schedule_ahead: timedelta = MIN_SCHEDULE_AHEAD,
) -> Accepted:
    """`min_schedule_ahead`: see parse_broadcast_request (a compatibility API may schedule sooner)."""
    now = timezone.now()
    request = parse_broadcast_request(
        data, now=now, min_schedule_ahead=min_schedule_ahead, default_timezone=client.timezone
    )
    if request.list_name and contact_list_name_taken(client=client, name=request.list_name):
        raise ConflictError(f"A contact list named '{request.list_name}' already exists.", code="list_name_taken")
    context, template = plan_context(client=client, request=request, now=now, keep_phones=bool(request.list_name))
    broadcast = Broadcast(client=client, created_by_key=api_key, created_by_user=user)
    fill(broadcast, request, template)
    if request.recurrence is not None:
        # A recurring series sends nothing itself: checked, then each occurrence is a create of its own.
        series_accept(broadcast=broadcast, context=context, now=now)
        return Accepted(broadcast, context.wallet.available, simulated=request.simulate)
    if request.simulate or request.draft:
        totals = plan_totals_only(Planner(context))
        apply_totals(broadcast, totals, context.wallet.currency)
        if request.simulate:
            check_plan(totals, request=request)
            if totals.total_cost > context.wallet.available:
                raise _short(context.wallet, totals.total_cost)
            broadcast.status = local_time_start(broadcast, totals, start_status(request))
            broadcast.created_at = now
            return Accepted(broadcast, context.wallet.available - totals.total_cost, simulated=True)
        broadcast.status = B.DRAFT
        broadcast.save()
        log.info("broadcast.draft_saved", client_id=str(client.pk), broadcast_id=str(broadcast.pk))
        return Accepted(broadcast, context.wallet.available)
    with transaction.atomic():
        if in_background(client=client, request=request):
            ab_prepare(context, broadcast)
            accept_in_background(broadcast=broadcast, context=context, status=start_status(request))
        else:
            accept(broadcast=broadcast, context=context, status=start_status(request), keep_list=True)
            enqueue_dispatch(broadcast)
    wallet = client_wallet(client)
    log.info(
        "broadcast.created",
        client_id=str(client.pk),
        broadcast_id=str(broadcast.pk),
        recipients=broadcast.total_recipients,
        status=broadcast.status,
    )
    return Accepted(broadcast, wallet.available)
