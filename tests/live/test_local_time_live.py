"""Recipient local time on the live stack (SPEC §8 "Campaigns": `schedule_mode: local_time`).

One wall-clock time, about 80 s ahead in Paris, sent through the HTTP API to recipients whose zone
comes from each source the SPEC names: a contact's `timezone` field (Paris: ~80 s ahead), the number's
only zone (Kampala, UTC+3: two hours ago, so `if_passed` decides; New York: hours ahead) and the
client's zone for a number with many zones (a +1 800 number; the client is in Honolulu: hours ahead).
Each message's `not_before` is checked, then the real beat and worker send the Paris one at its time
(not before), the passed Kampala one at once (`send_now`) or never (`skip`), and nothing else early.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.live.conftest import LiveStack, Tenant, wait_for

pytestmark = pytest.mark.slow

PARIS = "+256772410001"  # a Ugandan number whose contact says Europe/Paris: the contact's zone wins
KAMPALA = "+256772410002"  # its number's only zone: Africa/Kampala
NEW_YORK = "+12125550123"  # its number's only zone: America/New_York
TOLL_FREE = "+18002752273"  # +1 800 spans 42 zones: the client's (Pacific/Honolulu here)
CLIENT_ZONE = "Pacific/Honolulu"
AHEAD = timedelta(seconds=80)  # Paris' time: past the one-minute minimum, yet soon enough to watch
LATE = timedelta(seconds=40)  # a beat tick (10 s), the dispatcher's start and its batch, with room


def wall(at: datetime, zone: str) -> tuple[str, str]:
    local = at.astimezone(ZoneInfo(zone))
    return local.date().isoformat(), local.strftime("%H:%M:%S")


def instant(day: str, clock: str, zone: str) -> datetime:
    """That wall time in `zone` as UTC (none of these zones has a DST change near the test)."""
    naive = datetime.fromisoformat(f"{day}T{clock}")
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.fixture(scope="module")
def tenant(live: LiveStack) -> Tenant:
    tenant = live.new_tenant(f"Live local time {uuid.uuid4().hex[:6]}")
    live.sql("UPDATE accounts_client SET timezone = %s WHERE id = %s", [CLIENT_ZONE, tenant.client_id])
    made = live.post("/api/v1/contacts/", {"phone": PARIS, "timezone": "Europe/Paris"}, key=tenant.key)
    assert made.status_code == 201, made.text
    assert made.json()["timezone"] == "Europe/Paris"
    return tenant


def body(day: str, clock: str, **local_time: Any) -> dict[str, Any]:
    return {
        "name": f"Local time {local_time.get('if_passed', 'refused')}",
        "recipients": [PARIS, KAMPALA, NEW_YORK, TOLL_FREE],
        "text": "Good morning",
        "sender": "Herald",
        "purpose": "transactional",  # no quiet hours: only the local time decides when each goes
        "schedule_mode": "local_time",
        "local_time": {"date": day, "time": clock, **local_time},
    }


def messages(live: LiveStack, broadcast_id: str) -> dict[str, tuple[str, datetime | None, datetime | None, str]]:
    """urn → (status, not_before, sent_at, error_code), read from the stack's database."""
    rows = live.sql(
        "SELECT urn, status, not_before, sent_at, error_code FROM broadcasts_message"
        " WHERE broadcast_id = %s AND NOT is_test",
        [broadcast_id],
    )
    return {urn.removeprefix("tel:"): (status, nb, sent, code) for urn, status, nb, sent, code in rows}


