"""What users do first, against the live stack (gunicorn + Celery worker + beat, DEBUG off).

Every flow here crosses something a test inside a transaction cannot see: a server-side cursor in
autocommit, work enqueued on commit and run by a real worker, a task that only beat starts, the
error pages Django serves when DEBUG is off.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks

from tests.live.conftest import LiveStack, Tenant, import_list, wait_for

pytestmark = pytest.mark.slow

# Uganda and Kenya have no quiet hours, so these go out whatever the time of day CI runs.
UG, KE = "+256772123456", "+254712345678"


def envelope(response: Any, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"type", "code", "message", "fields"}, body
    assert body["error"]["type"] == error_type, body
    return body["error"]


def broadcast_done(live: LiveStack, broadcast_id: str, key: str | None = None) -> dict[str, Any] | None:
    body = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=key).json()
    return body if body["status"] in ("sent", "partially_sent", "failed") and body["stats"]["queued"] == 0 else None


# The demo's simulator reports some messages read and about 2% failed (a fixed seed, per message id).
REPORTED = {"delivered", "read", "failed"}


def delivered(live: LiveStack, broadcast_id: str, count: int, key: str | None = None) -> list[dict[str, Any]]:
    """The broadcast's messages once the simulator has reported on every one of them."""

    def all_reported() -> list[dict[str, Any]] | None:
        results = live.get(f"/api/v1/messages/?broadcast={broadcast_id}", key=key).json()["results"]
        page = [m for m in results if not m["is_test"]]
        return page if len(page) == count and all(m["status"] in REPORTED for m in page) else None

    return wait_for(all_reported, 90, f"reports on {count} messages of {broadcast_id}")


