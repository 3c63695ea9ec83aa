"""SPEC §8/§10 (issue 21, point 1): every waiting message says when it may go and why
(`not_before`, `wait_reason`), and a broadcast's stats count the waiting apart from the queued —
the same figures on the message, the broadcast and the counters."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broadcasts.counters import counts_for, counts_recount
from broadcasts.dispatch import dispatch_batch
from broadcasts.models import Broadcast, Message
from broadcasts.services import prepare
from broadcasts.services.prepare_ahead import prepare_run
from tests.broadcasts.conftest import FR, UG
from tests.broadcasts.test_large_audiences import members
from wallets.services import wallet_reserve, wallet_topup

pytestmark = pytest.mark.django_db

SATURDAY_NIGHT = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # 23:00 in Paris, then a quiet Sunday
MONDAY_8_PARIS = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def messages(shop, broadcast: Broadcast) -> dict[str, dict]:
    rows = shop.api.get("/api/v1/messages/", {"broadcast": str(broadcast.pk)}).json()["results"]
    return {row["urn"]: row for row in rows}


def stats(shop, broadcast: Broadcast) -> dict:
    return shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()["stats"]


def test_quiet_hours_say_why_and_until_when_and_count_as_waiting(shop, recorder):
    with time_machine.travel(SATURDAY_NIGHT, tick=False):
        broadcast = shop.broadcast(shop.create(recipients=[FR, UG], text="Promo STOP"))
        dispatch_batch(broadcast)
        rows = messages(shop, broadcast)
        french, ugandan = rows[f"tel:{FR}"], rows[f"tel:{UG}"]
        assert (french["status"], french["wait_reason"]) == ("pending", "quiet_hours")
        assert datetime.fromisoformat(french["not_before"]) == MONDAY_8_PARIS
        assert (ugandan["status"], ugandan["not_before"], ugandan["wait_reason"]) == ("sent", None, None)
        shown = stats(shop, broadcast)
        assert (shown["waiting"], shown["queued"], shown["sent"]) == (1, 0, 1)
    with time_machine.travel(MONDAY_8_PARIS + timedelta(minutes=1), tick=False):
        assert messages(shop, broadcast)[f"tel:{FR}"]["wait_reason"] is None  # due now: no longer waiting
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        assert stats(shop, broadcast)["waiting"] == 0
    assert counts_for(broadcast_ids=[broadcast.pk]) == counts_recount(broadcast_ids=[broadcast.pk])


def test_a_scheduled_broadcast_waits_for_its_time(shop, daytime):
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    broadcast = shop.broadcast(
        shop.create(recipients=[UG, "+256772000002"], schedule_mode="scheduled", scheduled_at=at.isoformat())
    )
    rows = list(messages(shop, broadcast).values())
    assert {(r["status"], r["wait_reason"]) for r in rows} == {("pending", "scheduled")}
    assert {datetime.fromisoformat(r["not_before"]) for r in rows} == {at}
    assert (stats(shop, broadcast)["waiting"], stats(shop, broadcast)["queued"]) == (2, 0)
    counts = counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk]
    assert (counts.waiting, counts.queued) == (2, 2)  # the counter keeps `queued` as every active message
    assert counts == counts_recount(broadcast_ids=[broadcast.pk])[broadcast.pk]


def test_a_drip_waits_for_its_slots(shop, daytime):
    broadcast = shop.broadcast(
        shop.create(recipients=[UG, "+256772000002", "+256772000003"], schedule_mode="drip", drip_rate=1)
    )
    rows = sorted(messages(shop, broadcast).values(), key=lambda r: r["id"])
    waiting = [r for r in rows if r["wait_reason"] is not None]
    assert {r["wait_reason"] for r in waiting} == {"drip"}
    assert len(waiting) >= 2  # the first slot may be now
    assert stats(shop, broadcast)["waiting"] == Counter(r["status"] for r in rows)["pending"]


def test_a_retry_says_retry_and_when(shop, daytime, recorder):
    broadcast = shop.broadcast(shop.create(recipients=[UG]))
    recorder.mode = "transient"
    dispatch_batch(broadcast)
    message = Message.objects.get(broadcast=broadcast)
    row = messages(shop, broadcast)[f"tel:{UG}"]
    assert (row["status"], row["wait_reason"]) == ("sending", "retry")
    assert datetime.fromisoformat(row["not_before"]) == message.lease_until
    assert message.lease_until > timezone.now()


def test_the_precheck_warns_who_waits_for_quiet_hours_and_until_when_their_time(shop):
    with time_machine.travel(SATURDAY_NIGHT, tick=False):
        body = shop.precheck(recipients=[FR, "+33612345679", UG], text="Promo STOP").json()
    warning = next(w for w in body["warnings"] if w["code"] == "quiet_hours")
    assert warning["message"] == (
        "2 recipients are in quiet hours at the send time: they will receive it when their quiet hours "
        "end, the first on Monday 08:00 their time (2026-11-30T07:00:00Z)."
    )
    with time_machine.travel(SATURDAY_NIGHT, tick=False):
        transactional = shop.precheck(recipients=[FR], text="Your code", purpose="transactional").json()
    assert "quiet_hours" not in {w["code"] for w in transactional["warnings"]}


def paused_for_credit(shop, settings, monkeypatch) -> Broadcast:
    """A large audience (120 members) whose credit ran out after its first chunk of 40: paused with
    `insufficient_credit`, its 40 prepared messages queued, nothing sent (SPEC §8)."""
    settings.BROADCAST_SYNC_LIMIT = 50
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 40)
    response = shop.create(contact_lists=[str(members(shop, 120).pk)], text="Big news for everyone")
    assert response.status_code == 201, response.content
    broadcast_id = response.json()["id"]
    prepare.prepare_chunk(broadcast_id=broadcast_id)  # the named recipients (none)
    prepare.prepare_chunk(broadcast_id=broadcast_id)  # 40 members
    wallet = shop.refresh()  # another broadcast takes nearly all the credit left
    wallet_reserve(wallet=wallet, amount=wallet.available - Decimal("0.0001"), broadcast_id=shop.client.pk, note="x")
    assert prepare_run(broadcast_id=broadcast_id) is False
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    assert (broadcast.status, broadcast.pause_reason, broadcast.preparing) == ("paused", "insufficient_credit", True)
    return broadcast


def test_a_broadcast_paused_for_credit_says_its_messages_wait_for_credit_until_resumed(
    shop, daytime, settings, monkeypatch
):
    broadcast = paused_for_credit(shop, settings, monkeypatch)
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    assert len(ids) == 40
    # One had left before the pause; one waits for quiet hours too: the credit is what holds it now.
    Message.objects.filter(pk=ids[0]).update(status="sent", sent_at=timezone.now())
    later = timezone.now() + timedelta(hours=3)
    Message.objects.filter(pk=ids[1]).update(status="pending", not_before=later, wait_reason="quiet_hours")

    rows = {row["id"]: row for row in shop.api.get("/api/v1/messages/", {"limit": 100}).json()["results"]}
    assert (rows[ids[0]]["wait_reason"], rows[ids[0]]["not_before"]) == (None, None)
    waits = Counter((row["status"], row["wait_reason"], row["not_before"]) for row in rows.values())
    assert waits == {
        ("sent", None, None): 1,
        ("pending", "insufficient_credit", None): 1,
        ("queued", "insufficient_credit", None): 38,
    }
    detail = shop.api.get(f"/api/v1/messages/{ids[5]}/").json()
    assert (detail["wait_reason"], detail["not_before"]) == ("insufficient_credit", None)
    shown = stats(shop, broadcast)
    assert (shown["waiting"], shown["queued"], shown["sent"]) == (39, 0, 1)  # nothing goes before a resume

    wallet_topup(wallet=shop.refresh(), amount=Decimal("10"), note="top-up")
    assert shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/resume/").status_code == 200
    rows = {row["id"]: row for row in shop.api.get("/api/v1/messages/", {"limit": 100}).json()["results"]}
    assert Counter(row["wait_reason"] for row in rows.values()) == {None: 39, "quiet_hours": 1}
    assert datetime.fromisoformat(rows[ids[1]]["not_before"]) == later
    shown = stats(shop, broadcast)
    assert (shown["waiting"], shown["queued"]) == (1, 38)  # back to the time it waits for
    prepare_run(broadcast_id=broadcast.pk)
    rows = shop.api.get("/api/v1/messages/", {"limit": 200}).json()["results"]
    assert len(rows) == 120
    assert "insufficient_credit" not in {row["wait_reason"] for row in rows}
    assert counts_for(broadcast_ids=[broadcast.pk]) == counts_recount(broadcast_ids=[broadcast.pk])


def test_a_page_of_messages_reads_its_broadcasts_in_its_own_query(shop, daytime, settings, monkeypatch):
    paused_for_credit(shop, settings, monkeypatch)
    queries = []
    for limit in (2, 40):
        with CaptureQueriesContext(connection) as captured:
            rows = shop.api.get("/api/v1/messages/", {"limit": limit}).json()["results"]
        assert {row["wait_reason"] for row in rows} == {"insufficient_credit"}
        queries.append(len(captured))
    assert queries[0] == queries[1]
