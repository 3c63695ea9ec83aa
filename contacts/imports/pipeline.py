"""Read ahead in a thread: parse the next chunk (pure Python) while the database writes this one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Full, Queue
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterator[T], *, depth: int = 2, name: str = "read-ahead") -> Iterator[T]:
    """Yield what `items` yields, produced by a background thread up to `depth` items ahead.

    psycopg releases the GIL while it waits for PostgreSQL, so a CPU-bound producer and a
    database-bound consumer overlap. An exception in the producer is raised here; stopping early
    (an exception in the consumer, or closing this generator) stops the producer too. The producer
    must not use the database: Django connections belong to their thread.
    """
    queue: Queue[tuple[Any, BaseException | None]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((_DONE, exc))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                item, error = queue.get(timeout=1)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    raise RuntimeError(f"{name}: the producer thread stopped without a word") from None
                continue
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)
