"""What every database session of Herald's is told when it connects (config/env.py)."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from config import env


@pytest.mark.django_db
def test_a_session_idle_in_a_transaction_is_ended_after_a_minute():
    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone()[0] == "1min"


def test_the_timeout_can_be_changed_or_turned_off(monkeypatch):
    monkeypatch.setenv("DB_IDLE_IN_TRANSACTION_TIMEOUT", "5")
    assert env.database_config()["OPTIONS"]["options"] == "-c idle_in_transaction_session_timeout=5000"
    monkeypatch.setenv("DB_IDLE_IN_TRANSACTION_TIMEOUT", "0")
    assert "options" not in env.database_config()["OPTIONS"]


@pytest.mark.django_db(transaction=True)
def test_a_stalled_transaction_gives_up_its_row_locks(monkeypatch):
    """A process stopped inside a transaction (here: one that stops talking while it holds a row
    lock) no longer blocks the next writer of that row once its session is ended."""
    monkeypatch.setenv("DB_IDLE_IN_TRANSACTION_TIMEOUT", "1")
    params = env.database_config()
    conninfo = {
        "host": params["HOST"] or None,
        "port": params["PORT"] or None,
        "user": params["USER"],
        "password": params["PASSWORD"] or None,
        "dbname": connection.settings_dict["NAME"],
        "options": params["OPTIONS"]["options"],
    }
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v is not None}) as stalled:
        stalled.execute("CREATE TABLE IF NOT EXISTS stall_probe (id int PRIMARY KEY)")
        stalled.execute("INSERT INTO stall_probe VALUES (1) ON CONFLICT DO NOTHING")
        stalled.commit()
        stalled.execute("SELECT id FROM stall_probe WHERE id = 1 FOR UPDATE")  # holds it, says nothing more
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '20s'")
            cursor.execute("UPDATE stall_probe SET id = 1 WHERE id = 1")  # waits until the server ends it
            waited = time.monotonic() - started
            cursor.execute("DROP TABLE stall_probe")
        assert waited < 10
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            stalled.execute("SELECT 1")  # it learns when it wakes: its transaction is gone
