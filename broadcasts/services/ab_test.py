"""Deciding A/B tests (SPEC §8 "Campaigns"): beat's `decide_ab_tests` finds the tests whose
`ab_decide_at` has come, and decides each once, in its own transaction with its row locked.

A decision: each sample's rate by the test's metric (ab_results.py), the highest wins (ties: the
first); `ab_winner`, `ab_status` `decided`; the rest's messages (pending, `wait_reason` `ab_test`)
are planned again with the winner's content — its text, encoding, parts and cost exactly, quiet
hours from now — and released to dispatch; recipients that are now opted out or unroutable are
skipped, and those no longer in the audience cancelled. The rest was reserved at its costliest
variant, so the difference goes back to the wallet (wallets' ledger: a release); should prices have
risen since the create, the extra is reserved before the test is marked decided.
`broadcast.variant_won` is recorded in the same transaction. So what the reservation holds for the
broadcast always equals what its unsent messages cost.

Without the credit for that extra the test is not decided: the decision's savepoint is rolled back
(the rest keeps its content and cost as reserved, `ab_status` stays `testing`, nothing in the
ledger) and the broadcast pauses with `insufficient_credit`, like a preparation short of credit.
A paused test is not picked (lock_objects.ab_test_due_for_update), so after a top-up `resume`
(lifecycle.broadcast_resume: back to `queued`) lets the next beat decide again at the prices of
then — the winner read again from the results of then; without a top-up it pauses again. Resume
needs nothing of its own: no decided rest ever waits on a reservation too small for it.

Two beats, a retry or a restart decide a test once: the row is taken with SKIP LOCKED and only
while `ab_status` is `testing`, which the decision ends.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import structlog
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.exceptions import InsufficientCreditError
from accounts.sql_values import rows_by_id
from tracking.services import links_write
from wallets.services import wallet_release, wallet_reserve

from .. import queue
from ..ab_fields import AB_DECIDED
from ..ab_results import variant_results, winner_of
from ..events import variant_won_announce
from ..lock_objects import ab_test_due_for_update
from ..models import Broadcast, Message
from ..planning import Planner, Row
from ..states import PAUSE_INSUFFICIENT_CREDIT, WAIT_AB_TEST
from ..transitions import broadcast_move
from ..validation import parse_broadcast_request
from .context import client_wallet, plan_context
from .request import request_data

log = structlog.get_logger(__name__)

M = Message.Status

UPDATE_REST = """
UPDATE broadcasts_message m
   SET (text, encoding, segments, cost, route_code, connector, country_code, status, error_code, not_before,
        wait_reason, language, parameters, queued_at) = (
       SELECT v.text, v.encoding, v.segments, v.cost, v.route_code, v.connector, v.country_code, v.status,
              v.error_code, v.not_before, v.wait_reason, v.language, v.parameters,
              CASE WHEN v.status = 'queued' THEN %(now)s::timestamptz END
         FROM jsonb_to_record(%(rows)s::jsonb -> m.id::text)
              AS v(text text, encoding text, segments int, cost numeric, route_code text, connector text,
                   country_code text, status text, error_code text, not_before timestamptz, wait_reason text,
                   language text, parameters jsonb))
 WHERE m.id = ANY(%(ids)s::bigint[]) AND m.broadcast_id = %(broadcast)s AND m.status = 'pending'
   AND m.wait_reason = 'ab_test'