def test_each_recipient_is_sent_at_its_own_local_time_by_beat_and_the_worker(live: LiveStack, tenant: Tenant):
    at = (datetime.now(UTC) + AHEAD).replace(microsecond=0)
    day, clock = wall(at, "Europe/Paris")
    times = {
        PARIS: at,
        KAMPALA: instant(day, clock, "Africa/Kampala"),  # two hours ago: passed
        NEW_YORK: instant(day, clock, "America/New_York"),  # six hours ahead
        TOLL_FREE: instant(day, clock, CLIENT_ZONE),  # eleven hours ahead
    }
    assert times[KAMPALA] < datetime.now(UTC) < at < times[NEW_YORK] < times[TOLL_FREE]

    # Without if_passed, a time already past somewhere is refused, naming the earliest such zone.
    refused = live.post("/api/v1/broadcasts/", body(day, clock), key=tenant.key)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert "local_time" in error["fields"], error
    assert "Africa/Kampala" in " ".join(str(m) for m in error["fields"]["local_time"]), error
    assert live.get("/api/v1/broadcasts/?limit=100", key=tenant.key).json()["results"] == []

    sent_now = live.post("/api/v1/broadcasts/", body(day, clock, if_passed="send_now"), key=tenant.key)
    skipped = live.post("/api/v1/broadcasts/", body(day, clock, if_passed="skip"), key=tenant.key)
    assert (sent_now.status_code, skipped.status_code) == (201, 201), (sent_now.text, skipped.text)
    created = datetime.now(UTC)
    now_id, skip_id = sent_now.json()["id"], skipped.json()["id"]
    assert sent_now.json()["local_time"] == {"date": day, "time": clock, "if_passed": "send_now"}
    assert (skipped.json()["total_recipients"], skipped.json()["skipped"]["local_time_passed"]) == (3, 1)

    # Each message's own not_before: the passed one (send_now) goes at once, the skipped one never.
    planned_now = messages(live, now_id)
    for phone in (PARIS, NEW_YORK, TOLL_FREE):
        assert planned_now[phone][1] == times[phone], phone
    planned_skip = messages(live, skip_id)
    assert {p: planned_skip[p][1] for p in (PARIS, NEW_YORK, TOLL_FREE)} == {
        p: times[p] for p in (PARIS, NEW_YORK, TOLL_FREE)
    }
    assert (planned_skip[KAMPALA][0], planned_skip[KAMPALA][3]) == ("skipped", "local_time_passed")

    # send_now: Kampala goes through the worker at once, long before Paris' time.
    kampala = wait_for(
        lambda: messages(live, now_id)[KAMPALA][2], (at - datetime.now(UTC)).total_seconds() - 5, "Kampala at once"
    )
    assert created - timedelta(seconds=5) <= kampala < at
    early = {phone: state for phone, state in messages(live, now_id).items() if phone != KAMPALA and state[2]}
    assert early == {}, early  # nothing else has gone before its time

    def paris_sent() -> dict[str, datetime] | None:
        sent = {b: messages(live, b)[PARIS][2] for b in (now_id, skip_id)}
        return sent if all(sent.values()) else None  # type: ignore[return-value]

    sent = wait_for(paris_sent, (at - datetime.now(UTC)).total_seconds() + LATE.total_seconds(), "Paris' 9-ish")
    for broadcast_id, when in sent.items():
        assert at <= when <= at + LATE, (broadcast_id, when, at)
    # The zones still ahead wait: nothing sent early, each still pending at its own time.
    for broadcast_id in (now_id, skip_id):
        state = messages(live, broadcast_id)
        for phone in (NEW_YORK, TOLL_FREE):
            assert state[phone][:3] == ("pending", times[phone], None), (broadcast_id, phone, state[phone])
        detail = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
        assert detail["stats"]["waiting"] == 2, detail["stats"]
    assert (messages(live, skip_id)[KAMPALA][0], messages(live, skip_id)[KAMPALA][2]) == ("skipped", None)

    # Cancelling releases the zones not yet sent (and leaves nothing for the rest of the session).
    for broadcast_id in (now_id, skip_id):
        cancelled = live.post(f"/api/v1/broadcasts/{broadcast_id}/cancel/", key=tenant.key)
        assert cancelled.status_code == 200, cancelled.text
        state = messages(live, broadcast_id)
        assert {state[p][0] for p in (NEW_YORK, TOLL_FREE)} == {"cancelled"}, state
