"""The binds of one connector in one process, kept on the send loop, made again with backoff.

A worker keeps at most `binds` sessions per connector (round-robin between those up). A bind that
drops is made again on the next send, not before its backoff (1 s, doubling to 60 s) has passed;
while it waits, sends fail fast as *not sent* (transient, nothing left). The listener keeps its
receiving binds up with `hold`, on the same backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

import structlog

from .config import SmppConfig
from .session import DeliverHandler, NotSent, Session

log = structlog.get_logger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
MODES = {"trx": "bind_transceiver", "tx": "bind_transmitter", "rx": "bind_receiver"}


class Backoff:
    def __init__(self) -> None:
        self.delay = 0.0
        self.not_before = 0.0

    def failed(self) -> float:
        self.delay = min(BACKOFF_MAX, max(BACKOFF_FIRST, self.delay * 2))
        self.not_before = time.monotonic() + self.delay
        return self.delay

    def succeeded(self) -> None:
        self.delay = 0.0
        self.not_before = 0.0


class BindPool:
    def __init__(self, name: str, config: SmppConfig, *, mode: str, on_deliver: DeliverHandler | None) -> None:
        self.name = name
        self.config = config
        self.mode = mode
        self.on_deliver = on_deliver
        self.sessions: list[Session | None] = [None] * config.binds
        self.backoffs = [Backoff() for _ in range(config.binds)]
        self.locks = [asyncio.Lock() for _ in range(config.binds)]
        self.turn = itertools.cycle(range(config.binds))

    def up(self) -> int:
        return sum(1 for s in self.sessions if s is not None and s.bound)

    def in_flight(self) -> int:
        return sum(s.in_flight for s in self.sessions if s is not None)

    async def _ensure(self, index: int) -> Session:
        session = self.sessions[index]
        if session is not None and session.bound:
            return session
        async with self.locks[index]:
            session = self.sessions[index]
            if session is not None and session.bound:
                return session
            backoff = self.backoffs[index]
            if time.monotonic() < backoff.not_before:
                raise NotSent("reconnect backoff")
            session = Session(self.config, mode=MODES[self.mode], on_deliver=self.on_deliver, name=self.name)
            try:
                await session.connect()
            except NotSent as exc:
                delay = backoff.failed()
                log.warning("smpp.bind_failed", connector=self.name, error=str(exc), retry_in=delay)
                raise
            backoff.succeeded()
            self.sessions[index] = session
            return session

    async def session(self) -> Session:
        """A bound session, the next in turn that is up or can be made. When none is, and a bind may
        be tried again within `response_timeout` (a short outage, an SMSC restarting), wait for that
        once rather than failing every message of the group; otherwise NotSent."""
        for attempt in range(2):
            error: NotSent | None = None
            for _ in range(self.config.binds):
                try:
                    return await self._ensure(next(self.turn))
                except NotSent as exc:
                    error = exc
            wait = min(b.not_before for b in self.backoffs) - time.monotonic()
            if attempt or wait > self.config.response_timeout:
                break
            await asyncio.sleep(max(0.0, wait))
        raise error or NotSent("no bind")

    async def hold(self, index: int, stop: asyncio.Event) -> None:
        """Keep bind `index` up until `stop` (the listener's receiving binds)."""
        while not stop.is_set():
            try:
                session = await self._ensure(index)
            except NotSent:
                wait = max(0.1, self.backoffs[index].not_before - time.monotonic())
                await _wait(stop, wait)
                continue
            closed = asyncio.ensure_future(session.closed.wait())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            stopped.cancel()
            if not stop.is_set():
                await _wait(stop, self.backoffs[index].failed())

    async def close(self) -> None:
        for session in self.sessions:
            if session is not None:
                await session.close(unbind=True)
        self.sessions = [None] * self.config.binds


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
