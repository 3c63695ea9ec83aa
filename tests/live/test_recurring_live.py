"""A recurring series fired by the real beat (SPEC §8 "Campaigns"): the `broadcasts-series` entry of
the project's beat creates the occurrence at its time, once, as a child sent by the worker."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.live.conftest import LiveStack, wait_for

pytestmark = pytest.mark.slow

UG = "+256772123456"  # Uganda has no quiet hours: it goes out whatever the time of day


def test_beat_fires_a_recurring_series_once_at_its_time(live: LiveStack):
    tenant = live.new_tenant(f"Live series {uuid.uuid4().hex[:6]}")
    start = (datetime.now(UTC) + timedelta(seconds=75)).replace(microsecond=0)
    body = {
        "name": "Every quarter hour",
        "recipients": [UG],
        "text": "Again",
        "sender": "Herald",
        "schedule_mode": "recurring",
        "recurrence": {
            "rule": "FREQ=MINUTELY;INTERVAL=15",
            "start": start.strftime("%Y-%m-%dT%H:%M:%S"),
            "timezone": "UTC",
            "count": 2,
        },
    }
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    series = created.json()
    assert (series["status"], series["next_run_at"]) == ("scheduled", start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    occurrences = f"/api/v1/broadcasts/{series['id']}/occurrences/"

    def recorded() -> list[dict[str, Any]] | None:
        results: list[dict[str, Any]] = live.get(occurrences, key=tenant.key).json()["results"]
        return results or None

    assert recorded() is None  # nothing before its time
    [occurrence] = wait_for(recorded, 150, "beat to create the series' first occurrence")
    assert occurrence["status"] == "created", occurrence
    assert datetime.now(UTC) >= start
    child_id = occurrence["broadcast"]

    def child_done() -> dict[str, Any] | None:
        child: dict[str, Any] = live.get(f"/api/v1/broadcasts/{child_id}/", key=tenant.key).json()
        return (
            child if child["status"] in ("sent", "partially_sent", "failed") and child["stats"]["queued"] == 0 else None
        )

    child = wait_for(child_done, 90, "the worker to send the occurrence")
    assert (child["parent"], child["occurrence_at"], child["total_recipients"]) == (
        series["id"],
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        1,
    )
    time.sleep(12)  # another beat tick or more: nothing fires twice
    listed = live.get(occurrences, key=tenant.key).json()
    assert [o["broadcast"] for o in listed["results"]] == [child_id]
    assert [u["occurrence_at"] for u in listed["upcoming"]] == [
        (start + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ]
    children = live.get(f"/api/v1/broadcasts/?parent={series['id']}", key=tenant.key).json()["results"]
    assert [c["id"] for c in children] == [child_id]
    assert live.get(f"/api/v1/broadcasts/{series['id']}/", key=tenant.key).json()["status"] == "scheduled"
