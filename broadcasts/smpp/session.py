"""One SMPP 3.4 session (a bind) on asyncio: Herald's own, with smpplib's PDU codec.

- The window: at most `window` submit_sm unanswered on this bind (an asyncio.Semaphore held from
  the write until the submit_sm_resp); the largest number seen is kept in `peak_in_flight`.
- A deliver_sm (receipt or MO) is answered only after `on_deliver` has returned, i.e. after its
  effect is stored; when storing fails it is answered ESME_RX_T_APPN (0x64) so the SMSC sends it
  again. deliver_sm are handed over in batches (whatever arrived while the last batch was stored).
- enquire_link after `enquire_link_interval` seconds without traffic; no answer within
  `response_timeout` closes the session.
- A submit_sm whose answer does not come within `response_timeout`, or whose bind drops while it is
  in flight, raises `Unanswered`: its outcome is unknown (SPEC §10), never resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from accounts import metrics

from . import codec
from .config import SmppConfig

log = structlog.get_logger(__name__)

RESPONSE_BIT = 0x80000000
CMD = {
    "generic_nack": 0x80000000,
    "bind_receiver": 0x00000001,
    "bind_transmitter": 0x00000002,
    "submit_sm": 0x00000004,
    "deliver_sm": 0x00000005,
    "unbind": 0x00000006,
    "bind_transceiver": 0x00000009,
    "enquire_link": 0x00000015,
}
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RINVCMDID = 0x03
DELIVER_BATCH = 200
READ_SIZE = 1 << 16
_HEADER = struct.Struct(">LLLL")

DeliverHandler = Callable[[list[Any]], Awaitable[None]]


class NotSent(Exception):  # noqa: N818 - an outcome
    """The PDU never left: no bind (connect or bind failed, the session is closed)."""


class Unanswered(Exception):  # noqa: N818 - an outcome
    """The PDU left and no answer came (timeout, disconnect): its outcome is unknown."""


class Session:
    def __init__(self, config: SmppConfig, *, mode: str, on_deliver: DeliverHandler | None, name: str = "") -> None:
        self.config = config
        self.mode = mode  # bind_transceiver | bind_transmitter | bind_receiver
        self.on_deliver = on_deliver
        self.name = name
        self.window = asyncio.Semaphore(config.window)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.pending: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        # submit_many's PDUs: their place in the window is freed where their answer is read, and
        # their deadlines, in the order they were written, are kept by one sweep for the bind
        # (`_deadline_loop`) instead of a timer and a done-callback each (~4.5 µs a PDU).
        self.windowed: set[int] = set()
        self.deadlines: deque[tuple[float, int]] = deque()
        self.deadline_added = asyncio.Event()
        self.sequence = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.bound = False
        self.closed = asyncio.Event()
        self.last_io = time.monotonic()
        self.tasks: list[asyncio.Task[Any]] = []
        self.delivers: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self.outgoing: list[bytes] = []
        self.in_use_gauge = metrics.SMPP_WINDOW_IN_USE.labels(name)  # changed twice a PDU: looked up once

    def next_sequence(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence

    async def connect(self) -> None:
        cfg = self.config
        context = ssl.create_default_context() if cfg.tls else None
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(cfg.host, cfg.port, ssl=context), cfg.response_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise NotSent(f"connect: {type(exc).__name__}") from exc
        self.tasks = [
            asyncio.ensure_future(self._read_loop()),
            asyncio.ensure_future(self._deliver_loop()),
            asyncio.ensure_future(self._deadline_loop()),
        ]
        try:
            status, _ = await self._bind()
        except Unanswered as exc:  # nothing but the bind left: no message's outcome is at stake
            await self.close()
            raise NotSent(f"bind: {exc}") from exc
        if status != 0:
            await self.close()
            raise NotSent(f"bind refused: {codec.error_code(status)}")
        self.bound = True
        _gauges(self.name, binds=1, window=self.config.window)
        self.tasks.append(asyncio.ensure_future(self._keepalive()))
        log.info("smpp.bound", connector=self.name, mode=self.mode)

    async def _bind(self) -> tuple[int, bytes]:
        cfg = self.config
        return await self.request(
            self.mode,
            system_id=cfg.system_id,
            password=cfg.password,
            system_type=cfg.system_type,
            interface_version=0x34,
            addr_ton=0,
            addr_npi=0,
            address_range="",
        )

    async def request(self, command: str, **fields: Any) -> tuple[int, bytes]:
        """Send a request PDU and wait for its response: (command_status, raw response)."""
        if self.writer is None or self.closed.is_set():
            raise NotSent("no session")
        sequence = self.next_sequence()
        return await self._exchange(sequence, codec.pdu(command, sequence=sequence, **fields))

    async def submit(self, build: Callable[[int], bytes]) -> tuple[int, str]:
        """One submit_sm within the window: (command_status, message_id)."""
        async with self.window:
            if self.writer is None or self.closed.is_set() or not self.bound:
                raise NotSent("no session")
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.in_use_gauge.inc(1)
            try:
                sequence = self.next_sequence()
                status, raw = await self._exchange(sequence, build(sequence))
            finally:
                self.in_flight -= 1
                self.in_use_gauge.inc(-1)
        return status, _message_id(status, raw)

    async def submit_many(self, builds: list[Callable[[int], bytes]]) -> list[tuple[int, str] | Exception]:
        """submit_sm after submit_sm within the window, by one coroutine: what `submit` does for
        each, without a task, a context manager and a coroutine per PDU (they were a third of the
        bind loop's time in bench_smpp). Per PDU in order: (command_status, message_id), or the
        exception `submit` would have raised (NotSent: never written; Unanswered: no answer;
        ValueError: `build` could not make the PDU)."""
        loop = asyncio.get_running_loop()
        timeout = self.config.response_timeout
        waiting: list[asyncio.Future[tuple[int, bytes]] | Exception] = []
        for build in builds:
            await self.window.acquire()
            if self.writer is None or self.closed.is_set() or not self.bound:
                self.window.release()
                waiting.append(NotSent("no session"))
                continue
            sequence = self.next_sequence()
            try:
                data = build(sequence)
            except ValueError as exc:  # a PDU that cannot be made is not written (as `submit` raises it)
                self.window.release()
                waiting.append(exc)
                continue
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.in_use_gauge.inc(1)
            future: asyncio.Future[tuple[int, bytes]] = loop.create_future()
            self.pending[sequence] = future
            self.windowed.add(sequence)
            if not self.deadlines:
                self.deadline_added.set()
            self.deadlines.append((time.monotonic() + timeout, sequence))
            self._write(data)
            waiting.append(future)
        outcomes: list[tuple[int, str] | Exception] = []
        for item in waiting:
            if isinstance(item, Exception):
                outcomes.append(item)
                continue
            try:
                status, raw = await item
            except Unanswered as exc:
                outcomes.append(exc)
                continue
            outcomes.append((status, _message_id(status, raw)))
        return outcomes

    def _free(self, sequence: int) -> None:
        """A submit_many PDU answered, timed out or dropped: its place in the window is free (also
        when its waiter was cancelled: the PDU counts as in flight until then)."""
        self.windowed.discard(sequence)
        self.pending.pop(sequence, None)
        self.in_flight -= 1
        self.in_use_gauge.inc(-1)
        self.window.release()
        deadlines = self.deadlines  # answers come mostly in order: the oldest unanswered stays first
        while deadlines and deadlines[0][1] not in self.windowed:
            deadlines.popleft()

    async def _deadline_loop(self) -> None:
        """submit_many's response timeout: sleeps until the oldest unanswered PDU's deadline (they
        are written in deadline order), fails those past it (Unanswered), and frees their window."""
        deadlines = self.deadlines
        while True:
            if not deadlines:
                self.deadline_added.clear()
                await self.deadline_added.wait()
                continue
            deadline, sequence = deadlines[0]
            now = time.monotonic()
            if deadline > now:
                await asyncio.sleep(deadline - now)
                continue
            deadlines.popleft()
            if sequence in self.windowed:
                future = self.pending.get(sequence)
                if future is not None:
                    _expire(future)
                self._free(sequence)

    async def _exchange(self, sequence: int, data: bytes) -> tuple[int, bytes]:
        assert self.writer is not None  # noqa: S101 - checked by the callers
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self.pending[sequence] = future
        # One timer per PDU (cheaper than wait_for's task): the deadline covers the write and the wait.
        timer = loop.call_later(self.config.response_timeout, _expire, future)
        try:
            # No drain: what waits to be written is bounded by the window. A write that fails closes
            # the connection, and the read loop then fails every pending future (Unanswered).
            self._write(data)
            return await future
        finally:
            timer.cancel()
            self.pending.pop(sequence, None)

    def _write(self, data: bytes) -> None:
        """Queue a PDU; everything queued in one turn of the loop leaves in one write (one syscall
        for a window's worth of submit_sm instead of one each)."""
        self.outgoing.append(data)
        self.last_io = time.monotonic()
        if len(self.outgoing) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)

    async def _read_loop(self) -> None:
        """Read what the SMSC sent, as it comes, and handle every whole PDU in it: one read per
        socket wake-up instead of two awaited reads per PDU."""
        assert self.reader is not None  # noqa: S101
        buffer = bytearray()
        try:
            while True:
                chunk = await self.reader.read(READ_SIZE)
                if not chunk:
                    raise asyncio.IncompleteReadError(bytes(buffer), None)
                buffer += chunk
                self.last_io = time.monotonic()
                start, end = 0, len(buffer)
                while end - start >= 16:
                    length, command_id, status, sequence = _HEADER.unpack_from(buffer, start)
                    length = max(length, 16)  # a length under the header's own: the header alone
                    if end - start < length:
                        break
                    data = bytes(buffer[start : start + length])
                    start += length
                    if not self._received(command_id, status, sequence, data):
                        return
                del buffer[:start]
        except (asyncio.IncompleteReadError, OSError, ValueError) as exc:
            if not self.closed.is_set():
                log.warning("smpp.disconnected", connector=self.name, mode=self.mode, error=type(exc).__name__)
        finally:
            await self._drop()

    def _received(self, command_id: int, status: int, sequence: int, data: bytes) -> bool:
        """One PDU from the SMSC; False once the session is over (the SMSC unbound)."""
        if command_id & RESPONSE_BIT:
            future = self.pending.get(sequence)
            if future is not None and not future.done():
                future.set_result((status, data))
            if sequence in self.windowed:
                self._free(sequence)
        elif command_id == CMD["deliver_sm"]:
            self._deliver(sequence, data)
        elif command_id == CMD["enquire_link"]:
            self._write(codec.response("enquire_link_resp", sequence=sequence))
        elif command_id == CMD["unbind"]:
            # Written now: the connection closes as this returns, before a scheduled flush would run.
            self._write(codec.response("unbind_resp", sequence=sequence))
            self._flush()
            return False
        else:
            self._write(codec.response("generic_nack", sequence=sequence, status=ESME_RINVCMDID))
        return True

    def _deliver(self, sequence: int, data: bytes) -> None:
        try:
            parsed = codec.parse_deliver(data)
        except Exception:  # noqa: BLE001 - a PDU smpplib cannot read: refused for good, the bind stays
            log.warning("smpp.deliver_unreadable", connector=self.name)
            self._write(codec.response("deliver_sm_resp", sequence=sequence, status=ESME_RX_P_APPN))
            return
        self.delivers.put_nowait((sequence, parsed))

    async def _deliver_loop(self) -> None:
        while True:
            batch = [await self.delivers.get()]
            while not self.delivers.empty() and len(batch) < DELIVER_BATCH:
                batch.append(self.delivers.get_nowait())
            status = 0
            try:
                if self.on_deliver is not None:
                    await self.on_deliver([pdu for _, pdu in batch])
            except Exception:
                log.exception("smpp.deliver_not_stored", connector=self.name, count=len(batch))
                status = ESME_RX_T_APPN
            for sequence, _ in batch:
                self._write(codec.response("deliver_sm_resp", sequence=sequence, status=status))

    async def _keepalive(self) -> None:
        interval = self.config.enquire_link_interval
        while not self.closed.is_set():
            idle = time.monotonic() - self.last_io
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await self.request("enquire_link")
            except (NotSent, Unanswered):
                log.warning("smpp.enquire_link_unanswered", connector=self.name)
                await self.close()
                return

    async def _drop(self) -> None:
        """The connection is gone: every PDU in flight is unanswered, and so is every later one."""
        if self.bound:
            _gauges(self.name, binds=-1, window=-self.config.window)
        self.bound = False
        self.closed.set()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(Unanswered("disconnected"))
        for sequence in list(self.windowed):
            self._free(sequence)
        if self.writer is not None:
            self.writer.close()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    async def close(self, *, unbind: bool = False) -> None:
        if unbind and self.bound:
            with contextlib.suppress(NotSent, Unanswered):
                await asyncio.wait_for(self.request("unbind"), 2)
        await self._drop()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _message_id(status: int, raw: bytes) -> str:
    """The message_id of a submit_sm_resp (empty for a refusal)."""
    if status == 0 and len(raw) > 16:
        return raw[16:].split(b"\0", 1)[0].decode("latin-1").strip()
    return ""


def _expire(future: asyncio.Future[tuple[int, bytes]]) -> None:
    if not future.done():
        future.set_exception(Unanswered("response timeout"))


def _gauges(connector: str, *, binds: int, window: int) -> None:
    """SPEC §2's "SMPP binds up" and the window (accounts.metrics), summed over live processes; the
    window in use is the session's `in_use_gauge`."""
    metrics.SMPP_BINDS_UP.labels(connector).inc(binds)
    metrics.SMPP_WINDOW_SIZE.labels(connector).inc(window)
