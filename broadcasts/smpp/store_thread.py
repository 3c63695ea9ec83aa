"""The one thread per process that does a bind's database work (receipts and MO stored, parts
recorded, pacing slowed), off the send loop.

Its database connection is kept while work keeps coming: opening one per batch of receipts cost
~15 ms, an eighth of storing them at speed (docs/benchmarks.md, "SMPP"). It is closed when the
thread has had nothing to do for IDLE_CLOSE seconds (so none outlives a test database, or a
PostgreSQL restart, by long), after work that raised (the next opens a fresh one), and by `close`
(worker shutdown, tests). One thread also means one batch at a time per process: the batches of
several binds took the same advisory lock per connector anyway (store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from django.db import connection

log = structlog.get_logger(__name__)

IDLE_CLOSE = 2.0

_executors: dict[int, ThreadPoolExecutor] = {}
_guard = threading.Lock()
_last_done = 0.0
_generation = 0  # close() starts a new one: work scheduled `later` before it is dropped


def _executor() -> ThreadPoolExecutor:
    pid = os.getpid()  # a forked child makes its own (a parent's threads do not survive a fork)
    with _guard:
        executor = _executors.get(pid)
        if executor is None:
            executor = _executors[pid] = ThreadPoolExecutor(1, thread_name_prefix="herald-smpp-store")
        return executor


def _call(work: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    global _last_done
    try:
        return work(**kwargs)
    except BaseException:
        connection.close()
        raise
    finally:
        _last_done = time.monotonic()


def _close() -> None:
    connection.close()  # the calling thread's connection: looked up here, on the store thread


def _close_if_idle() -> None:
    if time.monotonic() - _last_done >= IDLE_CLOSE:
        _close()


async def run(work: Callable[..., Any], /, **kwargs: Any) -> Any:
    """`work(**kwargs)` on the store thread; then, IDLE_CLOSE seconds later, its connection is
    closed unless more work came in between."""
    loop = asyncio.get_running_loop()
    executor = _executor()
    try:
        return await loop.run_in_executor(executor, functools.partial(_call, work, kwargs))
    finally:
        loop.call_later(IDLE_CLOSE, _idle_check, executor)


def _idle_check(executor: ThreadPoolExecutor) -> None:
    with contextlib.suppress(RuntimeError):  # shut down meanwhile
        executor.submit(_close_if_idle)


def later(seconds: float, work: Callable[..., Any], /, **kwargs: Any) -> None:
    """`work(**kwargs)` on the store thread `seconds` from now (a timer hands it over); dropped if
    the thread is closed meanwhile. Its failure is logged, not raised: nothing waits for it."""
    timer = threading.Timer(seconds, _submit_later, args=(_generation, work, kwargs))
    timer.daemon = True
    timer.start()


def _submit_later(generation: int, work: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    if generation != _generation:
        return
    with contextlib.suppress(RuntimeError):  # shut down meanwhile
        _executor().submit(_call_logged, work, kwargs)


def _call_logged(work: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        _call(work, kwargs)
    except Exception:
        log.exception("smpp.store_later_failed", work=getattr(work, "__name__", "work"))


def close() -> None:
    """Close the store thread's connection and end the thread (worker shutdown, tests)."""
    global _generation
    with _guard:
        _generation += 1
        executor = _executors.pop(os.getpid(), None)
    if executor is not None:
        executor.submit(_close).result()
        executor.shutdown(wait=True)
