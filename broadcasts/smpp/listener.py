"""The receiving side of SMPP: binds held for every active `smpp` connector, any time.

Receipts and MO arrive on any receiver or transceiver bind of the account, minutes to days after
the submit, also when no broadcast runs. `smpp_listener` runs this: per connector, `binds` receiver
binds (`bind: tx_rx`) or one transceiver bind (`trx`, alongside the workers' own, which receive
too). Each deliver_sm batch is stored (store.Store) before it is answered. Connectors are read again
every RELOAD seconds: new or changed ones bind, deactivated ones unbind.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import structlog
from django.db import connection

from broadcasts.models import Connector

from . import store_thread
from .config import SmppConfig
from .pool import BindPool
from .store import Store

log = structlog.get_logger(__name__)

RELOAD = 30.0


def _active() -> dict[str, tuple[str, SmppConfig]]:
    found: dict[str, tuple[str, SmppConfig]] = {}
    try:
        for connector in Connector.objects.filter(backend="smpp", active=True):
            try:
                found[str(connector.pk)] = (connector.name, SmppConfig.from_dict(connector.config))
            except Exception:
                log.exception("smpp.listener_config_unusable", connector=connector.name)
    finally:
        connection.close()  # a worker thread's: not kept between reads
    return found


class Listener:
    def __init__(self, *, only: str | None = None) -> None:
        self.only = only
        self.store = Store()
        self.running: dict[str, tuple[SmppConfig, BindPool, asyncio.Event, list[asyncio.Task[Any]]]] = {}
        self.stop = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def stop_soon(self) -> None:
        """Stop from another thread."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)

    def _handler(self, connector_id: str) -> Any:
        async def handle(pdus: list[Any]) -> None:
            await store_thread.run(self.store.delivers_store, connector_id=connector_id, pdus=pdus)

        return handle

    async def _stop_one(self, connector_id: str) -> None:
        _config, pool, stop, tasks = self.running.pop(connector_id)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()

    async def reload(self) -> None:
        active = await asyncio.to_thread(_active)
        if self.only:
            active = {k: v for k, v in active.items() if self.only in (k, v[0])}
        for connector_id in [k for k, v in self.running.items() if k not in active or active[k][1] != v[0]]:
            log.info("smpp.listener_unbinding", connector_id=connector_id)
            await self._stop_one(connector_id)
        for connector_id, (name, config) in active.items():
            if connector_id in self.running:
                continue
            mode, count = ("rx", config.binds) if config.bind == "tx_rx" else ("trx", 1)
            pool = BindPool(name, config, mode=mode, on_deliver=self._handler(connector_id))
            stop = asyncio.Event()
            tasks = [asyncio.ensure_future(pool.hold(i, stop)) for i in range(count)]
            self.running[connector_id] = (config, pool, stop, tasks)
            log.info("smpp.listener_binding", connector=name, mode=mode, binds=count)

    async def run(self, *, reload_every: float = RELOAD) -> None:
        self.loop = asyncio.get_running_loop()
        with contextlib.suppress(RuntimeError, ValueError):  # not the main thread (tests): no signals
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(sig, self.stop.set)
        log.info("smpp.listener_started")
        while not self.stop.is_set():
            await self.reload()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), reload_every)
        for connector_id in list(self.running):
            await self._stop_one(connector_id)
        await asyncio.to_thread(store_thread.close)
        log.info("smpp.listener_stopped")
