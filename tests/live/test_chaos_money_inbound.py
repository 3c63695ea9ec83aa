"""Money and inbound keywords under races, on the live stack (real gunicorn and Celery workers).

1. A test send racing an edit and a cancel (SPEC §7, §8, §10 Dispatch: "every reservation is
   captured or released in full — also when a test send, an edit of a scheduled broadcast and a
   cancel overlap"). A broadcast scheduled two hours ahead is test-sent through a provider that
   holds the request a few seconds; while the request is verifiably at the provider, the broadcast
   is edited (a longer text: its reservation changes) and/or cancelled. Once everything settles:
   the test messages reached the provider once each and nothing else of the broadcast went; each
   ended sent (its exact cost captured) or, when the provider answered after the request's deadline,
   failed `delivery_unknown` (nothing captured); the broadcast's reservation holds nothing, the
   wallet's `reserved` is back to 0, the ledger replays entry by entry to the wallet, and the stack
   never logged a capture or release that exceeded the reservation.

2. Inbound STOP, START, STOP, then the provider's retry of the START (SPEC §10 "Delivery reports
   and replies": a provider's retry, same provider id, changes nothing; a keyword older by the
   provider's clock than the contact's last change never overrides it). Posted to the inbound hook
   of a WhatsApp Cloud connector (messages stamped with the contact's send time) and of an `http`
   connector (no time on its wire: only the provider id tells a retry; the contact replies on the
   connector that sent it a broadcast). The contact stays opted out (API and database), each
   inbound is stored once, and a broadcast to it afterwards skips it. The mirror image (STOP,
   START, then a retry of the STOP) leaves it opted in, and the next broadcast reaches it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from tests.live.chaos_tools import CountingProvider, accept
from tests.live.conftest import LiveStack, Tenant, wait_for
from tests.live.test_chaos import PRICE, TEXT, Route, Run, assert_sound, make_routes, numbers, settle, verdict, wallet

pytestmark = pytest.mark.slow

# The provider holds each test send at most this long: under the live stack's PROVIDER_TIMEOUT (3 s),
# answering as soon as the edit/cancel has answered (accepted: captured), or over it, so Herald gives
# up (unknown: failed, released). The accepted answer waits for the test's signal rather than a fixed
# 2 s: a loaded machine whose PATCH and cancel took longer than that lost the race it was to stage.
ANSWERS = {"accepted": 2.8, "after_the_deadline": 4.5}
# Two parts of GSM text (> 160 characters): the edit doubles the broadcast's reservation.
LONG_TEXT = "Edited chaos check {{first_name|friend}}: " + "the schedule moved, here is why. " * 5
LEDGER_MISTAKES = ("capture_exceeds_reservation", "release_exceeds_reservation")


@pytest.fixture(scope="module")
def routes(live: LiveStack, provider: CountingProvider, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Route]:
    return make_routes(live, provider, tmp_path_factory.mktemp("chaos-money-inbound"))


@pytest.fixture
def tenant(live: LiveStack) -> Tenant:
    """A fresh client per test: its wallet's `reserved` starts at 0 and its ledger is its own."""
    return live.new_tenant(f"Money inbound {uuid.uuid4().hex[:6]}", balance="500")


@pytest.fixture(autouse=True)
def _well_behaved_after(provider: CountingProvider) -> Iterator[None]:
    yield
    provider.policy = accept()


def log_offset(live: LiveStack) -> int:
    try:
        return live.log_path.stat().st_size
    except OSError:
        return 0


def log_since(live: LiveStack, offset: int) -> str:
    with live.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def ledger_replay_problems(live: LiveStack, client_id: str) -> list[str]:
    """Replay the wallet's whole ledger from zero: each entry's balance_after and reserved_after must
    follow from the one before, and the last must be the wallet as it stands (SPEC §7)."""
    entries = live.sql(
        "SELECT e.id, e.kind, e.amount, e.balance_after, e.reserved_after FROM wallets_ledgerentry e"
        " WHERE e.wallet_id = %s ORDER BY e.id",
        [client_id],
    )
    balance = reserved = Decimal(0)
    problems = []
    for entry_id, kind, amount, balance_after, reserved_after in entries:
        if kind in ("topup", "adjustment", "refund"):
            balance += amount
        elif kind == "reserve":
            reserved += amount
        elif kind == "release":
            reserved -= amount
        elif kind == "capture":
            balance -= amount
            reserved -= amount
        else:
            problems.append(f"ledger entry {entry_id}: unknown kind {kind!r}")
        if (balance, reserved) != (balance_after, reserved_after):
            problems.append(
                f"ledger entry {entry_id} ({kind} {amount}): says balance {balance_after} reserved {reserved_after},"
                f" the replay gives {balance} and {reserved}"
            )
            balance, reserved = balance_after, reserved_after
        if reserved < 0:
            problems.append(f"ledger entry {entry_id}: reserved went negative ({reserved})")
    if (balance, reserved) != wallet(live, client_id):
        problems.append(
            f"the ledger replays to balance {balance} reserved {reserved}, the wallet says {wallet(live, client_id)}"
        )
    return problems


