"""The SMPP store thread keeps its database connection while work keeps coming and lets it go when
idle, after a failure, and on close (broadcasts/smpp/store_thread.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from broadcasts.smpp import store_thread
from tests.helpers import run_async

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def is_open() -> bool:
    return connection.connection is not None


def fails() -> None:
    backend_pid()
    raise RuntimeError("store failed")


@pytest.fixture(autouse=True)
def fresh_thread() -> Iterator[None]:
    store_thread.close()
    yield
    store_thread.close()


def test_batches_share_one_connection_and_idle_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Idle for a second closes it: six calls one after another stay well inside that on a loaded machine.
    monkeypatch.setattr(store_thread, "IDLE_CLOSE", 1.0)

    async def scenario() -> tuple[list[int], bool, bool]:
        pids = [await store_thread.run(backend_pid) for _ in range(5)]
        open_after_work = await store_thread.run(is_open)
        await asyncio.sleep(2.5)  # nothing more came: the idle check closed it
        open_after_idle = await store_thread.run(is_open)
        return pids, open_after_work, open_after_idle

    pids, open_after_work, open_after_idle = run_async(scenario())
    assert len(set(pids)) == 1  # one connection for every batch, not one each
    assert open_after_work
    assert not open_after_idle


def test_work_that_raises_leaves_no_connection_behind() -> None:
    async def scenario() -> bool:
        with pytest.raises(RuntimeError, match="store failed"):
            await store_thread.run(fails)
        return await store_thread.run(is_open)

    assert run_async(scenario()) is False


def test_close_closes_the_connection_and_ends_the_thread() -> None:
    first = run_async(store_thread.run(backend_pid))
    store_thread.close()
    deadline = time.monotonic() + 5
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [first])
            still_there = cursor.fetchone()[0]
            if not still_there or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert not still_there  # the server saw the store thread's session end
    assert run_async(store_thread.run(backend_pid)) != first  # a new thread, a new connection
