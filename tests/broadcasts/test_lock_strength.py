"""Broadcast and wallet rows are locked `FOR NO KEY UPDATE` (lock_objects.py): a transaction that
only checks a foreign key to a locked row commits without waiting for its holder.

Found by bench_smpp.py's deployed run (a deadlock, a group's answers lost): a send's record that
applies a receipt read before it (an early report) updates its messages twice, so PostgreSQL checks
their deferred foreign key to the broadcast (`FOR KEY SHARE`) at COMMIT, while holding the wallet
it captured from. A preparation chunk held the broadcast `FOR UPDATE` and waited for that wallet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import F

from broadcasts import queue
from broadcasts.lock_objects import broadcast_for_update
from broadcasts.models import Message
from tests.broadcasts.test_large_audiences import create, members
from wallets.lock_objects import wallet_for_update
from wallets.models import Wallet


@pytest.fixture
def undispatched(monkeypatch):
    """No task runs on commit: the messages stay queued, nothing else takes a lock."""
    monkeypatch.setattr(queue, "_enqueue", lambda *args, **kwargs: None)


@contextmanager
def elsewhere() -> Iterator[psycopg.Connection]:
    """Another connection (another worker's), that gives up on a lock after 2 s."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SET lock_timeout = '2s'")
        yield other


@pytest.mark.django_db(transaction=True)
def test_a_records_foreign_key_check_does_not_wait_for_the_broadcasts_lock(shop, daytime, undispatched):
    broadcast_id = create(shop, members(shop, 3)).json()["id"]
    message = Message.objects.filter(broadcast_id=broadcast_id).order_by("pk").first()
    assert message is not None
    with transaction.atomic():
        broadcast_for_update(broadcast_id)  # as a preparation chunk, a cancel or a finalize holds it
        with elsewhere() as other, other.transaction():
            # A record, then an early report applied in the same transaction: the second update of a
            # row this transaction wrote makes PostgreSQL check its foreign key at COMMIT.
            other.execute("UPDATE broadcasts_message SET status = 'sent' WHERE id = %s", [message.pk])
            other.execute("UPDATE broadcasts_message SET status = 'delivered' WHERE id = %s", [message.pk])
        # Committed without waiting (before: LockNotAvailable at COMMIT, or a deadlock when this
        # transaction then wanted a row the other held).
    assert Message.objects.get(pk=message.pk).status == "delivered"


@pytest.mark.django_db(transaction=True)
def test_a_ledger_entrys_foreign_key_check_does_not_wait_for_the_wallets_lock(shop):
    wallet = Wallet.objects.get(client=shop.client)
    with transaction.atomic():
        locked = wallet_for_update(wallet)  # as a capture, a reserve or a top-up holds it
        with elsewhere() as other, other.transaction():
            other.execute(
                """
                INSERT INTO wallets_ledgerentry (wallet_id, kind, amount, balance_after, reserved_after, note,
                                                 created_at)
                VALUES (%s, 'topup', 1, %s, %s, 'a foreign key check', now())
                """,
                [wallet.pk, locked.balance + 1, locked.reserved],
            )
        # Committed without waiting; the balance follows its entry (the ledger replays to it).
        Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + 1)
    assert wallet.entries.filter(note="a foreign key check").exists()