# --- 1. a test send racing an edit and a cancel ---------------------------------------------------


def scheduled_broadcast(live: LiveStack, provider: CountingProvider, tenant: Tenant, route: Route, count: int) -> Run:
    balance, reserved = wallet(live, tenant.client_id)
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    body = {
        "name": "Scheduled chaos",
        "recipients": numbers(count),
        "text": TEXT,
        "sender": "Herald",
        "route": route.code,
        "schedule_mode": "scheduled",
        "scheduled_at": at.isoformat(),
    }
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert (created.status_code, created.json().get("status")) == (201, "scheduled"), created.text
    assert Decimal(created.json()["estimated_cost"]) == PRICE * count, created.text
    run = Run(live, provider, tenant, route, created.json()["id"], set(), balance, reserved)
    run.note(f"created {run.broadcast_id}: {count} recipients, scheduled for {at.isoformat()}")
    return run


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("race", ["edit", "cancel", "edit_and_cancel"])
def test_a_test_send_racing_an_edit_and_a_cancel_settles_every_cent(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant, race: str, answer: str
):
    """race `edit`: PATCH while the test is at the provider, cancel once it is done; `cancel`: cancel
    while it is at the provider; `edit_and_cancel`: both while it is at the provider."""
    route = routes["plain"]
    offset = log_offset(live)
    delay = ANSWERS[answer]
    provider.policy = accept(delay=delay)
    released = provider.hold = threading.Event() if answer == "accepted" else None
    try:
        _racing_test_send(live, provider, tenant, route, race, answer, offset, delay, released)
    finally:
        if released is not None:
            released.set()
        provider.hold = None


