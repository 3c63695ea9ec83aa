"""The `smpp` connector (SPEC §10): submit_sm per part over kept binds, within the window.

It lives in this package rather than broadcasts/connectors/ because it needs the package's
session, codec and pool (a plugin there may import only the connector base); the registry names it
all the same. Like the HTTP engine it runs on a loop thread of its own per process and returns at
once from `submit`; the dispatcher records one group while the next is in flight.

One message's parts go in order on one bind: part 1's answer decides (accepted; 0x58/0x14/0x08
transient, nothing left; other statuses permanent `smpp_0x…`); a later part refused fails the
message with that part's code (its earlier parts are with the SMSC: never resent). A part written
without an answer (response timeout, bind dropped) makes the outcome unknown (SPEC §10: never
resent, `delivery_unknown`). No bind at all (refused, backoff): not sent, transient.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, ClassVar

import structlog

from accounts.aio import loop_thread
from broadcasts.connectors.base import BaseConnector, OutboundMessage, SendResult

from . import codec, effects, store_thread
from .config import SmppConfig, stored
from .pool import BindPool
from .session import NotSent, Session, Unanswered

log = structlog.get_logger(__name__)

SMPP_LOOP = "herald-smpp"
THROTTLE_PAUSE = 1.0  # seconds the whole connector waits after an ESME_RTHROTTLED

_pools: dict[tuple[int, str, SmppConfig], BindPool] = {}
_closing: set[asyncio.Future[None]] = set()


def pool_for(connector_id: str, name: str, config: SmppConfig) -> BindPool:
    """This process's binds of the connector (on the loop thread); new ones when the config changed."""
    key = (os.getpid(), connector_id, config)
    pool = _pools.get(key)
    if pool is None:
        for old in [k for k in _pools if k[1] == connector_id and k != key]:
            stale = _pools.pop(old)
            if old[0] == os.getpid():
                closing = asyncio.ensure_future(stale.close())
                _closing.add(closing)
                closing.add_done_callback(_closing.discard)
        mode = "trx" if config.bind == "trx" else "tx"
        pool = _pools[key] = BindPool(name, config, mode=mode, on_deliver=_deliver_handler(connector_id))
    return pool


def _deliver_handler(connector_id: str) -> Any:
    async def handle(pdus: list[Any]) -> None:
        await store_thread.run(effects.current().delivers_store, connector_id=connector_id, pdus=pdus)

    return handle


def _result_for_status(message_id: int, status: int, *, first: bool, seq: int, total: int) -> SendResult:
    code = codec.error_code(status)
    if first and status in codec.TRANSIENT:
        return SendResult(message_id, False, transient=True, error_code=code, retry_after=codec.TRANSIENT[status])
    text = f"SMSC refused part {seq} of {total}" if total > 1 else "SMSC refused the message"
    return SendResult(message_id, False, error_code=code, error_message=text)


