"""Per-broadcast counters (SPEC §8 stats): kept by the statements that move messages, in their
transaction, read without recounting, equal to the recount after everything (the suite's autouse
check compares them after every broadcast test; these pin the figures themselves)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from broadcasts.connectors import StatusUpdate
from broadcasts.counters import Counts, counts_fold, counts_for, counts_recount
from broadcasts.dispatch import dispatch_run
from broadcasts.models import BroadcastCount, Message
from broadcasts.selectors import broadcast_stats
from broadcasts.services import broadcast_cancel
from broadcasts.status_updates import messages_apply_status

pytestmark = pytest.mark.django_db

PHONES = [f"+2567723{i:05d}" for i in range(6)]


def run(broadcast):
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    broadcast.refresh_from_db()
    return broadcast


def test_counters_follow_create_dispatch_reports_and_cancel(shop, daytime, recorder):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:4]))
    assert counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk] == Counts(queued=4)
    first, second, third, fourth = Message.objects.filter(broadcast=broadcast).order_by("pk")
    recorder.outcomes = {fourth.pk: "permanent"}
    broadcast = run(broadcast)
    cost = first.cost + second.cost + third.cost
    assert counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk] == Counts(sent=3, failed=1, spent=cost)
    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    messages_apply_status(
        connector_name="recorder",
        updates=[
            StatusUpdate(first.provider_message_id, "delivered"),
            StatusUpdate(second.provider_message_id, "read"),
            StatusUpdate(third.provider_message_id, "failed", "absent"),
        ],
    )
    counts = counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk]
    # A late failure is still a message that left; its cost is refunded, so not spent.
    assert counts == Counts(sent=3, delivered=2, read=1, failed=2, spent=first.cost + second.cost)
    Message.objects.filter(pk=first.pk).update(clicked=True)
    assert counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk].clicked == 1
    assert (
        counts_recount(broadcast_ids=[broadcast.pk])[broadcast.pk]
        == counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk]
    )

    waiting = shop.broadcast(shop.create(recipients=PHONES[4:6]))
    broadcast_cancel(broadcast=waiting)
    assert counts_for(broadcast_ids=[waiting.pk])[waiting.pk] == Counts(cancelled=2)


def test_a_rolled_back_statement_leaves_no_delta(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:2]))
    rows = BroadcastCount.objects.filter(broadcast_id=broadcast.pk).count()

    def cancel_then_fail():
        with transaction.atomic():
            Message.objects.filter(broadcast=broadcast).update(status="cancelled")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        cancel_then_fail()
    assert BroadcastCount.objects.filter(broadcast_id=broadcast.pk).count() == rows
    assert counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk] == Counts(queued=2)


def test_a_statement_that_moves_nothing_writes_no_delta(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:2]))
    rows = BroadcastCount.objects.count()
    Message.objects.filter(broadcast=broadcast).update(lease_until=None)  # no counted column changes
    assert BroadcastCount.objects.count() == rows


def test_folding_keeps_the_figures_and_one_row_per_broadcast(shop, daytime, recorder):
    broadcast = run(shop.broadcast(shop.create(recipients=PHONES[:3])))
    before = counts_for(broadcast_ids=[broadcast.pk])
    assert BroadcastCount.objects.filter(broadcast_id=broadcast.pk).count() > 1
    assert counts_fold() >= 1
    assert BroadcastCount.objects.filter(broadcast_id=broadcast.pk).count() == 1
    assert counts_for(broadcast_ids=[broadcast.pk]) == before


def test_stats_are_read_in_a_fixed_number_of_queries(shop, daytime):
    small = shop.broadcast(shop.create(recipients=PHONES[:1]))
    large = shop.broadcast(shop.create(recipients=PHONES))
    with CaptureQueriesContext(connection) as queries:
        stats = broadcast_stats(broadcast_ids=[small.pk, large.pk])
    assert len(queries) == 2  # the counters, the links' clicks
    assert all("broadcasts_message" not in q["sql"] for q in queries.captured_queries)
    assert (stats[small.pk].queued, stats[large.pk].queued) == (1, 6)


def test_the_recount_command_reports_and_repairs(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:2]))
    call_command("recountbroadcasts")  # equal: no error
    BroadcastCount.objects.create(broadcast_id=broadcast.pk, sent=5, spent=Decimal("1.5"))
    with pytest.raises(CommandError, match="1 broadcast"):
        call_command("recountbroadcasts")
    call_command("recountbroadcasts", "--repair")
    call_command("recountbroadcasts")
    assert counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk] == Counts(queued=2)


def test_the_recount_reports_counters_left_on_a_broadcast_without_messages(shop, daytime):
    """A broadcast whose counters say something while it has no message is reported, not skipped."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:1]))
    Message.objects.filter(broadcast=broadcast).delete()  # the trigger counts the delete: counters 0
    BroadcastCount.objects.create(broadcast_id=broadcast.pk, sent=3)
    with pytest.raises(CommandError, match="1 broadcast"):
        call_command("recountbroadcasts")
    call_command("recountbroadcasts", "--repair")
    assert counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk] == Counts()


def _commit_a_report_meanwhile(monkeypatch, message_id):
    """After the recount has read the messages, a report commits on another connection (moving one
    message to delivered, its delta with it), as a worker would while the command runs."""
    import psycopg

    import broadcasts.counters as counters

    recount, done = counters.counts_recount, []

    def recount_then_report(**kwargs):
        counted = recount(**kwargs)
        if not done:
            params = connection.get_connection_params()
            with psycopg.connect(**params, autocommit=True) as other:
                other.execute("UPDATE broadcasts_message SET status = 'delivered' WHERE id = %s", [message_id])
            done.append(True)
        return counted

    monkeypatch.setattr(counters, "counts_recount", recount_then_report)
    return done


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("repair", [False, True])
def test_the_recount_reads_one_snapshot_and_keeps_deltas_committed_meanwhile(
    shop, daytime, recorder, monkeypatch, repair
):
    """Issue 19 (12): the check compares counters and messages as of one instant, and a repair adds
    a correction instead of deleting every delta row, so a report committed while it runs is kept."""
    broadcast = run(shop.broadcast(shop.create(recipients=PHONES[:3])))
    first = Message.objects.filter(broadcast=broadcast).order_by("pk").first()
    BroadcastCount.objects.create(broadcast_id=broadcast.pk, read=7)  # a real difference to repair
    done = _commit_a_report_meanwhile(monkeypatch, first.pk)
    if repair:
        call_command("recountbroadcasts", "--repair")
    else:
        with pytest.raises(CommandError, match="1 broadcast"):
            call_command("recountbroadcasts")
        BroadcastCount.objects.filter(broadcast_id=broadcast.pk, read=7).delete()
    assert done, "the concurrent report never ran"
    monkeypatch.undo()
    kept = counts_for(broadcast_ids=[broadcast.pk])[broadcast.pk]
    assert kept == counts_recount(broadcast_ids=[broadcast.pk])[broadcast.pk]
    assert (kept.sent, kept.delivered, kept.read) == (3, 1, 0)
