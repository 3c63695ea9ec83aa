"""An A/B test's decision and the wallet (SPEC §8 "Campaigns", §7): what the reservation holds for
a broadcast always equals what its unsent messages cost. Prices risen since the create are
reserved before the test is marked decided; without the credit for them the test is not decided
(the rest as it was) and the broadcast pauses for credit, and a top-up and resume let the next beat
decide and send the rest, each message charged exactly its cost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from broadcasts.models import Broadcast, Message
from tests.broadcasts.test_ab_audiences import ab, decide
from tests.broadcasts.test_ab_flow import LONG, SHORT, run
from tests.broadcasts.test_large_audiences import members
from tests.wallets.conftest import assert_ledger_consistent
from wallets.models import LedgerEntry, Route
from wallets.selectors import reservation_state, segment_cost_for_country
from wallets.services import wallet_topup

pytestmark = pytest.mark.django_db

REST_FIELDS = ("id", "text", "segments", "cost", "status", "wait_reason", "not_before")


def unsent_cost(broadcast: Broadcast) -> Decimal:
    return Message.objects.filter(broadcast=broadcast, is_test=False, status__in=["pending", "queued"]).aggregate(
        total=Sum("cost")
    )["total"] or Decimal(0)


def outstanding(broadcast: Broadcast) -> Decimal:
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state is not None
    return state.outstanding


def assert_undecided_and_paused_for_credit(broadcast: Broadcast, rest_before: set[tuple[object, ...]]) -> None:
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.pause_reason) == ("paused", "insufficient_credit")
    assert (broadcast.ab_status, broadcast.ab_winner) == ("testing", None)
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True)
    assert set(rest.values_list(*REST_FIELDS)) == rest_before  # content, cost and wait as reserved
    assert outstanding(broadcast) == unsent_cost(broadcast) == sum(row[3] for row in rest_before)
    assert not LedgerEntry.objects.filter(broadcast_id=broadcast.pk, note="A/B test").exists()
    assert_ledger_consistent()


def test_a_pause_for_credit_at_the_decision_then_top_up_and_resume_send_the_rest_at_its_new_cost(
    make_shop, daytime, recorder
):
    shop = make_shop(balance="0.5")
    broadcast = run(ab(shop, members(shop, 20), variants=[{"text": SHORT, "share": 10}, {"text": LONG, "share": 10}]))
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True).order_by("id")
    rest_before = set(rest.values_list(*REST_FIELDS))
    assert {(row[1], row[4], row[5]) for row in rest_before} == {(LONG, "pending", "ab_test")}  # the costliest
    reserved_rest = sum(row[3] for row in rest_before)
    Route.objects.filter(country_code="UG").update(price_per_segment=Decimal("3500"))  # ×100

    # The winner's cost now is beyond the credit: not decided, nothing of it written.
    assert decide(broadcast) == 0
    assert_undecided_and_paused_for_credit(broadcast, rest_before)

    # A resume without a top-up: the next beat tries again and pauses again, still undecided.
    assert shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/resume/").status_code == 200
    assert decide(broadcast) == 0
    assert_undecided_and_paused_for_credit(broadcast, rest_before)

    wallet_topup(wallet=shop.refresh(), amount=Decimal("20"), note="top-up")
    assert shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/resume/").status_code == 200
    assert decide(broadcast) == 1
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.ab_status, broadcast.ab_winner) == ("queued", "decided", 0)
    unit = segment_cost_for_country(wallet=shop.refresh(), country_code="UG", channel="sms", tier="premium")
    assert unit is not None
    assert unit > 0
    decided = list(rest.values_list("text", "segments", "cost", "status"))
    assert {(text, status) for text, _segments, _cost, status in decided} == {(SHORT, "queued")}
    assert all(cost == segments * unit for _text, segments, cost, _status in decided)
    rest_cost = sum(cost for _text, _segments, cost, _status in decided)
    # The extra was reserved with the decision: the reservation holds exactly what is left to send.
    extra = LedgerEntry.objects.get(broadcast_id=broadcast.pk, note="A/B test")
    assert (extra.kind, extra.amount) == ("reserve", rest_cost - reserved_rest)
    assert outstanding(broadcast) == unsent_cost(broadcast) == rest_cost == shop.refresh().reserved
    assert_ledger_consistent()

    broadcast = run(broadcast)
    assert broadcast.status == "sent"
    assert not rest.filter(sent_at__isnull=True).exists()
    assert list(rest.values_list("cost", flat=True)) == [cost for _text, _segments, cost, _status in decided]
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state is not None
    charged = sum(Message.objects.filter(broadcast=broadcast).values_list("cost", flat=True))
    assert (state.captured, state.outstanding) == (charged, 0)  # each message charged exactly its cost
    wallet = shop.refresh()
    assert (wallet.balance, wallet.reserved) == (Decimal("20.5") - charged, 0)
    assert_ledger_consistent()


def test_prices_risen_within_the_credit_are_reserved_with_the_decision(shop, daytime, recorder):
    broadcast = run(ab(shop, members(shop, 20), variants=[{"text": SHORT, "share": 10}, {"text": SHORT, "share": 10}]))
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True)
    reserved_rest = sum(rest.values_list("cost", flat=True))
    assert outstanding(broadcast) == unsent_cost(broadcast) == reserved_rest
    Route.objects.filter(country_code="UG").update(price_per_segment=Decimal("70"))  # ×2
    assert decide(broadcast) == 1
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.ab_status) == ("sending", "decided")
    assert set(rest.values_list("status", flat=True)) == {"queued"}
    rest_cost = sum(rest.values_list("cost", flat=True))
    assert rest_cost == 2 * reserved_rest
    # Right after the decision the reservation holds exactly what the messages left to send cost.
    assert outstanding(broadcast) == unsent_cost(broadcast) == rest_cost == shop.refresh().reserved
    assert LedgerEntry.objects.get(broadcast_id=broadcast.pk, note="A/B test").amount == rest_cost - reserved_rest
    assert_ledger_consistent()
    broadcast = run(broadcast)
    assert broadcast.status == "sent"
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state is not None
    assert (state.captured, state.outstanding) == (
        sum(Message.objects.filter(broadcast=broadcast).values_list("cost", flat=True)),
        0,
    )
    assert shop.refresh().reserved == 0
