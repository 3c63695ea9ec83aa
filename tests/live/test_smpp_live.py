"""The smpp connector on the live stack (gunicorn, Celery worker and beat from scripts/run.py) against
the test SMSC in its own process (tests/smsc: npm `smpp` 0.5.1), with `manage.py smpp_listener`
holding the receiving binds as production runs it.

Nothing here mocks: the worker's prefork children bind and send, receipts come back on their binds
and on the listener's, and the ledger is read through the API.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.live.conftest import BASE_DIR, PYTHON, LiveStack, Tenant, wait_for
from tests.smsc import Smsc

pytestmark = pytest.mark.slow

PRICE = Decimal("0.01")
WINDOW = 10


def numbers(count: int, block: int) -> list[str]:
    """Ugandan numbers ending in 1: no simulator suffix rule (444, 555, … 999) applies."""
    return [f"+25677{block:02d}{i:04d}1" for i in range(count)]


@pytest.fixture(scope="module")
def smsc() -> Iterator[Smsc]:
    with Smsc.start(DLR_DELAY_MS=300, RESP_DELAY_MS=5) as running:
        yield running


@pytest.fixture(scope="module")
def route(live: LiveStack, smsc: Smsc, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    name = f"smpp-live-{tag}"
    config = {"host": smsc.host, "port": smsc.port, "system_id": "herald", "window": WINDOW, "response_timeout": 2}
    live.manage("createconnector", name, "--backend", "smpp", "--tps", "1000", "--config", json.dumps(config))
    code = f"SMPP_{tag.upper()}"
    csv = tmp_path_factory.mktemp("smpp") / "routes.csv"
    csv.write_text(
        "channel,country_code,prefix,route_code,connector,currency,price_per_segment,tier\n"
        f"sms,UG,,{code},{name},USD,{PRICE},premium\n"
    )
    live.manage("importroutes", str(csv))
    return name, code


@pytest.fixture(scope="module")
def listener(live: LiveStack, route: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("listener") / "listener.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PYTHON, str(BASE_DIR / "manage.py"), "smpp_listener", "--reload", "1"],
            cwd=BASE_DIR,
            env=live.env,
            stdout=out,
            stderr=out,
        )
    try:
        wait_for(lambda: "smpp.bound" in log.read_text(errors="replace"), 60, "the listener to bind")
        yield log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def tenant(live: LiveStack) -> Tenant:
    return live.new_tenant(f"SMPP {uuid.uuid4().hex[:6]}", balance="500")


def wallet(live: LiveStack, tenant: Tenant) -> tuple[Decimal, Decimal]:
    body = live.get("/api/v1/wallet/", key=tenant.key).json()
    return Decimal(body["balance"]), Decimal(body["reserved"])


def broadcast(live: LiveStack, tenant: Tenant, code: str, recipients: list[str], **extra: Any) -> str:
    body = {"name": "SMPP", "recipients": recipients, "text": "Your code is 1234", "sender": "Herald", "route": code}
    body.update(extra)
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def messages(live: LiveStack, broadcast_id: str) -> list[tuple[Any, ...]]:
    return live.sql(
        "SELECT urn, status, error_code, provider_message_id, segments, cost FROM broadcasts_message"
        " WHERE broadcast_id = %s AND NOT is_test",
        [broadcast_id],
    )


def test_a_2000_recipient_broadcast_ends_delivered_from_receipts(
    live: LiveStack, smsc: Smsc, route: tuple[str, str], listener: Path, tenant: Tenant
) -> None:
    _name, code = route
    smsc.reset()
    balance_before, reserved_before = wallet(live, tenant)
    recipients = numbers(2000, block=1)
    broadcast_id = broadcast(live, tenant, code, recipients)

    def all_delivered() -> bool:
        return Counter(row[1] for row in messages(live, broadcast_id)) == Counter({"delivered": 2000})

    wait_for(all_delivered, 300, "2,000 messages delivered from receipts")
    rows = messages(live, broadcast_id)
    submits = smsc.submits()
    # Each recipient got exactly one submit_sm, and each message holds its own SMSC id.
    assert sorted(s["destination_addr"] for s in submits) == sorted(r.lstrip("+") for r in recipients)
    assert {row[3] for row in rows} == {s["message_id"] for s in submits}
    stats = smsc.stats()
    # Never more than `window` unanswered on any bind, and the window was used.
    assert max(s["max_unanswered"] for s in stats["sessions"]) <= WINDOW
    assert stats["max_unanswered"] > 1
    assert stats["receipts_acked"] == 2000
    body = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
    assert body["status"] == "sent", body
    assert (body["stats"]["delivered"], body["stats"]["failed"], body["stats"]["queued"]) == (2000, 0, 0)
    balance_after, reserved_after = wallet(live, tenant)
    assert balance_before - balance_after == 2000 * PRICE == sum(Decimal(row[5]) for row in rows)
    assert reserved_after == reserved_before


def test_smsc_killed_mid_broadcast(live: LiveStack, smsc: Smsc, route: tuple[str, str], tenant: Tenant) -> None:
    """Killed with PDUs in flight: those are unknown (failed `delivery_unknown`, never sent again);
    what got a submit_sm_resp is never sent twice; the binds come back and the rest goes."""
    _name, code = route
    smsc.configure(RESP_DELAY_MS=400)
    smsc.reset()
    balance_before, reserved_before = wallet(live, tenant)
    recipients = numbers(300, block=2)
    broadcast_id = broadcast(live, tenant, code, recipients)
    wait_for(lambda: smsc.stats()["submits"] >= 40, 60, "submits in flight")
    answered_before = {s["destination_addr"] for s in smsc.submits() if s.get("answered_at")}
    smsc.kill()
    time.sleep(2)
    smsc.restart(RESP_DELAY_MS=5)

    seen: list[Counter[tuple[str, str]]] = []

    def settled() -> bool:
        body = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
        if body["status"] == "paused":
            # 50 failures in a row while the SMSC was down paused it (SPEC §10's breaker): resume,
            # as an operator would once the SMSC is back.
            live.post(f"/api/v1/broadcasts/{broadcast_id}/resume/", {}, key=tenant.key)
        seen.append(Counter((row[1], row[2]) for row in messages(live, broadcast_id)))
        return not any(status in ("queued", "sending", "pending") for status, _code in seen[-1])

    try:
        wait_for(settled, 240, "every message settled after the SMSC came back")
    except BaseException:
        print("STATUSES", seen[-1], "SMSC", smsc.stats(), "\n", live.log_tail(200))
        raise
    rows = messages(live, broadcast_id)
    after = Counter(s["destination_addr"] for s in smsc.submits())
    assert not [d for d in answered_before if after[d]], "a message answered before the kill was sent again"
    assert max(after.values(), default=0) <= 1
    unknown = [row for row in rows if row[2] == "delivery_unknown"]
    assert unknown, "PDUs in flight at the kill must end unknown"
    assert {row[1] for row in unknown} == {"failed"}
    assert not [row for row in unknown if after[row[0].removeprefix("tel:+")]], "an unknown outcome was resent"
    delivered_or_sent = [row for row in rows if row[1] in ("delivered", "sent")]
    assert len(delivered_or_sent) + len(unknown) == 300, Counter((row[1], row[2]) for row in rows)
    # Charged for what the SMSC accepted, not for the unknown ones; the reservation is settled.
    balance_after, reserved_after = wallet(live, tenant)
    assert balance_before - balance_after == PRICE * len(delivered_or_sent)
    assert reserved_after == reserved_before


def test_throttled_retried_and_refused_failed_at_once(
    live: LiveStack, smsc: Smsc, route: tuple[str, str], tenant: Tenant
) -> None:
    """Above the SMSC's rate it answers ESME_RTHROTTLED (0x58): retried later (and the connector's
    pacing pushed back); ESME_RINVDSTADR (0x0B, …777) fails at once; nobody gets two accepted submits."""
    _name, code = route
    # The SMSC counts per calendar second: 62 submits sent in one burst fall into at most two
    # seconds, so one of them holds at least 31 — above 30 whichever way the second boundary cuts
    # the burst (at 50, a burst cut 25/37 was never throttled). Every round of retries gets at least
    # 30 through, so the 62 need at most three of the four attempts.
    smsc.configure(MAX_TPS=30, RESP_DELAY_MS=0)
    smsc.reset()
    worker_log = Path(live.env["HERALD_VAR_DIR"]) / "log" / "worker.log"
    log_start = worker_log.stat().st_size if worker_log.exists() else 0
    ok = numbers(60, block=3)
    refused = ["+256770000777", "+256771000777"]
    broadcast_id = broadcast(live, tenant, code, ok + refused)

    def settled() -> bool:
        body = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
        stats = body["stats"]
        return (stats["delivered"], stats["failed"], stats["queued"], stats["waiting"]) == (60, 2, 0, 0)

    try:
        wait_for(settled, 180, "the throttled messages retried and delivered")
    except BaseException:
        body = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
        rows_now = Counter((row[1], row[2]) for row in messages(live, broadcast_id))
        print("THROTTLE", body["status"], body["stats"], rows_now, smsc.stats())
        raise
    rows = {row[0]: row for row in messages(live, broadcast_id)}
    assert {rows[f"tel:{n}"][1:3] for n in refused} == {("failed", "smpp_0x0000000b")}
    assert {rows[f"tel:{n}"][1] for n in ok} == {"delivered"}
    stats = smsc.stats()
    assert stats["throttled_tps"] > 0
    accepted = Counter(s["destination_addr"] for s in smsc.submits() if s["command_status"] == 0)
    assert sorted(accepted) == sorted(n.lstrip("+") for n in ok)
    assert set(accepted.values()) == {1}
    refused_submits = Counter(s["destination_addr"] for s in smsc.submits() if s["command_status"] == 11)
    assert refused_submits == Counter({n.lstrip("+"): 1 for n in refused})  # failed at once: never retried
    with worker_log.open("rb") as log:  # this test's part of the log: the connector's pacing pushed back
        log.seek(log_start)
        assert b"smpp.throttled" in log.read()


def test_receipts_on_the_listener_alone_and_mo_stop(
    live: LiveStack, smsc: Smsc, listener: Path, tenant: Tenant, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`bind: tx_rx`: the workers bind as transmitters, so every receipt and MO reaches Herald through
    the listener's receiver bind — here after the broadcast finished (receipts held by the SMSC until
    then). Then MO: STOP, and a STOP in two parts, opt their senders out."""
    smsc.configure(MAX_TPS=0, RESP_DELAY_MS=0, HOLD_RECEIPTS=1)
    tag = uuid.uuid4().hex[:6]
    name = f"smpp-txrx-{tag}"
    config = {"host": smsc.host, "port": smsc.port, "system_id": f"rx{tag}", "bind": "tx_rx"}
    live.manage("createconnector", name, "--backend", "smpp", "--tps", "500", "--config", json.dumps(config))
    code = f"SMPP_RX_{tag.upper()}"
    csv = tmp_path_factory.mktemp("smpp-rx") / "routes.csv"
    csv.write_text(
        "channel,country_code,prefix,route_code,connector,currency,price_per_segment,tier\n"
        f"sms,UG,,{code},{name},USD,{PRICE},premium\n"
    )
    live.manage("importroutes", str(csv))
    wait_for(lambda: f"rx{tag}" in {s["system_id"] for s in smsc.sessions() if s["open"]}, 30, "the listener's bind")
    phones = numbers(2, block=4)
    contacts = [
        live.post("/api/v1/contacts/", {"phone": phone, "first_name": "P"}, key=tenant.key).json()["id"]
        for phone in phones
    ]
    broadcast_id = broadcast(live, tenant, code, phones, with_replies=True)
    wait_for(lambda: {row[1] for row in messages(live, broadcast_id)} == {"sent"}, 60, "both sent")
    wait_for(
        lambda: live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()["status"] == "sent",
        60,
        "the broadcast complete",
    )
    assert {s["bind"] for s in smsc.sessions() if s["open"] and s["system_id"] == f"rx{tag}"} == {
        "transmitter",
        "receiver",
    }
    smsc.release_receipts()
    wait_for(lambda: {row[1] for row in messages(live, broadcast_id)} == {"delivered"}, 60, "receipts applied")
    smsc.configure(HOLD_RECEIPTS=0)

    smsc.send_mo("STOP", sender=phones[0].lstrip("+"), to="Herald", system_id=f"rx{tag}")
    smsc.send_mo("STOP", sender=phones[1].lstrip("+"), to="Herald", parts=2, system_id=f"rx{tag}")  # ST + OP

    def opted_out() -> bool:
        return all(live.get(f"/api/v1/contacts/{c}/", key=tenant.key).json()["opted_out"] for c in contacts)

    wait_for(opted_out, 60, "both senders opted out")
    replies = live.get(f"/api/v1/replies/?broadcast={broadcast_id}", key=tenant.key).json()["results"]
    assert [r["text"] for r in replies] == ["STOP", "STOP"]
