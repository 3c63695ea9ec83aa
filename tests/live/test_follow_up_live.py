"""Follow-ups on the live stack (SPEC §8 "Campaigns": POST /broadcasts/{id}/follow-up/).

A broadcast to twenty contacts is finished by the real stack: the worker sends it through the tenant's
own simulator connector, which reports about half of the messages failed (a fixed seed per message);
two recipients click their tracked link through the real `/r/` redirect (beat's click processing
marks them clicked); two reply through the inbound hook of the tenant's `http` connector; one whose
message failed opts out in between. Then each follow-up audience — not_delivered, failed, clicked,
not_replied — is created over HTTP and really sent by the worker to exactly those recipients, with the
opt-out read again (the opted-out recipient is skipped, never handed to the connector).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.live.conftest import LiveStack, Tenant, wait_for

pytestmark = pytest.mark.slow

# Uganda: no quiet hours whatever the hour. Twenty, so that the seeded 50 % leaves fewer than two
# delivered or two failed once in ~25,000 runs (with ten it was once in ~50).
PHONES = [f"+2567724200{i:02d}" for i in range(20)]
URL = "https://shop.example.com/sale"
BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Version/17.4 Mobile Safari/604.1"}
REPORTED = ("delivered", "read", "failed")
HANDED = ("sent", "delivered", "read", "failed")
FINISHED = ("sent", "partially_sent", "failed")


def messages(live: LiveStack, broadcast_id: str) -> dict[str, tuple[str, str]]:
    """phone → (status, error_code) of the broadcast's messages, from the stack's database."""
    rows = live.sql(
        "SELECT urn, status, error_code FROM broadcasts_message WHERE broadcast_id = %s AND NOT is_test",
        [broadcast_id],
    )
    return {urn.removeprefix("tel:"): (status, code) for urn, status, code in rows}


def finished(live: LiveStack, tenant: Tenant, broadcast_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
    return body if body["status"] in FINISHED and body["stats"]["queued"] == 0 else None


@pytest.fixture(scope="module")
def setup(live: LiveStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tenant with its own simulator connector (half fail) behind its own route, an `http`
    connector for its inbound replies, and twenty contacts."""
    tag = uuid.uuid4().hex[:6]
    tenant = live.new_tenant(f"Live follow-up {tag}", balance="100")
    simulator = f"fu-sim-{tag}"
    config = {"failure_rate": 0.5, "delay": 1, "seed": tag}
    live.manage(
        "createconnector", simulator, "--backend", "simulator", "--config", json.dumps(config),
        "--tps", "200", "--client", tenant.client_id,
    )  # fmt: skip
    route = f"FU_{tag.upper()}"
    csv = tmp_path_factory.mktemp("follow-up") / "routes.csv"
    csv.write_text(
        "channel,country_code,prefix,route_code,connector,currency,price_per_segment,tier\n"
        f"sms,UG,,{route},{simulator},USD,0.01,premium\n"
    )
    live.manage("importroutes", str(csv))
    token = f"inbound-{tag}"
    inbound = live.manage(
        "createconnector", f"fu-in-{tag}", "--backend", "http", "--client", tenant.client_id,
        "--config", json.dumps({"url": "http://127.0.0.1:9/unused", "token": token}),
    ).strip().splitlines()[-1]  # fmt: skip
    contacts = {}
    for i, phone in enumerate(PHONES):
        made = live.post("/api/v1/contacts/", {"phone": phone, "first_name": f"Fu{i}"}, key=tenant.key)
        assert made.status_code == 201, made.text
        contacts[phone] = made.json()["id"]
    return {"tenant": tenant, "route": route, "inbound": inbound, "token": token, "contacts": contacts}


