"""What an SMPP bind needs from the database, injected (dependency inversion, no imports).

The plugin (`connector.py`) sits under the connector registry, which the status and inbound paths
import; it cannot import them back. `store.py` implements these effects and registers itself here
when imported (by the worker's tasks module and the smpp_listener command).
"""

from __future__ import annotations

from typing import Any, Protocol


class Effects(Protocol):
    def delivers_store(self, *, connector_id: str, pdus: list[Any]) -> None:
        """Store what a batch of deliver_sm says (receipts, MO); raise when it could not."""

    def parts_record(self, *, connector_name: str, parts: list[tuple[int, list[str]]]) -> None:
        """The message ids of every part of multipart messages just accepted: (message id, ids)."""

    def pacing_slow(self, *, connector_id: str, seconds: float) -> None:
        """The SMSC throttled us: send nothing more through this connector for `seconds`."""


registered: Effects | None = None


def register(effects: Effects) -> None:
    global registered
    registered = effects


def current() -> Effects:
    if registered is None:
        raise RuntimeError("broadcasts.smpp.store is not loaded in this process.")
    return registered