def _racing_test_send(
    live: LiveStack,
    provider: CountingProvider,
    tenant: Tenant,
    route: Route,
    race: str,
    answer: str,
    offset: int,
    delay: float,
    released: threading.Event | None,
) -> None:
    run = scheduled_broadcast(live, provider, tenant, route, 5)
    hits_before = len(provider.hits)
    assert wallet(live, tenant.client_id)[1] == PRICE * 5

    tested = run.action("test", {"recipients": numbers(2)})
    assert tested.status_code == 200, tested.text
    test_ids = {int(m["id"]) for m in tested.json()["results"]}
    test_cost = sum((Decimal(m["cost"]) for m in tested.json()["results"]), Decimal(0))
    assert len(test_ids) == 2, tested.text
    assert test_cost == PRICE * 2, tested.text
    run.note(f"test send {sorted(test_ids)} accepted, cost {test_cost}")

    def at_the_provider() -> bool:
        hits = run.hits(test_ids)
        return len({h.message_id for h in hits}) == 2 and bool(provider.in_flight_ports())

    wait_for(at_the_provider, 30, "both test messages to be at the (slow) provider", interval=0.02)
    first_hit = min(h.at for h in run.hits(test_ids))
    run.note("both test messages at the provider")

    new_cost = None
    if race in ("edit", "edit_and_cancel"):
        edited = live.request(
            "PATCH", f"/api/v1/broadcasts/{run.broadcast_id}/", key=tenant.key, json={"text": LONG_TEXT}
        )
        assert (edited.status_code, edited.json().get("status")) == (200, "scheduled"), edited.text
        new_cost = Decimal(edited.json()["estimated_cost"])
        assert new_cost == PRICE * 5 * 2, edited.text  # two parts each: the reservation doubled
        run.note(f"edited: estimated cost now {new_cost}")
    if race in ("cancel", "edit_and_cancel"):
        cancelled = run.action("cancel")
        assert (cancelled.status_code, cancelled.json().get("status")) == (200, "cancelled"), cancelled.text
        run.note("cancelled")
    # The race was real: the provider was still holding the test requests when the API answered.
    elapsed = time.monotonic() - first_hit
    assert elapsed < min(delay, 3.0), f"the edit/cancel answered {elapsed:.2f} s after the test reached the provider"
    assert provider.in_flight_ports(), "the provider had answered the test send before the edit/cancel answered"
    if released is not None:
        released.set()  # the accepted answer goes now

    def tests_done() -> bool:
        rows = live.sql("SELECT status FROM broadcasts_message WHERE id = ANY(%s)", [sorted(test_ids)])
        return {s for (s,) in rows} <= {"sent", "delivered", "read", "failed"}

    wait_for(tests_done, 30, "the test messages to end sent or failed")
    run.note("test messages done")
    if race == "edit":
        # Still scheduled: once the test is done the reservation holds exactly the edited plan.
        wait_for(
            lambda: wallet(live, tenant.client_id)[1] == new_cost,
            10,
            f"reserved to be the edited plan's {new_cost} (is {wallet(live, tenant.client_id)[1]})",
        )
        cancelled = run.action("cancel")
        assert (cancelled.status_code, cancelled.json().get("status")) == (200, "cancelled"), cancelled.text
        run.note("cancelled after the test send ended")

    settle(run, 30)
    v = verdict(run, worker_died=answer == "after_the_deadline")  # an unknown outcome is recorded as failed
    assert_sound(v)
    assert v.status == "cancelled", v.report

    # The test messages: each reached the provider once and ended as its answer says.
    tests = {mid: r for mid, r in v.rows.items() if r[4]}
    assert set(tests) == test_ids, v.report
    assert Counter(h.message_id for h in v.hits) == Counter(dict.fromkeys(test_ids, 1)), v.report
    if answer == "accepted":
        assert {r[1] for r in tests.values()} == {"sent"}, v.report
    else:
        assert {(r[1], r[2]) for r in tests.values()} == {("failed", "delivery_unknown")}, v.report
    # Nothing but the test messages went out through the route while this ran (the scheduled
    # messages, before or after the edit, never left).
    others = [h for h in provider.hits[hits_before:] if h.path == route.path and h.message_id not in test_ids]
    assert not others, f"{len(others)} other requests reached the provider: {others[:5]}\n{v.report}"
    assert v.statuses() == Counter({"cancelled": 5}), v.report

    # The money: captured exactly the test's cost when it was sent, nothing otherwise; all else released.
    sums = dict(
        live.sql(
            "SELECT kind, SUM(amount) FROM wallets_ledgerentry WHERE broadcast_id = %s GROUP BY kind",
            [run.broadcast_id],
        )
    )
    captured = sums.get("capture", Decimal(0))
    assert captured == (test_cost if answer == "accepted" else 0), f"{sums}\n{v.report}"
    assert sums["reserve"] == sums.get("release", Decimal(0)) + captured, f"{sums}\n{v.report}"
    [(held,)] = live.sql(
        "SELECT reserved - captured - released FROM wallets_reservation WHERE broadcast_id = %s", [run.broadcast_id]
    )
    assert held == 0, v.report
    balance, reserved = wallet(live, tenant.client_id)
    assert (balance, reserved) == (run.balance_before - captured, Decimal(0)), v.report
    assert Decimal(live.get("/api/v1/wallet/", key=tenant.key).json()["reserved"]) == 0
    problems = ledger_replay_problems(live, tenant.client_id)
    assert not problems, "\n".join(problems) + "\n" + v.report
    logged = log_since(live, offset)
    assert not [m for m in LEDGER_MISTAKES if m in logged], [
        line for line in logged.splitlines() if any(m in line for m in LEDGER_MISTAKES)
    ][:10]


# --- 2. inbound STOP, START, STOP, then the provider's retry of the START ------------------------

APP_SECRET = "chaos-app-secret"
PHONE_NUMBER_ID = "106540352242922"


