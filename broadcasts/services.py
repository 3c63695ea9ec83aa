"""Creating broadcasts: precheck, simulate, draft, create, send a draft, edit, delete.

A broadcast is accepted in one transaction: the broadcast row, every message row (COPY, chunk by
chunk as the planner produces them), the optional `list_name` list, and last the wallet reservation.
Anything that fails — too little credit (402), a compliance rule, a race on a list name — rolls all
of it back, so nothing is created. The wallet row is locked only for the final reservation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.exceptions import ConflictError, InsufficientCreditError
from accounts.models import ApiKey, Client, User
from contacts.selectors import contact_list_name_taken, contact_lists_by_ids
from contacts.services import contact_list_create_with_phones
from templates_app.rendering import compile_template
from templates_app.selectors import templates_for_use
from wallets.models import Wallet
from wallets.pricing import money
from wallets.selectors import exchange_rates, price_routes, wallet_get
from wallets.services import wallet_release, wallet_reserve

from .models import Broadcast, Message
from .planning import (
    PlanContext,
    Planner,
    PlanTotals,
    Row,
    check_plan,
    plan_totals_only,
    plan_warnings,
    versions_from_text,
)
from .senders import sender_is_registered
from .states import ACTIONS
from .validation import BroadcastRequest, parse_broadcast_request

log = structlog.get_logger(__name__)

B = Broadcast.Status
COPY_COLUMNS = (
    "broadcast_id", "client_id", "contact_id", "urn", "channel", "text", "encoding", "segments", "cost",
    "route_code", "connector", "country_code", "status", "error_code", "error_message", "attempts",
    "not_before", "lease_until", "is_test", "clicked", "queued_at", "created_at", "language", "parameters",
)  # fmt: skip


# --- context ------------------------------------------------------------------------------------


def client_wallet(client: Client) -> Wallet:
    """The client's wallet; a client without one cannot send (409 no_wallet)."""
    wallet = wallet_get(client=client)
    if wallet is None:
        raise ConflictError("This client has no wallet; create one before sending.", code="no_wallet")
    return wallet


def plan_context(
    *, client: Client, request: BroadcastRequest, now: datetime, keep_phones: bool = False
) -> tuple[PlanContext, Any]:
    """Check what needs the database (template, sender, lists, route) and load prices. Returns the
    context and the template used (or None)."""
    errors: dict[str, list[ValidationError]] = {}
    template = None
    versions = {}
    if request.template:
        try:
            usable = templates_for_use(client=client, name=request.template, channel=request.channel)
        except ValidationError as exc:
            errors.update(exc.error_dict)
        else:
            versions = {language: compile_template(t.content) for language, t in usable.items()}
            template = usable.get(request.base_language) or usable[sorted(usable)[0]]
    else:
        versions = versions_from_text(request.text or {})
    if request.sender and not sender_is_registered(client=client, sender=request.sender, channel=request.channel):
        errors["sender"] = [
            ValidationError(
                f"'{request.sender}' is not a sender registered for {request.channel} on this account.",
                code="sender_not_registered",
            )
        ]
    routes = price_routes(client=client, channel=request.channel)
    if request.route and not any(r.route_code == request.route and r.tier == request.tier for r in routes):
        errors["route"] = [
            ValidationError(
                f"No {request.tier} {request.channel} route has the code '{request.route}'.", code="unknown_route"
            )
        ]
    if errors:
        raise ValidationError(errors)
    if request.list_ids:
        contact_lists_by_ids(client=client, ids=request.list_ids, field="contact_lists")
    if request.exclude_list_ids:
        contact_lists_by_ids(client=client, ids=request.exclude_list_ids, field="exclude_lists")
    start_at = request.scheduled_at if request.schedule_mode == Broadcast.ScheduleMode.SCHEDULED else now
    context = PlanContext(
        client=client,
        request=request,
        wallet=client_wallet(client),
        routes=routes,
        rates=exchange_rates(),
        versions=versions,
        now=now,
        start_at=start_at or now,
        keep_phones=keep_phones,
    )
    return context, template


# --- precheck -----------------------------------------------------------------------------------


