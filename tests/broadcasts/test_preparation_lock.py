"""A chunk's rows are written before the broadcast's row is locked (services/prepare.py): a
dispatcher already sending is not held up by the COPY, and a pause or cancel that lands while the
rows are written leaves nothing of the chunk."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connection

from broadcasts import queue
from broadcasts.models import Broadcast, Message
from broadcasts.services import prepare
from broadcasts.services.prepare_ahead import prepare_run
from tests.broadcasts.test_large_audiences import create, members
from wallets.selectors import reservation_state


@pytest.fixture
def limit(settings, monkeypatch):
    """Over the limit, and no task run on commit (eager Celery would prepare inside the create):
    each test runs the preparation itself."""
    settings.BROADCAST_SYNC_LIMIT = 50
    monkeypatch.setattr(queue, "_enqueue", lambda *args, **kwargs: None)


def _on_write(monkeypatch, action):
    """Call `action(call number)` after each chunk's rows are written, before the chunk goes on."""
    real, calls = prepare.messages_write, []

    def write_then(*args, **kwargs):
        ids = real(*args, **kwargs)
        calls.append(1)
        action(len(calls))
        return ids

    monkeypatch.setattr(prepare, "messages_write", write_then)
    return calls


@pytest.mark.django_db(transaction=True)
def test_the_broadcast_row_is_free_while_a_chunk_is_written(shop, daytime, limit, monkeypatch):
    """Its dispatcher's lease and handed marks update the row: they took the lock from another
    connection, without waiting, while the rows were being written."""
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 40)
    broadcast_id = create(shop, members(shop, 100)).json()["id"]
    taken = []

    def lock_from_elsewhere(_call):
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")
            other.execute(
                "UPDATE broadcasts_broadcast SET dispatch_lease_until = NULL WHERE id = %s", [broadcast_id]
            )  # what lease_acquire and claims.hand do; before, it waited for the chunk's commit
            taken.append(True)

    _on_write(monkeypatch, lock_from_elsewhere)
    assert prepare_run(broadcast_id=broadcast_id) is False
    assert len(taken) == 4  # the named recipients' chunk (none here) and three of members
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    assert (broadcast.preparing, Message.objects.filter(broadcast=broadcast).count()) == (False, 100)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_a_pause_or_cancel_while_rows_are_written_keeps_nothing_of_the_chunk(shop, daytime, limit, monkeypatch, action):
    """The action commits on its own connection (as the API's would) while the second chunk of
    members is written; the chunk then finds it under the lock and rolls its rows back."""
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 40)
    broadcast_id = create(shop, members(shop, 100)).json()["id"]
    answers = []

    def act():
        try:
            answers.append(shop.api.post(f"/api/v1/broadcasts/{broadcast_id}/{action}/").status_code)
        finally:
            connection.close()

    def act_on_the_second_chunk(call):
        if call == 3:  # the named (empty) chunk, the first 40 members, then this one
            thread = threading.Thread(target=act)
            thread.start()
            thread.join(10)

    _on_write(monkeypatch, act_on_the_second_chunk)
    assert prepare_run(broadcast_id=broadcast_id) is False
    assert answers == [200]
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    assert broadcast.status == ("paused" if action == "pause" else "cancelled")
    assert broadcast.preparation_processed == 40  # the chunk written meanwhile did not stay
    messages = Message.objects.filter(broadcast=broadcast)
    assert messages.count() == 40
    held = reservation_state(broadcast_id=broadcast.pk).outstanding
    assert held == (sum(m.cost for m in messages) if action == "pause" else 0)