class Inbox:
    """One connector's inbound hook, spoken in its provider's wire format."""

    def __init__(self, live: LiveStack, backend: str, connector_id: str, token: str = "") -> None:
        self.live, self.backend, self.connector_id, self.token = live, backend, connector_id, token

    def deliver(self, phone: str, provider_id: str, text: str, sent_at: int) -> requests.Response:
        url = f"/hooks/{self.connector_id}/inbound/"
        if self.backend == "http":  # {"id", "from", "to", "text"}: no time on this wire
            body = json.dumps({"id": provider_id, "from": phone, "to": "Herald", "text": text})
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        else:
            message = {
                "from": phone.lstrip("+"),
                "id": provider_id,
                "timestamp": str(sent_at),
                "type": "text",
                "text": {"body": text},
            }
            value = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": [{"profile": {"name": "Amina"}, "wa_id": phone.lstrip("+")}],
                "messages": [message],
            }
            body = json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
                }
            )
            signature = hmac.new(APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            headers = {"X-Hub-Signature-256": f"sha256={signature}", "Content-Type": "application/json"}
        return self.live.request("POST", url, key=False, data=body.encode(), headers=headers)  # type: ignore[arg-type]


def connector_id(live: LiveStack, name: str) -> str:
    [(found,)] = live.sql("SELECT id FROM broadcasts_connector WHERE name = %s", [name])
    return str(found)


def whatsapp_inbox(live: LiveStack, tenant: Tenant) -> Inbox:
    """A WhatsApp Cloud connector of the tenant's own (SPEC §10: a sender it never messaged is then
    still attributed to the tenant). `createconnector` has no `--client` (the SPEC names one), so the
    connector is made the tenant's with SQL, as an operator's admin edit would."""
    name = f"chaos-wa-{uuid.uuid4().hex[:6]}"
    config = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": "EAAG-chaos",
        "app_secret": APP_SECRET,
        "verify_token": "chaos-verify",
        "base_url": "http://127.0.0.1:9",
    }
    live.manage(
        "createconnector", name, "--channel", "whatsapp", "--backend", "whatsapp_cloud", "--config", json.dumps(config)
    )
    live.sql("UPDATE broadcasts_connector SET client_id = %s WHERE name = %s", [tenant.client_id, name])
    return Inbox(live, "whatsapp_cloud", connector_id(live, name))


def http_inbox(live: LiveStack, route: Route) -> Inbox:
    """The (platform-wide) `http` connector behind the chaos route: replies are attributed by the
    message it sent. Its token is make_routes' `chaos-token-<tag>`, the tag ending its name."""
    tag = route.connector.rsplit("-", 1)[1]
    return Inbox(live, "http", connector_id(live, route.connector), token=f"chaos-token-{tag}")


def new_contact(live: LiveStack, tenant: Tenant, phone: str, name: str) -> str:
    made = live.post("/api/v1/contacts/", {"phone": phone, "first_name": name}, key=tenant.key)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def broadcast_to(live: LiveStack, tenant: Tenant, route: Route, contact_ids: list[str], **extra: Any) -> dict[str, Any]:
    body = {
        "name": "After the keywords",
        "contacts": contact_ids,
        "text": TEXT,
        "sender": "Herald",
        "route": route.code,
    }
    created = live.post("/api/v1/broadcasts/", {**body, **extra}, key=tenant.key)
    assert created.status_code == 201, created.text
    broadcast: dict[str, Any] = created.json()

    def done() -> bool:
        [(status,)] = live.sql("SELECT status FROM broadcasts_broadcast WHERE id = %s", [broadcast["id"]])
        return status in ("sent", "partially_sent", "failed")

    wait_for(done, 60, f"broadcast {broadcast['id']} to complete")
    return broadcast


def opted_out(live: LiveStack, tenant: Tenant, contact_id: str) -> tuple[bool, bool]:
    """(the API's `opted_out`, the database's) for the contact."""
    shown = live.get(f"/api/v1/contacts/{contact_id}/", key=tenant.key)
    assert shown.status_code == 200, shown.text
    [(stored,)] = live.sql("SELECT opted_out FROM contacts_contact WHERE id = %s", [contact_id])
    return bool(shown.json()["opted_out"]), bool(stored)


def deliver_twice_at_once(inbox: Inbox, *args: Any) -> list[requests.Response]:
    """The same callback from two threads released together (gunicorn: two connections, any workers)."""
    barrier = threading.Barrier(2)
    answers: list[requests.Response] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=10)
            answers.append(inbox.deliver(*args))
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return answers


