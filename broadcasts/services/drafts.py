"""Drafts and edits: the create body a broadcast was made from, PATCH while draft or scheduled,
sending a draft, deleting one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.exceptions import ConflictError
from contacts.selectors import contact_list_name_taken
from wallets.services import wallet_release

from ..lock_objects import broadcast_for_action
from ..models import Broadcast, Message
from ..planning import Planner, plan_totals_only
from ..validation import parse_broadcast_request
from .context import client_wallet, plan_context
from .create import Accepted, accept, apply_totals, enqueue_dispatch, fill, start_status
from .recurring_runs import series_update
from .request import request_data

log = structlog.get_logger(__name__)

B = Broadcast.Status
M = Message.Status


EDITABLE = frozenset(
    {
        "name", "recipients", "recipient_variables", "contacts", "contact_lists", "exclude_lists", "template",
        "text", "base_language", "attachments", "sender", "purpose", "schedule_mode", "scheduled_at", "drip_rate",
        "route", "tier", "track_links", "optimize_text", "transliterate", "skip_opted_out", "with_replies",
        "list_name", "local_time", "variants", "ab_test",
    }
)  # fmt: skip


def _merge(broadcast: Broadcast, patch: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(patch) - EDITABLE)
    if unknown:
        raise ValidationError(
            {name: [ValidationError(f"'{name}' cannot be changed here.", code="not_editable")] for name in unknown}
        )
    data = request_data(broadcast)
    for exclusive in (("recipients", "recipient_variables"), ("template", "text", "variants")):
        if any(k in patch for k in exclusive):
            for k in exclusive:
                data.pop(k, None)
    if any(k in patch for k in ("template", "text", "variants")) and "ab_test" not in patch:
        data.pop("ab_test", None)  # an A/B test goes with its variants (a text instead ends it)
    data.update(patch)
    mode = data.get("schedule_mode")
    if mode != Broadcast.ScheduleMode.SCHEDULED and "scheduled_at" not in patch:
        data.pop("scheduled_at", None)
    if mode != Broadcast.ScheduleMode.DRIP and "drip_rate" not in patch:
        data.pop("drip_rate", None)
    if mode != Broadcast.ScheduleMode.LOCAL_TIME and "local_time" not in patch:
        data.pop("local_time", None)
    return data


def broadcast_update(*, broadcast: Broadcast, patch: Any) -> Accepted:
    """PATCH while draft or scheduled. A scheduled broadcast is planned again and re-reserved."""
    if broadcast.schedule_mode == Broadcast.ScheduleMode.RECURRING:
        return series_update(series=broadcast, patch=patch)  # a series: its future occurrences
    if not isinstance(patch, dict):
        raise ValidationError("The body must be a JSON object.")
    now = timezone.now()
    with transaction.atomic():
        locked = broadcast_for_action(broadcast, "edit")
        request = parse_broadcast_request(_merge(locked, patch), now=now)
        context, template = plan_context(client=locked.client, request=request, now=now)
        fill(locked, request, template)
        if locked.status == B.DRAFT:
            totals = plan_totals_only(Planner(context))
            apply_totals(locked, totals, context.wallet.currency)
            locked.save()
        else:
            Message.objects.filter(broadcast=locked, is_test=False).delete()
            # The old plan's credit goes back; a test send still on its way keeps its share, which
            # its own record captures or releases (issue 19: a PATCH racing a test send).
            # Read before the wallet's lock: a test recorded meanwhile is kept too, and released
            # with the rest at completion (keeping more than needed is safe, releasing it is not).
            tests_held = Message.objects.filter(
                broadcast=locked, is_test=True, status__in=[M.QUEUED, M.SENDING]
            ).aggregate(total=Sum("cost"))["total"] or Decimal(0)
            wallet_release(wallet=context.wallet, broadcast_id=locked.pk, keep=tests_held, note="Broadcast edited")
            context.wallet.refresh_from_db()
            accept(broadcast=locked, context=context, status=start_status(request), keep_list=False)
            enqueue_dispatch(locked)
    log.info("broadcast.updated", broadcast_id=str(locked.pk), status=locked.status)
    return Accepted(locked, client_wallet(locked.client).available)


def broadcast_send(*, broadcast: Broadcast) -> Accepted:
    """A draft goes: planned now (its audience as it is now), reserved, queued or scheduled."""
    now = timezone.now()
    with transaction.atomic():
        locked = broadcast_for_action(broadcast, "send")
        request = parse_broadcast_request(request_data(locked), now=now)
        if request.list_name and contact_list_name_taken(client=locked.client, name=request.list_name):
            raise ConflictError(f"A contact list named '{request.list_name}' already exists.", code="list_name_taken")
        context, template = plan_context(
            client=locked.client, request=request, now=now, keep_phones=bool(request.list_name)
        )
        fill(locked, request, template)
        accept(broadcast=locked, context=context, status=start_status(request), keep_list=True)
        enqueue_dispatch(locked)
    log.info("broadcast.sent_draft", broadcast_id=str(locked.pk), status=locked.status)
    return Accepted(locked, client_wallet(locked.client).available)


def broadcast_delete(*, broadcast: Broadcast) -> None:
    with transaction.atomic():
        locked = broadcast_for_action(broadcast, "delete")
        if locked.status == B.SCHEDULED:
            wallet_release(wallet=client_wallet(locked.client), broadcast_id=locked.pk, note="Broadcast deleted")
        locked.delete()
    log.info("broadcast.deleted", broadcast_id=str(broadcast.pk))
