"""config/celery.py: a task never starts inside a transaction an earlier task left behind (a soft
time limit inside psycopg's COMMIT wait once poisoned a worker process that way)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection, connections

from config.celery import _drop_a_connection_left_in_a_transaction


@pytest.mark.django_db(transaction=True)
def test_a_task_after_one_left_in_an_atomic_block_gets_a_fresh_connection():
    connection.ensure_connection()
    # What the cut COMMIT left: Django believes it is inside an atomic block.
    connection.set_autocommit(False)
    connection.in_atomic_block = True
    connection.savepoint_ids = ["s1"]
    worker_task = SimpleNamespace(request=SimpleNamespace(is_eager=False))
    _drop_a_connection_left_in_a_transaction(task=worker_task)
    assert not connection.in_atomic_block
    with connection.cursor() as cursor:  # a new connection, in autocommit
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.get_autocommit()


@pytest.mark.django_db
def test_an_eager_task_keeps_the_callers_transaction():
    assert connections["default"].in_atomic_block  # the test's own transaction
    eager = SimpleNamespace(request=SimpleNamespace(is_eager=True))
    _drop_a_connection_left_in_a_transaction(task=eager)
    assert connections["default"].in_atomic_block


def _cut_commit() -> None:
    """What SIGALRM inside psycopg's wait for a COMMIT leaves (accounts/interrupts.py)."""
    from celery.exceptions import SoftTimeLimitExceeded
    from django.db import transaction
    from django.db.backends.base import base

    real = base.BaseDatabaseWrapper._commit

    def cut(self):
        self.connection.pgconn.send_query(b"COMMIT")
        raise SoftTimeLimitExceeded()

    base.BaseDatabaseWrapper._commit = cut
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        base.BaseDatabaseWrapper._commit = real


@pytest.mark.django_db(transaction=True)
def test_a_cut_commit_is_recognised_behind_djangos_error_and_recovered():
    from django.db import ProgrammingError

    from accounts.interrupts import connection_broken, connection_recover, time_limit_behind

    with pytest.raises(ProgrammingError) as caught:
        _cut_commit()
    assert time_limit_behind(caught.value)  # only in the context chain
    assert not time_limit_behind(ProgrammingError("something else"))
    assert connection_broken(connection)
    assert connection_recover() is True
    assert not connection_broken(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
    assert connection.get_autocommit()
    assert not connection.in_atomic_block
    assert connection_recover() is False  # a healthy connection is left as it is


@pytest.mark.django_db(transaction=True)
def test_the_next_task_after_a_cut_commit_gets_a_fresh_connection():
    from django.db import ProgrammingError

    with pytest.raises(ProgrammingError):
        _cut_commit()
    worker_task = SimpleNamespace(request=SimpleNamespace(is_eager=False))
    _drop_a_connection_left_in_a_transaction(task=worker_task)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 3")
        assert cursor.fetchone() == (3,)


@pytest.mark.django_db
def test_recover_leaves_a_callers_healthy_transaction_alone():
    from accounts.interrupts import connection_broken, connection_recover

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.in_atomic_block  # the test's transaction
    assert not connection_broken(connection)
    assert connection_recover() is False
    assert connection.in_atomic_block
