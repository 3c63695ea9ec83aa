"""The next chunks of a preparation planned on a thread while the current one is written.

A prepared chunk's time is about half Python (reading the members, rendering, encoding, pricing,
timing) and half PostgreSQL (the COPY, its foreign-key checks, the commit). One after the other,
each waits for the other half. Here a thread with its own connection plans the next chunks while
the worker's thread writes (prepare.prepare_chunk), so the two halves overlap.

The thread writes nothing and holds no lock. Every chunk is still checked, written, reserved and
committed by prepare_chunk under the broadcast's row lock, against the credit of that moment; a
plan that does not start at the broadcast's cursor by then is discarded and planned again there.
At most `depth` plans wait (bounded memory); those left when the run ends are dropped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from contextlib import nullcontext
from types import TracebackType

from django.db import connection
from django.utils import timezone

from ..models import Broadcast
from .prepare import DONE, PlannedChunk, load_context, plan_at, prepare_chunk

_END = object()
RUN_SECONDS = 10.0  # a task prepares for this long, then enqueues the next (tasks.prepare_broadcast)
_LOCK_NAMESPACE = 0x50_52_45_50  # "PREP": one preparer per broadcast (pg advisory lock)


class PlannedAhead:
    def __init__(self, broadcast_id: uuid.UUID | str, depth: int = 1) -> None:
        self.broadcast_id = broadcast_id
        self._plans: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"plan-ahead-{broadcast_id}", daemon=True)
        self._ended = False

    def __enter__(self) -> PlannedAhead:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._plans.get(timeout=0.05)  # unblock a put waiting for room
        self._thread.join()

    def next(self) -> PlannedChunk | None:
        """The next planned chunk, waiting for it; None once the planner has finished (the caller
        then plans for itself). An error of the planner is raised here, in the worker's thread."""
        if self._ended:
            return None
        item = self._plans.get()
        if item is _END:
            self._ended = True
            return None
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        return item  # type: ignore[return-value]

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._plans.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            broadcast = Broadcast.objects.select_related("client").get(pk=self.broadcast_id)
            context = load_context(broadcast, now=timezone.now())
            cursor = broadcast.preparation_cursor
            while broadcast.preparing and cursor != DONE and not self._stop.is_set():
                planned = plan_at(context, cursor)
                if not self._put(planned):
                    return
                cursor = planned.next_cursor
            self._put(_END)
        except Exception as exc:  # noqa: BLE001 - handed to the worker's thread, which raises it
            self._put(exc)
        finally:
            connection.close()  # this thread's own connection


def prepare_run(*, broadcast_id: uuid.UUID | str, seconds: float = RUN_SECONDS) -> bool:
    """Prepare chunks for up to `seconds`; True when more remain (the task then enqueues itself).
    One preparer per broadcast (an advisory lock): a duplicate task returns at once."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [_LOCK_NAMESPACE, str(broadcast_id)])
        (held,) = cursor.fetchone()
    if not held:
        return False
    # Planned ahead on a thread with its own connection, except inside a caller's transaction
    # (tests): another connection could not see what it holds.
    ahead = nullcontext() if connection.in_atomic_block else PlannedAhead(broadcast_id)
    try:
        deadline = time.monotonic() + seconds
        with ahead as planned_ahead:
            while time.monotonic() < deadline:
                planned = planned_ahead.next() if planned_ahead is not None else None
                outcome = prepare_chunk(broadcast_id=broadcast_id, planned=planned)
                if outcome != "more":
                    return False
            return True
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [_LOCK_NAMESPACE, str(broadcast_id)])