@pytest.fixture(scope="module")
def tenant(live: LiveStack) -> Tenant:
    return live.new_tenant(f"Live {uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def ugandan_list(live: LiveStack, tenant: Tenant) -> str:
    """A list of three Ugandan contacts made through the API, as an integrator would."""
    ids = []
    for i in range(3):
        response = live.post(
            "/api/v1/contacts/", {"phone": f"+25677255{i:04d}", "first_name": f"Member{i}"}, key=tenant.key
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    created = live.post("/api/v1/contact-lists/", {"name": "Live members"}, key=tenant.key)
    assert created.status_code == 201, created.text
    list_id = created.json()["id"]
    added = live.post(f"/api/v1/contact-lists/{list_id}/contacts/", {"contacts": ids}, key=tenant.key)
    assert added.status_code == 200, added.text
    return str(list_id)


def test_readme_first_broadcast(live: LiveStack):
    """The README's curl commands, with the key `make run` printed."""
    key = live.demo_key
    assert live.get("/api/v1/me/", key=key).json()["client"]["name"] == "Demo Client"
    precheck = live.post(
        "/api/v1/broadcasts/precheck/",
        {"name": "Hello", "recipients": [UG, KE], "text": "Hello from Herald!"},
        key=key,
    )
    assert precheck.status_code == 200, precheck.text
    assert (precheck.json()["total_contacts"], precheck.json()["countries"]) == (2, 2)

    body = {
        "name": "Hello",
        "recipients": [UG, KE],
        "text": "Hello {{first_name|there}}!",
        "sender": "Herald",
    }
    headers = {"Idempotency-Key": f"first-broadcast-{uuid.uuid4().hex}"}
    created = live.post("/api/v1/broadcasts/", body, key=key, headers=headers)
    assert created.status_code == 201, created.text
    replay = live.post("/api/v1/broadcasts/", body, key=key, headers=headers)
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (201, "true")
    assert replay.json()["id"] == created.json()["id"]
    broadcast_id = created.json()["id"]
    estimated = Decimal(created.json()["estimated_cost"])

    messages = delivered(live, broadcast_id, 2, key=key)
    assert {m["text"] for m in messages} == {"Hello there!"}
    done = wait_for(lambda: broadcast_done(live, broadcast_id, key), 60, "the broadcast to complete")
    assert done["status"] == "sent"
    assert done["stats"]["delivered"] + done["stats"]["failed"] == 2  # a read message counts as delivered too
    entries = live.get("/api/v1/wallet/transactions/", key=key).json()["results"]
    mine = sorted((e["kind"], Decimal(e["amount"])) for e in entries if e["broadcast"] == broadcast_id)
    refunds = [("refund", Decimal(m["cost"])) for m in messages if m["status"] == "failed"]
    assert mine == sorted([("capture", estimated), ("reserve", estimated), *refunds])


def test_contact_list_precheck_simulate_and_create(live: LiveStack, tenant: Tenant, ugandan_list: str):
    body = {"name": "To a list", "contact_lists": [ugandan_list], "text": "Hi {{first_name}}", "sender": "Herald"}
    precheck = live.post("/api/v1/broadcasts/precheck/", body, key=tenant.key)
    assert precheck.status_code == 200, precheck.text
    assert precheck.json()["total_contacts"] == 3

    simulated = live.post("/api/v1/broadcasts/", {**body, "simulate": True}, key=tenant.key)
    assert simulated.status_code == 200, simulated.text
    assert (simulated.json()["id"], simulated.json()["total_recipients"]) == (None, 3)

    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    messages = delivered(live, created.json()["id"], 3, key=tenant.key)
    assert sorted(m["text"] for m in messages) == ["Hi Member0", "Hi Member1", "Hi Member2"]


def test_demo_lists_precheck_and_simulate(live: LiveStack):
    lists = live.get("/api/v1/contact-lists/", key=live.demo_key).json()["results"]
    assert lists, "seed_demo made no lists"
    for contact_list in lists:
        body = {"name": "Demo", "contact_lists": [contact_list["id"]], "template": "welcome", "sender": "Herald"}
        precheck = live.post("/api/v1/broadcasts/precheck/", body, key=live.demo_key)
        assert precheck.status_code == 200, precheck.text
        assert precheck.json()["total_contacts"] + precheck.json()["opted_out_count"] == contact_list["contact_count"]
        simulated = live.post("/api/v1/broadcasts/", {**body, "simulate": True}, key=live.demo_key)
        assert simulated.status_code == 200, simulated.text


def test_scheduled_broadcast_is_started_by_beat(live: LiveStack, tenant: Tenant):
    at = datetime.now(UTC) + timedelta(minutes=15)
    body = {
        "name": "Later",
        "recipients": [UG],
        "text": "Later",
        "sender": "Herald",
        "schedule_mode": "scheduled",
        "scheduled_at": at.isoformat(),
    }
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "scheduled"
    broadcast_id = created.json()["id"]
    # Its time comes: only beat's tick (every 10 s) can start it.
    live.sql("UPDATE broadcasts_broadcast SET scheduled_at = now() - interval '1 second' WHERE id = %s", [broadcast_id])
    live.sql(
        "UPDATE broadcasts_message SET not_before = now() - interval '1 second' WHERE broadcast_id = %s",
        [broadcast_id],
    )
    delivered(live, broadcast_id, 1, key=tenant.key)


def test_contact_import_runs_on_the_worker(live: LiveStack, tenant: Tenant):
    rows = ["phone,first_name,city"] + [f"+25677266{i:04d},Imported{i},Gulu" for i in range(50)] + ["12,Bad,Gulu"]
    response = live.request(
        "POST",
        "/api/v1/contact-imports/",
        key=tenant.key,
        files={"file": ("contacts.csv", "\n".join(rows).encode(), "text/csv")},
        data={"list_name": "Imported"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def finished() -> dict[str, Any] | None:
        job = live.get(f"/api/v1/contact-imports/{job_id}/", key=tenant.key).json()
        return job if job["status"] in ("completed", "failed") else None

    job = wait_for(finished, 60, "the import to finish")
    assert (job["status"], job["created"], job["invalid"], job["total_rows"]) == ("completed", 50, 1, 51)
    lists = live.get("/api/v1/contact-lists/?name=Imported", key=tenant.key).json()["results"]
    assert [entry["contact_count"] for entry in lists] == [50]


def test_not_found_answers_the_envelope(live: LiveStack):
    envelope(live.get(f"/api/v1/broadcasts/{uuid.uuid4()}/"), 404, "not_found")
    envelope(live.get("/api/v1/no-such-thing/"), 404, "not_found")
    envelope(live.post("/api/v1/no-such-thing/", {"a": 1}), 404, "not_found")
    envelope(live.post("/api/v3/broadcasts/", {"a": 1}, key=False), 404, "not_found")
    # /api/v2/ is RapidPro's (SPEC §14): its own 404 shape, for a POST without a key too.
    for method in ("GET", "POST"):
        rapidpro = live.request(method, "/api/v2/flows.json", key=False)
        assert (rapidpro.status_code, rapidpro.json()) == (404, {"detail": "Not found."})
    envelope(live.get("/api/v1/broadcasts/", key=False), 401, "authentication_error")
    page = live.get("/no-such-page/", key=False)
    assert page.status_code == 404
    assert page.headers["Content-Type"].startswith("text/html")


def test_server_error_answers_the_envelope_without_internals(live: LiveStack, tenant: Tenant):
    # A real failure below the API: the table its query needs is gone for a moment.
    live.sql("ALTER TABLE templates_app_template RENAME TO templates_app_template_away")
    try:
        response = live.get("/api/v1/templates/", key=tenant.key)
    finally:
        live.sql("ALTER TABLE templates_app_template_away RENAME TO templates_app_template")
    error = envelope(response, 500, "api_error")
    assert error == {
        "type": "api_error",
        "code": "internal_error",
        "message": "Something went wrong on our side.",
        "fields": {},
    }
    assert "templates_app" not in response.text
    assert live.get("/api/v1/templates/", key=tenant.key).status_code == 200


def wallet(live: LiveStack, key: str) -> dict[str, Any]:
    return live.get("/api/v1/wallet/", key=key).json()


def test_lifecycle_actions_settle_the_credit(live: LiveStack, tenant: Tenant):
    """Drip, pause, resume, cancel over HTTP: every action commits, and the reservation ends at 0."""
    recipients = [f"+25677277{i:04d}" for i in range(4)]
    body = {"name": "Drip", "recipients": recipients, "text": "Drip", "sender": "Herald"}
    created = live.post("/api/v1/broadcasts/", {**body, "schedule_mode": "drip", "drip_rate": 1}, key=tenant.key)
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]
    assert Decimal(wallet(live, tenant.key)["reserved"]) >= Decimal(created.json()["estimated_cost"])

    def action(name: str, status: int = 200) -> dict[str, Any]:
        response = live.post(f"/api/v1/broadcasts/{broadcast_id}/{name}/", key=tenant.key)
        assert response.status_code == status, response.text
        return response.json()

    assert action("pause")["status"] == "paused"
    assert action("pause", 409)["error"]["type"] == "conflict"
    assert action("resume")["status"] in ("queued", "sending")
    assert action("cancel")["status"] == "cancelled"
    assert action("retry-failed", 409)["error"]["type"] == "conflict"
    wait_for(lambda: Decimal(wallet(live, tenant.key)["reserved"]) == 0, 60, "the reservation to be released")
    statuses = {
        m["status"] for m in live.get(f"/api/v1/messages/?broadcast={broadcast_id}", key=tenant.key).json()["results"]
    }
    assert statuses <= {"cancelled", "sent", "delivered", "read", "failed"}, statuses


def test_draft_test_send_edit_and_send(live: LiveStack, tenant: Tenant):
    body = {"name": "Draft", "recipients": [UG, KE], "text": "Draft {{first_name|friend}}", "sender": "Herald"}
    draft = live.post("/api/v1/broadcasts/", {**body, "status": "draft"}, key=tenant.key)
    assert (draft.status_code, draft.json()["status"]) == (201, "draft"), draft.text
    broadcast_id = draft.json()["id"]
    tested = live.post(f"/api/v1/broadcasts/{broadcast_id}/test/", {"recipients": [UG]}, key=tenant.key)
    assert tested.status_code == 200, tested.text
    test_id = tested.json()["results"][0]["id"]

    def test_message_reported() -> bool:
        message = live.get(f"/api/v1/messages/{test_id}/", key=tenant.key).json()
        return message["status"] in REPORTED

    wait_for(test_message_reported, 60, "the test message to be reported")
    edited = live.request("PATCH", f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key, json={"name": "Renamed"})
    assert (edited.status_code, edited.json()["name"]) == (200, "Renamed"), edited.text
    sent = live.post(f"/api/v1/broadcasts/{broadcast_id}/send/", key=tenant.key)
    assert sent.status_code == 200, sent.text
    delivered(live, broadcast_id, 2, key=tenant.key)


class _Receiver:
    """A webhook receiver on loopback: records every request; answers 500 to the first `fail_first`."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/herald"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _headers, body in self.requests]


def test_webhooks_announce_a_broadcast_signed_and_retried(live: LiveStack):
    """An endpoint made through the API receives the broadcast's events from the worker after each
    commit, each verified by the standardwebhooks package; a 500 is retried with the same id."""
    tenant = live.new_tenant(f"Webhooks {uuid.uuid4().hex[:6]}")
    receiver = _Receiver(fail_first=1)
    try:
        made = live.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["*"]}, key=tenant.key)
        assert made.status_code == 201, made.text
        endpoint_id, secret = made.json()["id"], made.json()["secret"]
        body = {"name": "Hooked", "recipients": [UG, KE], "text": "Hi!", "sender": "Herald"}
        created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
        assert created.status_code == 201, created.text
        broadcast_id = created.json()["id"]

        def all_arrived() -> bool:
            ids = [h["webhook-id"] for h, _ in receiver.requests]
            done = any(e["type"] == "broadcast.completed" for e in receiver.events())
            return done and bool(ids) and ids.count(ids[0]) == 2

        wait_for(all_arrived, 90, "broadcast.completed and the retry of the first event at the receiver")
        verifier = standardwebhooks.Webhook(secret)
        for headers, raw in receiver.requests:
            verifier.verify(raw, headers)  # raises on a bad signature
        wrong = standardwebhooks.Webhook("whsec_" + base64.b64encode(b"x" * 32).decode())
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            wrong.verify(receiver.requests[0][1], receiver.requests[0][0])
        first_id = receiver.requests[0][0]["webhook-id"]
        assert [h["webhook-id"] for h, _ in receiver.requests].count(first_id) == 2  # the 500, then the retry
        events = {e["id"]: e for e in receiver.events()}.values()
        sent = [e for e in events if e["type"] == "message.sent"]
        assert len(sent) == 2
        assert {e["data"]["broadcast_id"] for e in sent} == {broadcast_id}
        deliveries = live.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/", key=tenant.key).json()["results"]
        first = [d for d in deliveries if d["event_id"] == first_id]
        assert sorted(d["status_code"] for d in first) == [204, 500]
    finally:
        receiver.server.shutdown()


def test_a_large_list_is_accepted_at_once_then_prepared_and_sent_by_the_worker(live: LiveStack):
    """Issue 12 on the real stack: over 10,000 members the create answers before any message
    exists, the worker prepares chunk by chunk (each commit starting the dispatcher), and the
    broadcast ends sent with its counters, totals and money exact."""
    tenant = live.new_tenant(f"Large {uuid.uuid4().hex[:6]}", balance="200")
    count = 10_050
    big = import_list(live, tenant, count, "Large", prefix="+2567739")
    body = {"name": "Large", "contact_lists": [big], "text": "Hello {{first_name}}!", "sender": "Herald"}
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    accepted = created.json()
    assert (accepted["preparing"], accepted["preparation"]) == (True, {"processed": 0, "total": count})
    broadcast_id = accepted["id"]
    done = wait_for(lambda: broadcast_done(live, broadcast_id, tenant.key), 180, "the large broadcast to complete")
    assert (done["preparing"], done["total_recipients"], done["stats"]["sent"]) == (False, count, count)
    assert live.sql("SELECT count(*) FROM broadcasts_message WHERE broadcast_id = %s", [broadcast_id]) == [(count,)]
    recount = live.manage("recountbroadcasts")
    assert "the counters equal the recount" in recount
    wait_for(lambda: Decimal(wallet(live, tenant.key)["reserved"]) == 0, 60, "the reservation to be released")


def test_a_tracked_link_is_clicked_through_gunicorn_and_counted(live: LiveStack, tenant: Tenant):
    """Issue 11 on the real stack: the short link answered before the session and auth middleware,
    its statement on a reused connection with no health check first; a connection the server
    dropped is replaced without losing the click; beat's click processing counts them."""
    url = "https://shop.example.com/sale?utm=sms"
    body = {"name": "Links", "recipients": [UG], "text": f"Sale! {url}", "sender": "Herald", "track_links": True}
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]
    [(code,)] = wait_for(
        lambda: live.sql(
            "SELECT c.code FROM tracking_linkcode c JOIN broadcasts_message m ON m.id = c.message_id"
            " WHERE m.broadcast_id = %s",
            [broadcast_id],
        ),
        60,
        "the message and its code",
    )
    browser = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Version/17.4 Mobile Safari/604.1"}

    def click() -> None:
        response = live.get(f"/r/{code}", key=False, headers=browser)
        assert (response.status_code, response.headers["Location"]) == (302, url), response.text
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in response.headers

    for _ in range(3):
        click()
    # Every connection that last ran a click is dropped by the server, as a restart would; gunicorn's
    # threads keep theirs (CONN_MAX_AGE) and find out on their next click.
    dropped = live.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND query LIKE '%%INSERT INTO tracking_click%%'"
    )
    assert dropped
    assert all(ok for (ok,) in dropped)
    for _ in range(12):  # more than gunicorn's threads: each meets its dropped connection once
        click()
    assert live.sql("SELECT count(*) FROM tracking_click WHERE code_id = %s", [code]) == [(15,)]

    def counted() -> dict[str, Any] | None:
        [link] = live.get(f"/api/v1/url-tracking/?broadcast={broadcast_id}", key=tenant.key).json()["results"]
        return link if link["clicks"] == 15 else None

    link = wait_for(counted, 60, "beat's click processing")
    assert (link["url"], link["unique_clicks"], link["bot_clicks"]) == (url, 1, 0)
    detail = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
    assert (detail["stats"]["clicks"], detail["stats"]["unique_clicks"]) == (15, 1)
