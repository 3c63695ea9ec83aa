"""A group's record rolled back by a deadlock or a serialization failure is written again
(recording._retrying_conflicts): its answers exist only in the dispatcher's memory, and a record lost
to a conflict left its messages `sending`, to end `delivery_unknown` although the provider took them."""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError

from broadcasts import billing, queue
from broadcasts.dispatch import dispatch_batch
from broadcasts.models import Message
from wallets.models import LedgerEntry
from wallets.selectors import reservation_state

PHONES = [f"+2567720{i:05d}" for i in range(3)]

pytestmark = pytest.mark.django_db(transaction=True)  # the record's own transaction, as in a worker


@pytest.fixture(autouse=True)
def _undispatched(monkeypatch):
    """No task runs on commit (eager Celery would dispatch inside the create): each test does."""
    monkeypatch.setattr(queue, "_enqueue", lambda *args, **kwargs: None)


def _capture_then_fail(monkeypatch, failures: list[Exception]):
    """billing.capture writes the capture, then the record's transaction fails with the next of
    `failures` (the first attempts), as PostgreSQL would fail it at a lock or at COMMIT."""
    real, calls = billing.capture, []

    def capture(**kwargs):
        real(**kwargs)
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]

    monkeypatch.setattr(billing, "capture", capture)
    return calls


def _django_error(cause: Exception) -> OperationalError:
    """What Django raises for a psycopg error (django.db.utils wraps it, with the cause)."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as error:
        return error


def test_a_record_rolled_back_by_a_deadlock_is_written_again(shop, daytime, recorder, monkeypatch):
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    calls = _capture_then_fail(monkeypatch, [_django_error(psycopg.errors.DeadlockDetected("deadlock detected"))])
    outcome, claimed = dispatch_batch(broadcast)
    assert (outcome.sent, claimed, len(calls)) == (3, 3, 2)
    messages = Message.objects.filter(broadcast=broadcast)
    assert sorted(messages.values_list("status", flat=True)) == ["sent"] * 3
    assert sorted(recorder.sent) == sorted(messages.values_list("id", flat=True))  # sent once each
    captures = LedgerEntry.objects.filter(broadcast_id=broadcast.pk, kind="capture")
    assert captures.count() == 1  # the first attempt's capture rolled back with it
    assert reservation_state(broadcast_id=broadcast.pk).charged == sum(m.cost for m in messages)


def test_serialization_failures_are_retried_up_to_three_attempts(shop, daytime, recorder, monkeypatch):
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    failure = _django_error(psycopg.errors.SerializationFailure("could not serialize access"))
    calls = _capture_then_fail(monkeypatch, [failure, failure, failure])
    with pytest.raises(OperationalError):
        dispatch_batch(broadcast)
    assert len(calls) == 3
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"sending"}
    assert not LedgerEntry.objects.filter(broadcast_id=broadcast.pk, kind="capture").exists()


def test_other_database_errors_are_not_retried(shop, daytime, recorder, monkeypatch):
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    calls = _capture_then_fail(monkeypatch, [_django_error(psycopg.errors.AdminShutdown("terminating connection"))])
    with pytest.raises(OperationalError):
        dispatch_batch(broadcast)
    assert len(calls) == 1
