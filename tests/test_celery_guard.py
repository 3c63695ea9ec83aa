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
