"""An A/B test decided by the real beat (SPEC §8 "Campaigns"): the samples go at once, the rest waits;
at `decide_after` the project's `broadcasts-ab-tests` beat entry decides it once, the worker sends the
winner to the rest, and the difference the cheaper winner leaves is given back through the ledger."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.live.conftest import LiveStack, wait_for

pytestmark = pytest.mark.slow

PHONES = [f"+25677240{n:04d}" for n in range(40)]  # Uganda: no quiet hours, whatever the time of day
SHORT = "Sale today"  # one part
LONG = "Sale today " + "x" * 170  # two parts


def test_beat_decides_an_ab_test_at_its_time_and_the_winner_goes_to_the_rest(live: LiveStack):
    tenant = live.new_tenant(f"Live A/B {uuid.uuid4().hex[:6]}")
    # An endpoint nobody listens on: the event is recorded (the outbox) whether or not it arrives.
    hook = live.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/ab", "events": ["broadcast.variant_won"]},
                     key=tenant.key)  # fmt: skip
    assert hook.status_code == 201, hook.text
    body = {
        "name": "Which text?",
        "recipients": PHONES,
        "sender": "Herald",
        # The simulator delivers everything: a tie, so the first (the cheaper) wins, and the rest,
        # reserved at the dearer text, gets the difference back.
        "variants": [{"text": SHORT, "share": 25}, {"text": LONG, "share": 25}],
        "ab_test": {"metric": "delivered", "decide_after": "PT1M"},
    }
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    broadcast = created.json()
    assert (broadcast["ab_status"], broadcast["total_segments"]) == ("testing", 10 + 20 + 20 * 2)
    path = f"/api/v1/broadcasts/{broadcast['id']}/"

    def samples_sent() -> dict[str, Any] | None:
        shown: dict[str, Any] = live.get(path, key=tenant.key).json()
        stats = shown["variant_stats"]
        return shown if stats[0]["sent"] == 10 and stats[1]["sent"] == 10 else None

    shown = wait_for(samples_sent, 45, "the worker to send both samples")
    assert shown["variant_stats"][2]["sent"] == 0  # the rest waits for the decision
    assert shown["ab_winner"] is None

    def decided() -> dict[str, Any] | None:
        shown: dict[str, Any] = live.get(path, key=tenant.key).json()
        return shown if shown["ab_status"] == "decided" else None

    shown = wait_for(decided, 120, "beat to decide the test")
    assert shown["ab_winner"] == 0

    def finished() -> dict[str, Any] | None:
        shown: dict[str, Any] = live.get(path, key=tenant.key).json()
        return shown if shown["status"] in ("sent", "partially_sent", "failed") else None

    shown = wait_for(finished, 90, "the worker to send the winner to the rest")
    assert shown["status"] == "sent"
    assert [(s["variant"], s["recipients"], s["sent"]) for s in shown["variant_stats"]] == [
        (0, 10, 10), (1, 10, 10), (None, 20, 20),
    ]  # fmt: skip
    texts = live.sql(
        "SELECT DISTINCT text, segments FROM broadcasts_message WHERE broadcast_id = %s AND variant IS NULL",
        [broadcast["id"]],
    )
    assert texts == [(SHORT, 1)]
    entries = live.get("/api/v1/wallet/transactions/", key=tenant.key).json()["results"]
    refunds = [e for e in entries if e["note"] == "A/B test decided"]
    assert len(refunds) == 1
    assert Decimal(refunds[0]["amount"]) > 0
    time.sleep(12)  # another beat tick or more: nothing is decided twice
    entries = live.get("/api/v1/wallet/transactions/", key=tenant.key).json()["results"]
    assert len([e for e in entries if e["note"] == "A/B test decided"]) == 1
    events = live.sql(
        "SELECT data FROM webhooks_webhookevent WHERE type = 'broadcast.variant_won' AND client_id = %s",
        [tenant.client_id],
    )
    assert len(events) == 1
    data = events[0][0] if isinstance(events[0][0], dict) else json.loads(events[0][0])
    assert (data["broadcast_id"], data["winner"], data["metric"]) == (broadcast["id"], 0, "delivered")
    assert [(v["variant"], v["sent"]) for v in data["variants"]] == [(0, 10), (1, 10)]