def precheck_body(totals: PlanTotals, wallet: Wallet) -> dict[str, Any]:
    breakdown = totals.breakdown()
    return {
        "total_contacts": totals.total_contacts,
        "total_segments": totals.total_segments,
        "total_cost": money(totals.total_cost),
        "wallet_currency": wallet.currency,
        "wallet_balance": money(wallet.balance),
        "balance_after": money(wallet.balance - totals.total_cost),
        "sufficient_balance": totals.total_cost <= wallet.available,
        "countries": len({line.country_code for line in breakdown}),
        "breakdown": [line.as_dict() for line in breakdown],
        "unroutable_count": totals.unroutable_count,
        "unroutable": totals.unroutable,
        "invalid_count": totals.invalid_count,
        "invalid": totals.invalid,
        "opted_out_count": totals.opted_out_count,
        "duplicate_count": totals.duplicate_count,
        "encoding": totals.encoding,
        "segments_per_message": totals.max_segments,
        "non_gsm_characters": list(totals.non_gsm),
        "missing_variables": dict(sorted(totals.missing_variables.items())),
        "warnings": plan_warnings(totals),
    }


def broadcast_precheck(*, client: Client, data: Any) -> dict[str, Any]:
    """SPEC §8 precheck: what create would do, with nothing created or reserved."""
    now = timezone.now()
    request = parse_broadcast_request(data, now=now)
    context, _ = plan_context(client=client, request=request, now=now)
    totals = plan_totals_only(Planner(context))
    return precheck_body(totals, context.wallet)


# --- create ---------------------------------------------------------------------------------------


@dataclass
class Accepted:
    """A created (or simulated) broadcast and the wallet's available credit after it."""

    broadcast: Broadcast
    residual_credit: Decimal
    simulated: bool = False


def _fill(broadcast: Broadcast, request: BroadcastRequest, template: Any) -> None:
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
    broadcast.skip_opted_out = request.skip_opted_out
    broadcast.with_replies = request.with_replies
    broadcast.list_name = request.list_name
    broadcast.audience = request.audience_json()


def _apply_totals(broadcast: Broadcast, totals: PlanTotals, currency: str) -> None:
    broadcast.total_recipients = totals.total_contacts
    broadcast.total_segments = totals.total_segments
    broadcast.estimated_cost = totals.total_cost
    broadcast.currency = currency
    broadcast.skipped_invalid = totals.invalid_count
    broadcast.skipped_opted_out = totals.opted_out_count
    broadcast.skipped_unroutable = totals.unroutable_count
    broadcast.duplicates = totals.duplicate_count


