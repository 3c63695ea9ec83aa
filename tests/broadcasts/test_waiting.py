"""SPEC §8/§10 (issue 21, point 1): every waiting message says when it may go and why
(`not_before`, `wait_reason`), and a broadcast's stats count the waiting apart from the queued —
the same figures on the message, the broadcast and the counters."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from broadcasts.counters import counts_for, counts_recount
from broadcasts.dispatch import dispatch_batch
from broadcasts.models import Broadcast, Message
from tests.broadcasts.conftest import FR, UG

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
        "2 recipient(s) are in quiet hours at the send time: they will receive it when their quiet hours "
        "end, the first on Monday 08:00 their time (2026-11-30T07:00:00Z)."
    )
    with time_machine.travel(SATURDAY_NIGHT, tick=False):
        transactional = shop.precheck(recipients=[FR], text="Your code", purpose="transactional").json()
    assert "quiet_hours" not in {w["code"] for w in transactional["warnings"]}