"""
# Each message reads its own values by id from a JSON object (accounts/sql_values.py): no join
# with a list of values that stale statistics could plan as a loop reading the whole chunk once per
# message of the rest (a rest just written may count as no pending message at all).


def _record_links(broadcast: Broadcast, rows: list[tuple[int, Row]]) -> None:
    """The winner's short links, recorded for the messages they are now in (codes taken already are
    replaced in the text: same length, same parts)."""
    items = [(mid, url, code) for mid, row in rows for url, code in row.links or ()]
    written = iter(links_write(client_id=broadcast.client_id, broadcast_id=broadcast.pk, items=items))
    for _mid, row in rows:
        for _url, code in row.links or ():
            final = next(written)
            if final != code:
                row.text = row.text.replace(f"/r/{code}", f"/r/{final}", 1)


def _update_rest(broadcast: Broadcast, rows: list[tuple[int, Row]], now: datetime) -> None:
    names = ("text", "encoding", "segments", "cost", "route_code", "connector", "country_code", "status",
             "error_code", "not_before", "wait_reason", "language", "parameters")  # fmt: skip
    values = {mid: {name: getattr(row, name) for name in names} for mid, row in rows}
    with connection.cursor() as cursor:
        cursor.execute(
            UPDATE_REST, {"rows": rows_by_id(values), "ids": [mid for mid, _row in rows], "now": now,
                          "broadcast": broadcast.pk},
        )  # fmt: skip


def _render_rest(broadcast: Broadcast, winner: int, now: datetime) -> tuple[Decimal, Decimal]:
    """Plan the rest again with the winner and write it. Returns (cost reserved for it, its cost now)."""
    rest = dict(
        Message.objects.filter(broadcast_id=broadcast.pk, is_test=False, status=M.PENDING, wait_reason=WAIT_AB_TEST)
        .values_list("urn", "id")
        .order_by()
    )
    reserved = sum(Message.objects.filter(pk__in=list(rest.values())).values_list("cost", flat=True), Decimal(0))
    request = parse_broadcast_request(request_data(broadcast), now=broadcast.created_at)
    context, _template = plan_context(client=broadcast.client, request=request, now=now)
    context.start_at = now  # what was scheduled has started: the rest goes from now (quiet hours apply)
    context.split.seed = str(broadcast.pk)
    context.split.winner = winner
    cost = Decimal(0)
    for rows in Planner(context).run():
        mine = [(rest.pop(row.urn), row) for row in rows if row.urn in rest]
        if not mine:
            continue
        for _mid, row in mine:
            if row.status in (M.QUEUED, M.PENDING):
                cost += row.cost
            else:
                row.cost = Decimal(0)
        if any(row.links for _mid, row in mine):
            _record_links(broadcast, mine)
        _update_rest(broadcast, mine, now)
    if rest:  # no longer in the audience (removed from its list, deleted): not sent
        Message.objects.filter(pk__in=list(rest.values()), status=M.PENDING, wait_reason=WAIT_AB_TEST).update(
            status=M.CANCELLED, error_code="ab_recipient_gone", wait_reason="", not_before=None
        )
    return reserved, cost


def _settle(broadcast: Broadcast, reserved: Decimal, cost: Decimal) -> None:
    """The rest was reserved at its costliest variant: give back what the winner does not need, or
    hold what risen prices add (InsufficientCreditError when the wallet has not that much)."""
    wallet = client_wallet(broadcast.client)
    if cost < reserved:
        wallet_release(wallet=wallet, amount=reserved - cost, broadcast_id=broadcast.pk, note="A/B test decided")
    elif cost > reserved:
        wallet_reserve(wallet=wallet, amount=cost - reserved, broadcast_id=broadcast.pk, note="A/B test")


def ab_decide(*, broadcast: Broadcast, now: datetime) -> int:
    """Decide `broadcast`'s test (locked by the caller, inside its transaction). Returns the winner.

    ValidationError (the content cannot be planned) or InsufficientCreditError (risen prices the
    wallet cannot cover, raised before anything marks the test decided): the test is not decided,
    and the caller rolls back to its savepoint so nothing of it stays (the rest as it was)."""
    metric = (broadcast.ab_test or {}).get("metric", "")
    count = len(broadcast.variants)
    results = variant_results(broadcast_id=broadcast.pk, variants=count)
    winner = winner_of(results, metric=metric, variants=count)
    reserved, cost = _render_rest(broadcast, winner, now)
    _settle(broadcast, reserved, cost)  # the extra held before the test is marked decided
    broadcast.ab_winner = winner
    broadcast.ab_status = AB_DECIDED
    broadcast.estimated_cost = max(Decimal(0), broadcast.estimated_cost - reserved + cost)
    broadcast.save(update_fields=["ab_winner", "ab_status", "estimated_cost", "updated_at"])
    shown = [{**results[i].as_dict(metric), "share": v.get("share")} for i, v in enumerate(broadcast.variants)]
    variant_won_announce(broadcast=broadcast, results=shown, decided_at=now)
    queue.dispatch_on_commit(broadcast.pk)
    log.info("broadcast.variant_won", broadcast_id=str(broadcast.pk), winner=winner, metric=metric)
    return winner


def ab_decide_due(*, now: datetime | None = None) -> int:
    """Beat: decide every A/B test whose time has come, each once. Returns how many were decided."""
    now = now or timezone.now()
    decided = 0
    seen: set[uuid.UUID] = set()
    while True:
        with transaction.atomic():
            broadcast = ab_test_due_for_update(now=now, skip=seen)
            if broadcast is None:
                return decided
            seen.add(broadcast.pk)
            try:
                with transaction.atomic():  # a decision not made leaves nothing behind
                    ab_decide(broadcast=broadcast, now=now)
            except InsufficientCreditError:
                # Prices rose beyond the credit: undecided, it waits for a top-up and a resume.
                broadcast_move(
                    broadcast.pk, "pause", Broadcast.Status.PAUSED, paused_at=now,
                    pause_reason=PAUSE_INSUFFICIENT_CREDIT,
                )  # fmt: skip
                log.warning(
                    "broadcast.variant_not_decided", broadcast_id=str(broadcast.pk), reason="insufficient_credit"
                )
                continue
            except ValidationError as exc:
                # The content cannot be planned any more (a variant's template deleted or no longer
                # approved): the rest stays unsent and the broadcast pauses, saying why; a resume
                # tries the decision again.
                reason = f"A/B test not decided: {' '.join(exc.messages)}"[:255]
                broadcast_move(broadcast.pk, "pause", Broadcast.Status.PAUSED, paused_at=now, pause_reason=reason)
                log.warning("broadcast.variant_not_decided", broadcast_id=str(broadcast.pk))
                continue
            decided += 1