def _copy_rows(broadcast: Broadcast, rows: list[Row], now: datetime) -> None:
    # Ids go in as text: psycopg's UUID dumper is Python-level, and at a million rows it shows.
    broadcast_id, client_id, channel = str(broadcast.pk), str(broadcast.client_id), broadcast.channel
    queued = Message.Status.QUEUED
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3: COPY goes through the driver's own cursor
        with raw.copy(f"COPY broadcasts_message ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            write = copy.write_row
            for r in rows:
                contact = r.contact_id
                write(
                    (
                        broadcast_id, client_id, contact if contact is None else str(contact), r.urn, channel,
                        r.text, r.encoding, r.segments, r.cost, r.route_code, r.connector, r.country_code, r.status,
                        r.error_code, "", 0, r.not_before, None, False, False, now if r.status == queued else None,
                        now, r.language, None if r.parameters is None else json.dumps(r.parameters),
                    )
                )  # fmt: skip


def _materialize(broadcast: Broadcast, context: PlanContext) -> PlanTotals:
    """Plan and write every message row of `broadcast` (inside the caller's transaction)."""
    planner = Planner(context)
    available = context.wallet.available
    for rows in planner.run():
        if rows:
            _copy_rows(broadcast, rows, context.now)
        if planner.totals.total_cost > available:
            # Fail early on a large list: the final reservation would refuse it anyway.
            raise _short(context.wallet, planner.totals.total_cost)
    return planner.totals


def _short(wallet: Wallet, needed: Decimal) -> InsufficientCreditError:
    return InsufficientCreditError(
        f"This broadcast needs {money(needed)} {wallet.currency}; {money(wallet.available)} {wallet.currency} "
        "is available.",
    )


def _accept(*, broadcast: Broadcast, context: PlanContext, status: str, keep_list: bool) -> PlanTotals:
    """Write rows, check the rules, create the list, reserve: all in the caller's transaction."""
    request = context.request
    totals = _materialize(broadcast, context)
    check_plan(totals, request=request)
    _apply_totals(broadcast, totals, context.wallet.currency)
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


def reserve_after_checks(*, wallet: Wallet, amount: Decimal, broadcast_id: Any, note: str) -> None:
    """Reserve credit for rows just written, after their deferred foreign-key checks.

    The checks would otherwise run at COMMIT: at a million rows that takes seconds with the wallet
    row locked. They also lock the broadcast row (KEY SHARE), and taking that before the wallet
    keeps one lock order with retry-failed and cancel (broadcast, then wallet): a test send that
    reserved first and checked at COMMIT deadlocked against them.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        try:
            wallet_reserve(wallet=wallet, amount=amount, broadcast_id=broadcast_id, note=note)
        finally:
            # Back to Django's default (every foreign key DEFERRABLE INITIALLY DEFERRED).
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _start_status(request: BroadcastRequest) -> str:
    return B.SCHEDULED if request.schedule_mode == Broadcast.ScheduleMode.SCHEDULED else B.QUEUED


def _enqueue_dispatch(broadcast: Broadcast) -> None:
    if broadcast.status == B.QUEUED:
        from .tasks import dispatch_broadcast

        broadcast_id = str(broadcast.pk)
        transaction.on_commit(lambda: dispatch_broadcast.delay(broadcast_id))


def broadcast_create(*, client: Client, data: Any, api_key: ApiKey | None = None, user: User | None = None) -> Accepted:
    now = timezone.now()
    request = parse_broadcast_request(data, now=now)
    if request.list_name and contact_list_name_taken(client=client, name=request.list_name):
        raise ConflictError(f"A contact list named '{request.list_name}' already exists.", code="list_name_taken")
    context, template = plan_context(client=client, request=request, now=now, keep_phones=bool(request.list_name))
    broadcast = Broadcast(client=client, created_by_key=api_key, created_by_user=user)
    _fill(broadcast, request, template)
    if request.simulate or request.draft:
        totals = plan_totals_only(Planner(context))
        _apply_totals(broadcast, totals, context.wallet.currency)
        if request.simulate:
            check_plan(totals, request=request)
            if totals.total_cost > context.wallet.available:
                raise _short(context.wallet, totals.total_cost)
            broadcast.status = _start_status(request)
            broadcast.created_at = now
            return Accepted(broadcast, context.wallet.available - totals.total_cost, simulated=True)
        broadcast.status = B.DRAFT
        broadcast.save()
        log.info("broadcast.draft_saved", client_id=str(client.pk), broadcast_id=str(broadcast.pk))
        return Accepted(broadcast, context.wallet.available)
    with transaction.atomic():
        _accept(broadcast=broadcast, context=context, status=_start_status(request), keep_list=True)
        _enqueue_dispatch(broadcast)
    wallet = client_wallet(client)
    log.info(
        "broadcast.created",
        client_id=str(client.pk),
        broadcast_id=str(broadcast.pk),
        recipients=broadcast.total_recipients,
        status=broadcast.status,
    )
    return Accepted(broadcast, wallet.available)


# --- drafts and edits -------------------------------------------------------------------------


def request_data(broadcast: Broadcast) -> dict[str, Any]:
    """The create body that would make this broadcast (for sending a draft or applying a PATCH)."""
    audience = broadcast.audience or {}
    recipients = audience.get("recipients") or []
    data: dict[str, Any] = {
        "name": broadcast.name,
        "channel": broadcast.channel,
        "contacts": audience.get("contacts") or [],
        "contact_lists": audience.get("contact_lists") or [],
        "exclude_lists": audience.get("exclude_lists") or [],
        "attachments": broadcast.attachments or [],
        "sender": broadcast.sender,
        "purpose": broadcast.purpose,
        "schedule_mode": broadcast.schedule_mode,
        "route": broadcast.route_code,
        "tier": broadcast.tier,
        "track_links": broadcast.track_links,
        "optimize_text": broadcast.optimize_text,
        "skip_opted_out": broadcast.skip_opted_out,
        "with_replies": broadcast.with_replies,
        "list_name": broadcast.list_name,
        "base_language": broadcast.base_language,
    }
    if any(r.get("variables") for r in recipients):
        data["recipient_variables"] = [{"urn": r["address"], **r.get("variables", {})} for r in recipients]
    elif recipients:
        data["recipients"] = [r["address"] for r in recipients]
    if broadcast.template_name:
        data["template"] = broadcast.template_name
    else:
        texts = broadcast.text or {}
        data["text"] = texts.get("") if list(texts) == [""] else texts
    if broadcast.scheduled_at and broadcast.schedule_mode == Broadcast.ScheduleMode.SCHEDULED:
        data["scheduled_at"] = broadcast.scheduled_at.isoformat()
    if broadcast.drip_rate:
        data["drip_rate"] = broadcast.drip_rate
    return data


EDITABLE = frozenset(
    {
        "name", "recipients", "recipient_variables", "contacts", "contact_lists", "exclude_lists", "template",
        "text", "base_language", "attachments", "sender", "purpose", "schedule_mode", "scheduled_at", "drip_rate",
        "route", "tier", "track_links", "optimize_text", "skip_opted_out", "with_replies", "list_name",
    }
)  # fmt: skip


def _merge(broadcast: Broadcast, patch: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(patch) - EDITABLE)
    if unknown:
        raise ValidationError(
            {name: [ValidationError(f"'{name}' cannot be changed here.", code="not_editable")] for name in unknown}
        )
    data = request_data(broadcast)
    for exclusive in (("recipients", "recipient_variables"), ("template", "text")):
        if any(k in patch for k in exclusive):
            for k in exclusive:
                data.pop(k, None)
    data.update(patch)
    mode = data.get("schedule_mode")
    if mode != Broadcast.ScheduleMode.SCHEDULED and "scheduled_at" not in patch:
        data.pop("scheduled_at", None)
    if mode != Broadcast.ScheduleMode.DRIP and "drip_rate" not in patch:
        data.pop("drip_rate", None)
    return data


def _lock(broadcast: Broadcast, action: str) -> Broadcast:
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status not in ACTIONS[action].sources:
        raise ConflictError(f"{ACTIONS[action].describe} This one is {locked.status}.")
    return locked


def broadcast_update(*, broadcast: Broadcast, patch: Any) -> Accepted:
    """PATCH while draft or scheduled. A scheduled broadcast is planned again and re-reserved."""
    if not isinstance(patch, dict):
        raise ValidationError("The body must be a JSON object.")
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(broadcast, "edit")
        request = parse_broadcast_request(_merge(locked, patch), now=now)
        context, template = plan_context(client=locked.client, request=request, now=now)
        _fill(locked, request, template)
        if locked.status == B.DRAFT:
            totals = plan_totals_only(Planner(context))
            _apply_totals(locked, totals, context.wallet.currency)
            locked.save()
        else:
            Message.objects.filter(broadcast=locked, is_test=False).delete()
            wallet_release(wallet=context.wallet, broadcast_id=locked.pk, note="Broadcast edited")
            context.wallet.refresh_from_db()
            _accept(broadcast=locked, context=context, status=_start_status(request), keep_list=False)
            _enqueue_dispatch(locked)
    log.info("broadcast.updated", broadcast_id=str(locked.pk), status=locked.status)
    return Accepted(locked, client_wallet(locked.client).available)


def broadcast_send(*, broadcast: Broadcast) -> Accepted:
    """A draft goes: planned now (its audience as it is now), reserved, queued or scheduled."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(broadcast, "send")
        request = parse_broadcast_request(request_data(locked), now=now)
        if request.list_name and contact_list_name_taken(client=locked.client, name=request.list_name):
            raise ConflictError(f"A contact list named '{request.list_name}' already exists.", code="list_name_taken")
        context, template = plan_context(
            client=locked.client, request=request, now=now, keep_phones=bool(request.list_name)
        )
        _fill(locked, request, template)
        _accept(broadcast=locked, context=context, status=_start_status(request), keep_list=True)
        _enqueue_dispatch(locked)
    log.info("broadcast.sent_draft", broadcast_id=str(locked.pk), status=locked.status)
    return Accepted(locked, client_wallet(locked.client).available)


def broadcast_delete(*, broadcast: Broadcast) -> None:
    with transaction.atomic():
        locked = _lock(broadcast, "delete")
        if locked.status == B.SCHEDULED:
            wallet_release(wallet=client_wallet(locked.client), broadcast_id=locked.pk, note="Broadcast deleted")
        locked.delete()
    log.info("broadcast.deleted", broadcast_id=str(broadcast.pk))