@pytest.mark.parametrize("retried", ["START", "STOP"])
@pytest.mark.parametrize("backend", ["whatsapp_cloud", "http"])
def test_a_retried_keyword_arriving_last_changes_nothing(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant, backend: str, retried: str
):
    """retried `START`: STOP (t1), START (t2), STOP (t3), then the provider's retry of the START (same
    id, t2): the contact stays opted out. retried `STOP`: STOP (t1), START (t2), then the retry of
    the STOP (same id, t1): the contact stays opted in."""
    route = routes["plain"]
    provider.policy = accept()
    phone, other_phone = numbers(2)
    contact = new_contact(live, tenant, phone, "Amina")
    other = new_contact(live, tenant, other_phone, "Brian")
    replied_to = None  # the broadcast the replies are linked to (SPEC §10: with_replies, 7 days)
    if backend == "http":
        inbox = http_inbox(live, route)
        # The contact hears from us first, through the connector it will reply on.
        first = broadcast_to(live, tenant, route, [contact], with_replies=True)
        [(sent,)] = live.sql(
            "SELECT count(*) FROM broadcasts_message WHERE broadcast_id = %s AND status = 'sent'", [first["id"]]
        )
        assert sent == 1, first
        replied_to = first["id"]
    else:
        inbox = whatsapp_inbox(live, tenant)
    tag = uuid.uuid4().hex[:8]
    t0 = int(time.time()) - 600  # the contact's phone clock: minutes ago, a minute between keywords
    sequence = [(f"in-{tag}-1", "STOP", t0), (f"in-{tag}-2", "START", t0 + 60)]
    if retried == "START":
        sequence.append((f"in-{tag}-3", "STOP", t0 + 120))
    for provider_id, text, sent_at in sequence:
        answer = inbox.deliver(phone, provider_id, text, sent_at)
        assert (answer.status_code, answer.json().get("replies")) == (200, 1), answer.text
        # Each keyword has applied before the next is sent (the hook answers after storing it).
        assert opted_out(live, tenant, contact) == ((text == "STOP"),) * 2, (provider_id, text)

    again = next(item for item in sequence if item[1] == retried)  # the first START, or the first STOP
    retry = inbox.deliver(phone, *again)
    assert (retry.status_code, retry.json().get("replies")) == (200, 0), retry.text
    # And once more, delivered twice at the same moment (the provider's retries overlapping).
    both = deliver_twice_at_once(inbox, phone, *again)
    assert [(r.status_code, r.json().get("replies")) for r in both] == [(200, 0), (200, 0)], [r.text for r in both]
    expect_out = retried == "START"
    stored_texts = {pid: text for pid, text, _at in sequence}
    if backend == "whatsapp_cloud" and retried == "START":
        # Not a retry: a START the contact sent before the last STOP (t2), delivered after it, under
        # an id of its own. Stored as a reply, but older than the last change: never applied.
        late = inbox.deliver(phone, f"in-{tag}-late", "START", t0 + 90)
        assert (late.status_code, late.json().get("replies")) == (200, 1), late.text
        stored_texts[f"in-{tag}-late"] = "START"

    assert opted_out(live, tenant, contact) == (expect_out, expect_out)
    [(source,)] = live.sql("SELECT opted_out_source FROM contacts_contact WHERE id = %s", [contact])
    assert source == ("keyword" if expect_out else ""), source
    # Each inbound stored once, and nothing else stored for the contact.
    stored = Counter(
        pid
        for (pid,) in live.sql(
            "SELECT provider_message_id FROM broadcasts_reply WHERE connector_id = %s AND contact_id = %s",
            [inbox.connector_id, contact],
        )
    )
    assert stored == Counter(dict.fromkeys(stored_texts, 1)), stored
    listed = live.get(f"/api/v1/replies/?contact={contact}&limit=100", key=tenant.key).json()
    texts = Counter(r["text"] for r in listed["results"])
    assert texts == Counter(stored_texts.values()), listed
    assert {r["broadcast"] for r in listed["results"]} == {replied_to}, listed

    # A broadcast afterwards: skips the opted-out contact, reaches the opted-in one.
    hits_before = len(provider.hits)
    after = broadcast_to(live, tenant, route, [contact, other])
    assert after["skipped"]["opted_out"] == (1 if expect_out else 0), after
    assert after["total_recipients"] == (1 if expect_out else 2), after
    reached = Counter(h.to for h in provider.hits[hits_before:] if h.path == route.path and h.accepted)
    assert reached == Counter({other_phone: 1, **({} if expect_out else {phone: 1})}), reached
    rows = dict(
        live.sql("SELECT urn, status FROM broadcasts_message WHERE broadcast_id = %s AND NOT is_test", [after["id"]])
    )
    expected_rows = {f"tel:{other_phone}": "sent", f"tel:{phone}": "skipped" if expect_out else "sent"}
    assert rows == expected_rows, rows