def test_each_follow_up_audience_is_sent_to_exactly_its_recipients(live: LiveStack, setup: dict[str, Any]):
    tenant, route, contacts = setup["tenant"], setup["route"], setup["contacts"]
    created = live.post(
        "/api/v1/broadcasts/",
        {
            "name": "Sale", "contacts": list(contacts.values()), "text": f"Hi {{{{first_name}}}}, sale: {URL}",
            "sender": "Herald", "route": route, "track_links": True, "with_replies": True,
        },
        key=tenant.key,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    original = created.json()["id"]

    def all_reported() -> dict[str, tuple[str, str]] | None:
        state = messages(live, original)
        return state if len(state) == len(PHONES) and all(s in REPORTED for s, _ in state.values()) else None

    state = wait_for(all_reported, 60, "the simulator's reports on every message")
    wait_for(lambda: finished(live, tenant, original), 30, "the original to finish")
    delivered = {p for p, (s, _) in state.items() if s in ("delivered", "read")}
    failed = {p for p, (s, _) in state.items() if s == "failed"}
    # The seed splits them (a fixed 50 % per message).
    assert len(delivered) >= 2, state
    assert len(failed) >= 2, state

    # Two delivered recipients click their link through the real redirect; beat marks them clicked.
    clickers = sorted(delivered)[:2]
    codes = dict(
        live.sql(
            "SELECT m.urn, c.code FROM tracking_linkcode c JOIN broadcasts_message m ON m.id = c.message_id"
            " WHERE m.broadcast_id = %s",
            [original],
        )
    )
    for phone in clickers:
        response = live.get(f"/r/{codes[f'tel:{phone}']}", key=False, headers=BROWSER)
        assert (response.status_code, response.headers["Location"]) == (302, URL), response.text

    def clicked() -> set[str] | None:
        rows = live.sql("SELECT urn FROM broadcasts_message WHERE broadcast_id = %s AND clicked", [original])
        found = {urn.removeprefix("tel:") for (urn,) in rows}
        return found if found == set(clickers) else None

    wait_for(clicked, 30, "beat's click processing to mark the clickers")

    # One delivered and one failed recipient reply through the tenant's inbound hook.
    repliers = {sorted(delivered)[-1], sorted(failed)[0]}
    for n, phone in enumerate(sorted(repliers)):
        answer = live.post(
            f"/hooks/{setup['inbound']}/inbound/",
            {"id": f"in-{original}-{n}", "from": phone, "to": "Herald", "text": "Tell me more"},
            key=False,
            headers={"Authorization": f"Bearer {setup['token']}"},
        )
        assert answer.status_code == 200, answer.text
    replied = live.sql("SELECT count(*) FROM broadcasts_reply WHERE broadcast_id = %s", [original])
    assert replied == [(2,)]

    # One whose message failed (and who did not reply) opts out before the follow-ups.
    opted = sorted(failed - repliers)[0]
    out = live.post(f"/api/v1/contacts/{contacts[opted]}/opt-out/", key=tenant.key)
    assert out.status_code == 200, out.text

    expected = {
        "not_delivered": failed,
        "failed": failed,
        "clicked": set(clickers),
        "not_replied": delivered - repliers,  # those it reached (not failed) who did not reply
    }
    follow_ups = {}
    for audience in expected:
        made = live.post(
            f"/api/v1/broadcasts/{original}/follow-up/",
            {
                "audience": audience,
                "name": f"Again {audience}",
                "text": "Last day!",
                "sender": "Herald",
                "route": route,
            },
            key=tenant.key,
        )
        assert made.status_code == 201, (audience, made.text)
        body = made.json()
        assert (body["parent"], body["follow_up_audience"]) == (original, audience)
        follow_ups[audience] = body["id"]

    for audience, broadcast_id in follow_ups.items():
        wait_for(lambda b=broadcast_id: finished(live, tenant, b), 60, f"the {audience} follow-up to be sent")
        state = messages(live, broadcast_id)
        assert set(state) == expected[audience], (audience, state)
        handed = {p for p, (s, _) in state.items() if s in HANDED}
        skipped = {p: code for p, (s, code) in state.items() if s == "skipped"}
        if opted in expected[audience]:
            assert skipped == {opted: "opted_out"}, (audience, state)
        else:
            assert skipped == {}, (audience, state)
        assert handed == expected[audience] - {opted}, (audience, state)
    # Nothing was handed to the opted-out recipient after the original.
    sent_to_opted = live.sql(
        "SELECT count(*) FROM broadcasts_message m JOIN broadcasts_broadcast b ON b.id = m.broadcast_id"
        " WHERE b.parent_id = %s AND m.urn = %s AND m.sent_at IS NOT NULL",
        [original, f"tel:{opted}"],
    )
    assert sent_to_opted == [(0,)]
