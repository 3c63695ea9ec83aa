"""One asyncio event loop per process, in a daemon thread, for synchronous callers (Celery tasks)
that send many HTTP requests at once: the provider connectors and webhook deliveries.

A loop is made on first use in each process and remade after a fork (a Celery worker forks its pool
after import; neither a loop nor a socket may cross a fork). Each keeps its aiohttp sessions by key,
made by the caller's factory on the loop itself, and closes them at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread of this process, and its sessions by key."""

    def __init__(self, name: str) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.sessions: dict[Any, aiohttp.ClientSession] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result (from any thread but the loop's own)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def session(self, key: Any, make: Callable[[], aiohttp.ClientSession]) -> aiohttp.ClientSession:
        """The session kept under `key`, made by `make` when there is none (call on the loop)."""
        session = self.sessions.get(key)
        if session is None or session.closed:
            session = self.sessions[key] = make()
        return session

    async def close(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            await session.close()


_loops: dict[str, LoopThread] = {}
_lock = threading.Lock()


def loop_thread(name: str) -> LoopThread:
    """This process's loop called `name`, made on first use (and again in a forked child)."""
    with _lock:
        current = _loops.get(name)
        if current is None or current.pid != os.getpid():
            current = _loops[name] = LoopThread(name)
        return current


def close_sessions(name: str | None = None) -> None:
    """Close the sessions of this process's loop `name` (every loop when None): tests, exit."""
    with _lock:
        loops = [lp for n, lp in _loops.items() if (name is None or n == name) and lp.pid == os.getpid()]
    for current in loops:
        if current.thread.is_alive():
            with contextlib.suppress(Exception):
                current.run(current.close())


atexit.register(close_sessions)
