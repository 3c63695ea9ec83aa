"""A burst of recurring series (issue 22): many series due at once are fired in locked chunks, the
occurrences that would create the same child planned once and created together (series_burst.py),
with every rule of the one-by-one path kept: each occurrence once, its own child, messages and
reservation, a 402 failing only the occurrences that cannot be paid, broadcast.failed for each;
beat's task fans out to helper runs when many are due."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
import time_machine

from broadcasts.models import Broadcast, Message, Occurrence
from broadcasts.services import recurring_runs, series_fire_due
from tests.broadcasts.conftest import KE, UG
from wallets.models import LedgerEntry, Reservation
from webhooks.models import WebhookEvent
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

MONDAY = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # 09:00 in Kampala; the series fire at 10:00 (07:00Z)
FIRST = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)
SECOND = datetime(2027, 1, 5, 7, 0, tzinfo=UTC)


def body(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "recipients": [UG, KE],
        "schedule_mode": "recurring",
        "recurrence": {"rule": "FREQ=DAILY", "start": "2027-01-04T10:00", "timezone": "Africa/Kampala", "count": 5},
        **extra,
    }


def make(shop, count: int, **extra: object) -> list[Broadcast]:
    shop.client.api_rate_limit = shop.client.send_rate_limit = "100000/m"
    shop.client.save()
    made = []
    with time_machine.travel(MONDAY, tick=False):
        for i in range(count):
            response = shop.create(**body(f"Daily {i}", **extra))
            assert response.status_code == 201, response.content
            made.append(shop.broadcast(response))
    return made


def fire_at(moment: datetime) -> int:
    with time_machine.travel(moment, tick=False):
        return series_fire_due()


def one_cost(shop) -> Decimal:
    response = shop.precheck(recipients=[UG, KE])
    assert response.status_code == 200, response.content
    return Decimal(response.json()["total_cost"])


def test_a_burst_gives_each_occurrence_its_own_child_messages_and_reservation_once(shop, django_assert_max_num_queries):
    series = make(shop, 12)
    before = shop.refresh().reserved
    # Twelve occurrences in one chunk: a fixed number of statements, not a dozen per occurrence.
    with django_assert_max_num_queries(60):
        assert fire_at(FIRST.replace(second=5)) == 12
    children = list(Broadcast.objects.filter(parent__isnull=False).order_by("name"))
    assert sorted(c.name for c in children) == sorted(s.name for s in series)  # each keeps its series' name
    assert {(c.parent_id, c.occurrence_at, c.status, c.total_recipients) for c in children} == {
        (s.pk, FIRST, "queued", 2) for s in series
    }
    for child in children:
        assert set(Message.objects.filter(broadcast=child).values_list("urn", flat=True)) == {f"tel:{UG}", f"tel:{KE}"}
        assert Reservation.objects.get(broadcast_id=child.pk).reserved == child.estimated_cost
        [entry] = LedgerEntry.objects.filter(broadcast_id=child.pk)
        assert (entry.kind, entry.amount) == ("reserve", child.estimated_cost)
    assert {o.broadcast_id for o in Occurrence.objects.all()} == {c.pk for c in children}
    assert Occurrence.objects.filter(status="created").count() == 12
    wallet = shop.refresh()
    assert wallet.reserved - before == sum(c.estimated_cost for c in children)
    # The ledger's running figures follow each hold in turn.
    entries = list(LedgerEntry.objects.filter(kind="reserve").order_by("pk"))
    assert entries[-1].reserved_after == wallet.reserved
    assert [b.reserved_after - a.reserved_after for a, b in pairwise(entries)] == [e.amount for e in entries[1:]]
    for s in series:
        s.refresh_from_db()
        assert s.next_run_at == SECOND
    # Beat again, or twice: nothing fires twice.
    assert fire_at(FIRST.replace(second=15)) == 0
    assert Broadcast.objects.filter(parent__isnull=False).count() == 12


def test_a_burst_that_runs_out_of_credit_fails_only_the_occurrences_it_cannot_pay(make_shop, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    shop = make_shop(balance="100")
    cost = one_cost(shop)
    series = make(shop, 3)
    webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["broadcast.failed"])
    # Spend all but two and a half occurrences' worth.
    wallet = shop.refresh()
    from wallets.services import wallet_reserve

    wallet_reserve(wallet=wallet, amount=wallet.available - cost * Decimal("2.5"), broadcast_id=series[0].pk)
    assert fire_at(FIRST.replace(second=5)) == 3
    created = Occurrence.objects.filter(status="created").order_by("series__name")
    failed = list(Occurrence.objects.filter(status="failed"))
    assert created.count() == 2
    assert [(o.error_code, o.broadcast_id) for o in failed] == [("insufficient_credit", None)]
    assert "is available" in failed[0].error_message
    # The refused child left nothing behind: no broadcast, no messages, no reservation.
    assert Broadcast.objects.filter(parent__isnull=False).count() == 2
    assert Message.objects.filter(broadcast__parent__isnull=False).count() == 4
    assert Reservation.objects.filter(broadcast_id__in=[o.broadcast_id for o in created]).count() == 2
    [event] = WebhookEvent.objects.filter(type="broadcast.failed")
    assert (event.data["broadcast_id"], event.data["error_code"]) == (str(failed[0].series_id), "insufficient_credit")
    assert shop.refresh().available == cost / 2
    for s in series:  # the series go on
        s.refresh_from_db()
        assert (s.status, s.next_run_at) == ("scheduled", SECOND)


def test_series_with_different_bodies_are_planned_apart(shop):
    make(shop, 2)
    [other] = make(shop, 1, recipients=[UG])
    assert fire_at(FIRST.replace(second=5)) == 3
    child = Broadcast.objects.get(parent=other)
    assert set(Message.objects.filter(broadcast=child).values_list("urn", flat=True)) == {f"tel:{UG}"}
    assert Message.objects.filter(broadcast__parent__isnull=False).count() == 5


def test_tracked_links_go_the_one_by_one_way_with_a_code_per_message(shop):
    make(shop, 2, text="Sale at https://shop.example.com/x", track_links=True)
    assert fire_at(FIRST.replace(second=5)) == 2
    messages = Message.objects.filter(broadcast__parent__isnull=False)
    assert messages.count() == 4
    assert len({m.text for m in messages}) == 4  # each message its own short link


def test_a_plan_the_audience_now_breaks_fails_each_occurrence_of_the_group(shop):
    series = make(shop, 2)
    from broadcasts.models import Sender

    Broadcast.objects.filter(pk__in=[s.pk for s in series]).update(sender="Herald")
    Sender.objects.filter(client=shop.client).delete()
    assert fire_at(FIRST.replace(second=5)) == 2
    assert set(Occurrence.objects.values_list("status", "error_code")) == {("failed", "sender_not_registered")}
    assert Broadcast.objects.filter(parent__isnull=False).count() == 0


def test_beat_fans_out_to_helper_runs_when_many_series_are_due(shop, settings, monkeypatch):
    make(shop, 5)
    monkeypatch.setattr(recurring_runs, "FIRE_CHUNK", 2)
    settings.SERIES_FIRE_HELPERS = 3
    with time_machine.travel(FIRST.replace(second=5), tick=False):
        assert recurring_runs.series_helpers_wanted() == 2  # 5 due // 2 per helper
        settings.SERIES_FIRE_HELPERS = 1
        assert recurring_runs.series_helpers_wanted() == 1  # at most the setting
        settings.SERIES_FIRE_HELPERS = 0
        assert recurring_runs.series_helpers_wanted() == 0
    settings.SERIES_FIRE_HELPERS = 3
    calls = []
    from broadcasts import tasks

    monkeypatch.setattr(tasks.fire_series_help, "delay", lambda: calls.append("help"))
    with time_machine.travel(FIRST.replace(second=5), tick=False):
        assert tasks.fire_series() == 5
    assert calls == ["help", "help"]
    assert Occurrence.objects.filter(status="created").count() == 5


def test_a_firing_run_reads_a_price_list_once_and_a_request_never_keeps_it():
    from broadcasts.services.plan_memo import plan_memo, remembered

    reads = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    assert (remembered("routes", read), remembered("routes", read)) == (1, 2)  # outside a run: read each time
    with plan_memo():
        assert (remembered("routes", read), remembered("routes", read)) == (3, 3)
        with plan_memo():  # nested: the outer run's memo
            assert remembered("routes", read) == 3
    assert remembered("routes", read) == 4  # the run's memo ended with it
