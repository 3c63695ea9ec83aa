"""A connector for tests: records every message it is asked to send and fails on demand."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import ClassVar

import pytest

from broadcasts.connectors import REGISTRY, BaseConnector, OutboundMessage, SendResult
from broadcasts.models import Connector
from wallets.models import Route


class RecorderConnector(BaseConnector):
    backend = "recorder"
    idempotent = False
    sent: ClassVar[list[int]] = []
    # "ok", "transient" (429/5xx-like), "permanent" (4xx-like) or "unknown" (no answer after the
    # request left), for every message…
    mode: ClassVar[str] = "ok"
    # …except these message ids, which get their own outcome.
    outcomes: ClassVar[dict[int, str]] = {}
    # Called with each batch before it is "sent": a test's way to act mid-batch (cancel, move time).
    during_send: ClassVar[Callable[[Sequence[OutboundMessage]], None] | None] = None
    lock = threading.Lock()

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        if self.during_send is not None:
            type(self).during_send(batch)  # type: ignore[misc]
        results = []
        for message in batch:
            with self.lock:
                self.sent.append(message.id)
            outcome = self.outcomes.get(message.id, self.mode)
            if outcome == "ok":
                results.append(SendResult(message.id, True, provider_message_id=f"rec-{message.id}"))
            elif outcome == "transient":
                results.append(SendResult(message.id, False, transient=True, error_code="provider_busy"))
            elif outcome == "unknown":  # the request left, no complete answer came back
                results.append(SendResult(message.id, False, unknown=True, error_code="delivery_unknown"))
            else:
                results.append(SendResult(message.id, False, error_code="rejected", error_message="Number barred"))
        return results


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, db: None) -> type[RecorderConnector]:
    """Every route now goes through the recorder (a non-idempotent provider)."""
    monkeypatch.setitem(REGISTRY, "recorder", RecorderConnector)
    monkeypatch.setattr(RecorderConnector, "sent", [])
    monkeypatch.setattr(RecorderConnector, "mode", "ok")
    monkeypatch.setattr(RecorderConnector, "outcomes", {})
    monkeypatch.setattr(RecorderConnector, "during_send", None)
    monkeypatch.setattr(RecorderConnector, "batch_groups", 0)
    Connector.objects.get_or_create(name="recorder", defaults={"channel": "sms", "backend": "recorder", "tps": 10_000})
    Route.objects.update(connector="recorder")
    return RecorderConnector
