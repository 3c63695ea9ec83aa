"""What every way of making a broadcast needs first: the client's wallet, and the plan's context
(template, sender, lists and routes checked against the database; prices loaded). The precheck is
this context planned without writing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.exceptions import ConflictError
from accounts.models import Client
from contacts.selectors import contact_lists_by_ids
from templates_app.rendering import compile_template
from templates_app.selectors import templates_for_use
from tracking.rewrite import Rewriter
from wallets.models import Wallet
from wallets.pricing import money
from wallets.selectors import exchange_rates, price_routes, wallet_get

from ..ab_fields import ab_precheck
from ..local_time import precheck_fields
from ..models import Broadcast
from ..plan_checks import plan_warnings
from ..planning import PlanContext, Planner, PlanTotals, plan_totals_only, versions_from_text
from ..validation import BroadcastRequest, parse_broadcast_request
from .ab_context import ab_split
from .plan_memo import remembered
from .senders import sender_is_registered


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
    split = ab_split(client=client, request=request, first=versions, errors=errors)
    if request.sender and not remembered(
        ("sender", client.pk, request.sender, request.channel),
        lambda: sender_is_registered(client=client, sender=request.sender, channel=request.channel),
    ):
        errors["sender"] = [
            ValidationError(
                f"'{request.sender}' is not a sender registered for {request.channel} on this account.",
                code="sender_not_registered",
            )
        ]
    # A burst of series occurrences shares these lookups (plan_memo.py); a request never does.
    routes = remembered(
        ("routes", client.pk, request.channel), lambda: price_routes(client=client, channel=request.channel)
    )
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
        rates=remembered("rates", exchange_rates),
        versions=versions,
        now=now,
        start_at=start_at or now,
        keep_phones=keep_phones,
        rewriter=Rewriter(settings.TRACKING_BASE_URL) if request.track_links else None,
        split=split,
    )
    return context, template


def precheck_body(totals: PlanTotals, wallet: Wallet, split: Any = None) -> dict[str, Any]:
    breakdown = totals.breakdown()
    body: dict[str, Any] = {
        "total_contacts": totals.total_contacts,
        "total_segments": totals.total_segments,
        "total_cost": money(totals.total_cost),
        "wallet_currency": wallet.currency,
        "wallet_balance": money(wallet.balance),
        # SPEC §8: what is left to spend after it (reservations of other broadcasts deducted), and
        # sufficient exactly when the create would not answer 402.
        "wallet_available": money(wallet.available),
        "balance_after": money(wallet.available - totals.total_cost),
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
    if totals.free_text:
        # WhatsApp free text (SPEC §14): recipients outside the 24-hour window, skipped like the others.
        body["whatsapp_window_closed_count"] = totals.window_closed_count
    if totals.local_time is not None:
        # Local time (SPEC §8): recipients per send time and zone; those whose time had passed.
        body.update(precheck_fields(totals.local_time))
    if split is not None:  # A/B (SPEC §8): each sample at its own variant, the rest at the costliest
        body.update(ab_precheck(split.precheck()))
    if totals.tracked_links:
        body["link_tracking"] = {
            "links": totals.tracked_links,
            "segments_saved": totals.segments_saved_by_tracking,
        }
    return body


def broadcast_precheck(*, client: Client, data: Any) -> dict[str, Any]:
    """SPEC §8 precheck: what create would do, with nothing created or reserved."""
    now = timezone.now()
    request = parse_broadcast_request(data, now=now, default_timezone=client.timezone)
    context, _ = plan_context(client=client, request=request, now=now)
    totals = plan_totals_only(Planner(context))
    return precheck_body(totals, context.wallet, context.split)


def planned_rows(*, client: Client, request: BroadcastRequest, now: datetime) -> Iterator[Any]:
    """The message rows a create of `request` would write, recipient by recipient, skipped ones
    included (`status` skipped, `error_code` the reason), writing nothing: what a simulation shows
    per recipient (the Octopush legacy answer lists each one)."""
    context, _ = plan_context(client=client, request=request, now=now)
    for rows in Planner(context).run():
        yield from rows
