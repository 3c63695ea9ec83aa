"""Occurrences in bulk: a burst of due series that would each create the same broadcast (issue 22:
10,000 series firing in one minute).

recurring_runs.py locks a chunk of due series at once and groups the occurrences it must create by
what their child would be: the same client, the same author and the same create body (a tenant's
series cloned per branch or per team mostly are). A group is planned once — its request parsed, its
context (sender, routes, prices) checked, its audience resolved now, its rules checked — and then
every occurrence of the group gets its own child broadcast: the children inserted in one statement,
each child's message rows copied, each reserved in order under one lock of the wallet
(`wallet_reserve_each`). A child whose cost is no longer available is not created: its occurrence
fails `insufficient_credit` and `broadcast.failed` is announced, exactly as the one-by-one path
(`occurrence_fire`) does; the others go on. A plan that breaks a rule fails every occurrence of
the group with that rule's code.

What the one-by-one path does differently is left to it (`occurrences_fire_group` answers False
before recording anything): an audience prepared in the background, tracked links (codes are per
message), A/B tests, a suspended client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts.exceptions import HeraldError
from accounts.models import Client
from accounts.sql_values import rows_by_id
from wallets.pricing import money
from wallets.services import wallet_reserve_each

from .. import queue
from ..events import broadcast_failed_announce
from ..models import Broadcast, Message, Occurrence
from ..plan_checks import check_plan
from ..planning import Planner
from ..validation import parse_broadcast_request
from ..writing import messages_write
from .context import plan_context
from .create import apply_totals, fill
from .prepare import in_background

log = structlog.get_logger(__name__)

B = Broadcast.Status
O = Occurrence.Status  # noqa: E741 - the house's one-letter status aliases (B, M)

# (series, the occurrence's instant)
Due = tuple[Broadcast, datetime]


def group_key(series: Broadcast, data: dict[str, Any]) -> tuple[Any, ...]:
    """Occurrences with the same key create the same child (but for its name, parent and instant)."""
    body = json.dumps({k: v for k, v in data.items() if k != "name"}, sort_keys=True, default=str)
    return (series.client_id, series.created_by_key_id, series.created_by_user_id, body)


def occurrences_claim_many(*, due: Sequence[Due]) -> dict[uuid.UUID, int]:
    """Record these occurrences `created` at once: {series id: occurrence id} of those recorded now
    (one recorded before, by a second beat or a restart, is left out: never created again)."""
    if not due:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO broadcasts_occurrence (series_id, occurrence_at, status, error_code, error_message, created_at)
            SELECT s, a, %s, '', '', %s FROM unnest(%s::uuid[], %s::timestamptz[]) AS d(s, a)
            ON CONFLICT (series_id, occurrence_at) DO NOTHING
            RETURNING series_id, id
            """,
            [O.CREATED, timezone.now(), [s.pk for s, _ in due], [at for _, at in due]],
        )
        return {series_id: int(occurrence_id) for series_id, occurrence_id in cursor.fetchall()}


def occurrences_fire_group(*, client: Client, data: dict[str, Any], due: Sequence[Due], now: datetime) -> bool:
    """Create the occurrences `due` (series of one group, locked by the caller, in its transaction)
    as children planned once. False when the group is not for this path (nothing recorded then)."""
    try:
        request = parse_broadcast_request(data, now=now, default_timezone=client.timezone)
    except ValidationError:
        return False  # the one-by-one path records each failure with its own message
    if (
        not client.is_active
        or request.track_links
        or request.ab is not None
        or request.list_name
        or in_background(client=client, request=request)
    ):
        return False
    claimed = occurrences_claim_many(due=due)
    mine = [(series, at, claimed[series.pk]) for series, at in due if series.pk in claimed]
    if not mine:
        return True
    try:
        context, template = plan_context(client=client, request=request, now=now)
        planner = Planner(context)
        rows = [row for chunk in planner.run() for row in chunk]
        totals = planner.totals
        check_plan(totals, request=request)
    except ValidationError as exc:
        _fail(mine, *first_problem(exc))
        return True
    except HeraldError as exc:
        _fail(mine, exc.code, exc.message)
        return True
    children = []
    for series, at, _occurrence in mine:
        child = Broadcast(
            client=client,
            created_by_key_id=series.created_by_key_id,
            created_by_user_id=series.created_by_user_id,
            parent_id=series.pk,
            occurrence_at=at,
        )
        fill(child, request, template)
        child.name = series.name  # the one part of the body a group's children do not share
        apply_totals(child, totals, context.wallet.currency)
        child.status = B.QUEUED
        children.append(child)
    Broadcast.objects.bulk_create(children)
    for child in children:  # the group's planned rows: the same recipients, texts and costs for each
        messages_write(child, rows, now=now)
    held = _reserve(children, context.wallet, totals.total_cost)
    refused = [(child, entry) for child, entry in zip(children, mine, strict=True) if child.pk not in held]
    if refused:
        gone = [child.pk for child, _ in refused]
        Message.objects.filter(broadcast_id__in=gone).delete()
        Broadcast.objects.filter(pk__in=gone).delete()
        wallet, currency = context.wallet, context.wallet.currency
        needed = (
            f"This broadcast needs {money(totals.total_cost)} {currency}; {money(wallet.available)} {currency} "
            "is available."
        )
        _fail([entry for _, entry in refused], "insufficient_credit", needed)
    created = [(child, entry) for child, entry in zip(children, mine, strict=True) if child.pk in held]
    if created:
        _link([(entry[2], child.pk) for child, entry in created])
    for child, (series, at, _occurrence) in created:
        queue.dispatch_on_commit(child.pk)
        log.info("series.occurred", broadcast_id=str(series.pk), child_id=str(child.pk), occurrence_at=at.isoformat())
    return True


def _reserve(children: list[Broadcast], wallet: Any, cost: Decimal) -> set[uuid.UUID]:
    """The children whose cost was held, in order; all of them when they cost nothing. The rows'
    deferred foreign keys are checked first, so the wallet stays locked only for the holds."""
    if cost <= 0:
        return {child.pk for child in children}
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        try:
            holds = [(child.pk, cost, f"Broadcast {child.name[:100]}") for child in children]
            return set(wallet_reserve_each(wallet=wallet, holds=holds))
        finally:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _link(pairs: list[tuple[int, uuid.UUID]]) -> None:
    with connection.cursor() as cursor:
        # Rows by `id = ANY`, each reading its value by id (accounts/sql_values.py): no join to plan.
        cursor.execute(
            "UPDATE broadcasts_occurrence o SET broadcast_id = (%s::jsonb ->> o.id::text)::uuid WHERE o.id = ANY(%s)",
            [rows_by_id({o: str(b) for o, b in pairs}), [o for o, _ in pairs]],
        )


def _fail(entries: Sequence[tuple[Broadcast, datetime, int]], code: str, message: str) -> None:
    Occurrence.objects.filter(pk__in=[occurrence for _, _, occurrence in entries]).update(
        status=O.FAILED, error_code=code, error_message=message[:500]
    )
    for series, at, _occurrence in entries:
        broadcast_failed_announce(broadcast=series, occurrence_at=at, error_code=code, error_message=message)
        log.info("series.occurrence_failed", broadcast_id=str(series.pk), occurrence_at=at.isoformat(), error_code=code)


def first_problem(exc: ValidationError) -> tuple[str, str]:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            for error in errors:
                return error.code or "invalid", f"{name}: {' '.join(error.messages)}"
    return exc.code or "invalid", " ".join(exc.messages)