class SmppConnector(BaseConnector):
    backend = "smpp"
    idempotent = False
    # A group of 500 goes through the bind's window at ~15,000 submit_sm/s on loopback: its handed
    # mark and record, not the SMSC, are the cost per message (docs/benchmarks.md, "SMPP").
    group_max = 500
    # Eight groups a claim (4,000 messages at tps ≥ 2,500): in bench_smpp, side by side, 7–33% more
    # messages a second end to end than one group a claim (docs/benchmarks.md, "Session 31").
    batch_groups = 8
    secret_keys: ClassVar[frozenset[str]] = frozenset({"password"})

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        return stored(super().validate_config(config))

    def smpp_config(self) -> SmppConfig:
        return SmppConfig.from_dict(self.config)

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        return self.submit(batch).result()

    def submit(self, batch: Sequence[OutboundMessage]) -> Future[list[SendResult]]:
        sender = loop_thread(SMPP_LOOP)
        return asyncio.run_coroutine_threadsafe(self._send_all(list(batch)), sender.loop)

    async def _send_all(self, batch: list[OutboundMessage]) -> list[SendResult]:
        config = self.smpp_config()
        pool = pool_for(self.connector_id, self.name, config)
        results: list[SendResult | None] = [None] * len(batch)
        singles: list[tuple[int, OutboundMessage, codec.Part, dict[str, Any]]] = []
        multi: list[tuple[int, OutboundMessage, list[codec.Part], dict[str, Any]]] = []
        for index, message in enumerate(batch):
            try:
                # The concatenation reference: the message's own id (distinct between consecutive
                # messages, the same when a message is sent again), not a random draw per message.
                parts = codec.parts_for(message.text, config, ref=message.id & 0xFFFF)
                address = codec.addresses(message.sender, message.to, config)
            except (KeyError, ValueError) as exc:
                results[index] = SendResult(
                    message.id, False, error_code="smpp_invalid_message", error_message=type(exc).__name__
                )
                continue
            if not parts:
                results[index] = SendResult(
                    message.id, False, error_code="smpp_invalid_message", error_message="Empty text"
                )
            elif len(parts) == 1:
                singles.append((index, message, parts[0], address))
            else:
                multi.append((index, message, parts, address))
        multipart: list[tuple[int, list[str]]] = []
        await asyncio.gather(
            self._send_singles(pool, config, singles, results),
            *(self._send_parts(pool, config, item, multipart, results) for item in multi),
        )
        store = effects.registered
        if multipart and store is not None:
            try:
                await store_thread.run(store.parts_record, connector_name=self.name, parts=multipart)
            except Exception:
                log.exception("smpp.parts_not_recorded", connector=self.name, count=len(multipart))
        done = [r for r in results if r is not None]
        if store is not None and any(r.error_code == codec.error_code(codec.ESME_RTHROTTLED) for r in done):
            try:
                await store_thread.run(store.pacing_slow, connector_id=self.connector_id, seconds=THROTTLE_PAUSE)
            except Exception:
                log.exception("smpp.pacing_not_slowed", connector=self.name)
        return done

    async def _send_singles(
        self,
        pool: BindPool,
        config: SmppConfig,
        singles: list[tuple[int, OutboundMessage, Any, dict[str, Any]]],
        results: list[SendResult | None],
    ) -> None:
        """The group's one-part messages: spread over the binds in turn (as one bind each would be
        taken per message), each bind's share submitted by one coroutine within its window
        (Session.submit_many) rather than one coroutine per message."""
        shares: dict[int, tuple[Session, list[tuple[int, OutboundMessage, Any, dict[str, Any]]]]] = {}
        lanes = min(config.binds, len(singles))
        for lane in range(lanes):
            share = singles[lane::lanes]
            try:
                session = await pool.session()
            except NotSent as exc:
                for index, message, _part, _address in share:
                    results[index] = _not_sent(message.id, exc)
                continue
            shares.setdefault(id(session), (session, []))[1].extend(share)

        async def submit(session: Session, share: list[tuple[int, OutboundMessage, Any, dict[str, Any]]]) -> None:
            builds = [_builder(part, address, config) for _index, _message, part, address in share]
            for (index, message, _part, _address), outcome in zip(
                share, await session.submit_many(builds), strict=True
            ):
                results[index] = _single_result(message.id, outcome)

        await asyncio.gather(*(submit(session, share) for session, share in shares.values()))

    async def _send_parts(
        self,
        pool: BindPool,
        config: SmppConfig,
        item: tuple[int, OutboundMessage, list[codec.Part], dict[str, Any]],
        multipart: list[tuple[int, list[str]]],
        results: list[SendResult | None],
    ) -> None:
        """A message of several parts: in order on one bind, each part after the last's answer."""
        index, message, parts, address = item
        try:
            session = await pool.session()
        except NotSent as exc:
            results[index] = _not_sent(message.id, exc)
            return
        ids: list[str] = []
        for seq, part in enumerate(parts, start=1):
            try:
                status, provider_id = await session.submit(_builder(part, address, config))
            except NotSent as exc:  # after the first part, some of the message is with the SMSC
                results[index] = _not_sent(message.id, exc) if seq == 1 else _unknown(message.id, exc)
                return
            except Unanswered as exc:
                results[index] = _unknown(message.id, exc)
                return
            if status != codec.ESME_ROK:
                results[index] = _result_for_status(message.id, status, first=seq == 1, seq=seq, total=len(parts))
                return
            ids.append(provider_id)
        multipart.append((message.id, ids))
        results[index] = SendResult(message.id, True, provider_message_id=ids[0])


def _builder(part: codec.Part, address: dict[str, Any], config: SmppConfig) -> Any:
    def build(sequence: int) -> bytes:
        return codec.submit_sm(sequence=sequence, part=part, address=address, config=config)

    return build


def _not_sent(message_id: int, exc: Exception) -> SendResult:
    """Nothing of it left (no bind): transient, safe to send again."""
    return SendResult(message_id, False, transient=True, error_code="connection_error", error_message=str(exc))


def _unknown(message_id: int, exc: Exception) -> SendResult:
    """Written and not answered: its outcome is unknown (SPEC §10), never resent."""
    return SendResult(message_id, False, unknown=True, error_code="delivery_unknown", error_message=str(exc))


def _single_result(message_id: int, outcome: tuple[int, str] | Exception) -> SendResult:
    """A one-part message's outcome: its submit_sm's answer, or why there was none."""
    if isinstance(outcome, NotSent):
        return _not_sent(message_id, outcome)
    if isinstance(outcome, Unanswered):
        return _unknown(message_id, outcome)
    if isinstance(outcome, Exception):  # no PDU could be made of it
        return SendResult(message_id, False, error_code="smpp_invalid_message", error_message=type(outcome).__name__)
    status, provider_id = outcome
    if status != codec.ESME_ROK:
        return _result_for_status(message_id, status, first=True, seq=1, total=1)
    return SendResult(message_id, True, provider_message_id=provider_id)


def close_pools() -> None:
    """Unbind every bind of this process, then close its store thread (tests, worker shutdown)."""
    pools = [p for k, p in list(_pools.items()) if k[0] == os.getpid()]
    _pools.clear()
    if pools:
        sender = loop_thread(SMPP_LOOP)
        for pool in pools:
            sender.run(pool.close())
    store_thread.close()
