"""The message table keeps room in its pages (fillfactor 60, migration 0019) so that the handed mark,
the one update of a send that changes no indexed column, is a HOT update: PostgreSQL writes the
row's new version beside the old one and no entry in any of the table's eight indexes.

Measured by bench_smpp.py (pg_stat_statements on its own PostgreSQL): with full pages every one of
a message's four updates (claim, handed mark, record, receipt) wrote about nine WAL records, the
row and one entry per index; the handed mark at fillfactor 60 writes about two."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from broadcasts import queue
from broadcasts.claims import claim_batch, hand
from broadcasts.models import Broadcast, Message
from tests.broadcasts.test_large_audiences import create, members

RECIPIENTS = 400


@pytest.fixture
def undispatched(monkeypatch):
    """No task runs on commit: the messages stay queued until this test claims them."""
    monkeypatch.setattr(queue, "_enqueue", lambda *args, **kwargs: None)


def updates() -> tuple[int, int]:
    """(row updates, HOT row updates) of broadcasts_message so far, this connection's included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # reported when this statement ends
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'broadcasts_message'")
        row = cursor.fetchone()
    return int(row[0]), int(row[1])


@pytest.mark.django_db
def test_the_message_table_keeps_room_in_its_pages():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'broadcasts_message'")
        (options,) = cursor.fetchone()
    assert "fillfactor=60" in (options or [])


@pytest.mark.django_db(transaction=True)
def test_the_handed_mark_writes_no_index_entry(shop, daytime, undispatched):
    broadcast_id = create(shop, members(shop, RECIPIENTS)).json()["id"]
    assert Message.objects.filter(broadcast_id=broadcast_id, status="queued").count() == RECIPIENTS
    token = "hot-updates"
    claimed, _ = claim_batch(
        Broadcast.objects.get(pk=broadcast_id), limit=RECIPIENTS, now=timezone.now(), token=token
    )  # committed: the rows' versions before the claim are dead to everyone now
    assert len(claimed) == RECIPIENTS

    before = updates()
    handed = hand(message_ids=[c.id for c in claimed], token=token, broadcast_id=None)
    after = updates()

    assert len(handed) == RECIPIENTS
    assert after[0] - before[0] == RECIPIENTS
    # All of them here. The room comes from pruning the claim's old versions when the mark reads
    # the page, which no older snapshot in this database may still see; 80 % leaves a margin for
    # one. With full pages (fillfactor 100) 13 of the 400 were HOT.
    assert after[1] - before[1] >= 0.8 * RECIPIENTS, after
