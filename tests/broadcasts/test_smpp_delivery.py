"""A broadcast over the smpp connector to the test SMSC, receipts and MO stored for real.

Outside a test transaction: the binds store what arrives from their own threads (and the listener
from its own loop), as in production.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from broadcasts.models import Connector, Message
from broadcasts.smpp.connector import close_pools
from broadcasts.smpp.listener import Listener
from broadcasts.smpp.models import SmppPart
from broadcasts.smpp.receipts import Receipt
from broadcasts.smpp.store import Store, receipts_apply
from broadcasts.status_updates import early_reports_apply, early_reports_sweep
from contacts.models import Contact
from tests.broadcasts.conftest import UG
from tests.factories.broadcasts import ConnectorFactory
from tests.factories.contacts import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "c" * 152 + "€" + "d" * 100
UNDELIVERED = "+256772000666"


def eventually(check: Callable[[], Any], timeout: float = 15, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"timed out waiting for {what}"
            return value
        time.sleep(0.1)


@pytest.fixture
def smpp_shop(make_shop: Any, smsc_factory: Any) -> Iterator[Any]:
    def make(**smsc_settings: Any) -> Any:
        smsc = smsc_factory(**smsc_settings)
        shop = make_shop(backend="smpp", config={"host": smsc.host, "port": smsc.port, "system_id": "herald"}, tps=500)
        shop.smsc = smsc
        return shop

    yield make
    close_pools()


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    thread = threading.Thread(target=lambda: asyncio.run(running.run(reload_every=0.2)), daemon=True)
    thread.start()
    yield running
    running.stop_soon()
    thread.join(10)


def statuses(broadcast: Any) -> dict[str, str]:
    # Beat's tick in production: a receipt whose early-report row committed just after the record of
    # its message looked for it is applied by the sweep (status_updates.early_reports_sweep).
    early_reports_sweep()
    return dict(Message.objects.filter(broadcast=broadcast).values_list("urn", "status"))


def test_a_broadcast_ends_delivered_from_receipts(smpp_shop: Any, daytime: Any) -> None:
    shop = smpp_shop(DLR_DELAY_MS=50, RECEIPT_MODE="text")
    response = shop.create(recipients=[UG, UNDELIVERED], text=LONG, sender="Herald")
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    expected = {f"tel:{UG}": "delivered", f"tel:{UNDELIVERED}": "failed"}
    eventually(lambda: statuses(broadcast) == expected, what="both receipts applied")
    failed = Message.objects.get(broadcast=broadcast, urn=f"tel:{UNDELIVERED}")
    assert (failed.segments, failed.error_code) == (2, "smpp_undeliv_0a1")
    assert len(shop.smsc.submits()) == 4  # 2 messages × 2 parts
    assert SmppPart.objects.filter(message__broadcast=broadcast).count() == 4
    delivered = Message.objects.get(broadcast=broadcast, urn=f"tel:{UG}")
    assert delivered.provider_message_id == shop.smsc.submits()[0]["message_id"] or delivered.provider_message_id in {
        s["message_id"] for s in shop.smsc.submits() if s["udh"]["seq"] == 1
    }


def test_multipart_waits_for_every_part_and_part_two_may_come_first(smpp_shop: Any, daytime: Any) -> None:
    shop = smpp_shop(HOLD_RECEIPTS=1)
    broadcast = shop.broadcast(shop.create(recipients=[UG], text=LONG, sender="Herald"))
    eventually(lambda: statuses(broadcast) == {f"tel:{UG}": "sent"}, what="sent")
    eventually(lambda: shop.smsc.stats()["held"] == 2, what="two receipts held")
    shop.smsc.release_receipts(order="reverse", count=1)  # part 2's receipt alone
    eventually(lambda: shop.smsc.stats()["receipts_acked"] == 1, what="part 2 acknowledged")
    assert statuses(broadcast) == {f"tel:{UG}": "sent"}
    shop.smsc.release_receipts()
    eventually(lambda: statuses(broadcast) == {f"tel:{UG}": "delivered"}, what="delivered once both parts are")


@pytest.mark.parametrize("mode", ["tlv", "disagree"])
def test_tlv_receipts_win(smpp_shop: Any, daytime: Any, mode: str) -> None:
    shop = smpp_shop(DLR_DELAY_MS=150, RECEIPT_MODE=mode)
    broadcast = shop.broadcast(shop.create(recipients=[UG, UNDELIVERED], text="Hi", sender="Herald"))
    expected = {f"tel:{UG}": "delivered", f"tel:{UNDELIVERED}": "failed"}
    eventually(lambda: statuses(broadcast) == expected, what="receipts applied by their TLVs")


def test_a_receipt_when_no_broadcast_runs_and_for_an_unknown_id(smpp_shop: Any, daytime: Any, listener: Any) -> None:
    shop = smpp_shop(HOLD_RECEIPTS=1)
    broadcast = shop.broadcast(shop.create(recipients=[UG], text="Hi", sender="Herald"))
    eventually(lambda: statuses(broadcast) == {f"tel:{UG}": "sent"}, what="sent")
    eventually(lambda: shop.smsc.stats()["held"] == 1, what="its receipt held")
    close_pools()  # the worker's binds are gone: only the listener receives
    eventually(lambda: shop.smsc.stats()["open_sessions"] == 1, what="the listener bound alone")
    shop.smsc.send_receipt("ffffffffff", "DELIVRD")  # nobody's
    shop.smsc.release_receipts()
    eventually(lambda: statuses(broadcast) == {f"tel:{UG}": "delivered"}, what="delivered through the listener")
    eventually(lambda: shop.smsc.stats()["receipts_acked"] == 2, what="the unknown id acknowledged too")


def test_mo_stop_and_a_two_part_mo_opt_out(smpp_shop: Any, daytime: Any, listener: Any) -> None:
    shop = smpp_shop()
    first = ContactFactory(client=shop.client, phone=UG)
    second = ContactFactory(client=shop.client, phone="+256772000002")
    shop.broadcast(shop.create(recipients=[UG, "+256772000002"], text="Hi", sender="Herald"))
    eventually(lambda: shop.smsc.stats()["receipts_acked"] == 2, what="receipts stored")
    # Two-part MO ("ST" + "OP"): UDH with part 2 first, and SAR.
    shop.smsc.send_mo("STOP", sender=UG.lstrip("+"), to="Herald", parts=2, reverse=True)
    shop.smsc.send_mo("STOP", sender="256772000002", to="Herald", parts=2, concat="sar")
    eventually(
        lambda: all(Contact.objects.get(pk=c.pk).opted_out for c in (first, second)), what="both contacts opted out"
    )


@pytest.mark.parametrize(
    ("second", "status", "code"), [("DELIVRD", "delivered", ""), ("UNDELIV", "failed", "smpp_undeliv_0a1")]
)
def test_receipts_read_before_the_parts_are_stored_still_count(
    shop: Any, daytime: Any, second: str, status: str, code: str
) -> None:
    """A receipt can be read (listener) before the sender stored its message's parts: it is kept as an
    early report, and the parts' record applies it, part by part."""
    broadcast = shop.broadcast(shop.create(recipients=[UG], text=LONG, sender="Herald"))
    message = Message.objects.get(broadcast=broadcast)
    Message.objects.filter(pk=message.pk).update(status="sending", provider_message_id=None, delivered_at=None)
    name = message.connector
    receipts_apply(connector_name=name, receipts=[Receipt("p2", second, "0A1"), Receipt("p1", "DELIVRD")])
    Store().parts_record(connector_name=name, parts=[(message.pk, ["p1", "p2"])])
    # The dispatcher records the answer: the message is sent under its first part's id.
    Message.objects.filter(pk=message.pk).update(status="sent", provider_message_id="p1")
    early_reports_apply(recorded=[(name, "p1")])
    message.refresh_from_db()
    assert (message.status, message.error_code) == (status, code)
    assert list(SmppPart.objects.filter(message=message).order_by("seq").values_list("status", flat=True)) == [
        "delivered",
        "delivered" if second == "DELIVRD" else "failed",
    ]


def test_the_listener_follows_the_connectors(smsc_factory: Any, listener: Listener) -> None:
    """A connector made while it runs is bound within a reload; deactivated, it is unbound."""
    smsc = smsc_factory()
    connector = ConnectorFactory(
        name="carrier",
        backend="smpp",
        config={"host": smsc.host, "port": smsc.port, "system_id": "rx", "bind": "tx_rx"},
    )
    eventually(lambda: [s["bind"] for s in smsc.sessions() if s["open"]] == ["receiver"], what="a receiver bind")
    Connector.objects.filter(pk=connector.pk).update(active=False)
    eventually(lambda: smsc.stats()["open_sessions"] == 0, what="unbound")
    assert smsc.stats()["unbinds"] == 1


def test_a_receipt_that_raced_its_sends_record_is_applied_in_a_moment_not_at_the_sweep(shop: Any, daytime: Any) -> None:
    """A receipt read while its send's answer was being recorded (that transaction not committed
    yet) is kept as an early report; the store looks again a moment later, so it does not wait for
    beat's sweep (up to 10 s). Here the record commits right after the receipt was stored."""
    from smpplib import smpp

    from broadcasts.models import EarlyReport
    from broadcasts.smpp import codec, store_thread

    broadcast = shop.broadcast(shop.create(recipients=[UG], text="Hi", sender="Herald"))
    message = Message.objects.get(broadcast=broadcast)
    Message.objects.filter(pk=message.pk).update(status="sending", provider_message_id=None, delivered_at=None)
    connector = Connector.objects.get(name=message.connector)
    Connector.objects.filter(pk=connector.pk).update(config={"host": "127.0.0.1", "system_id": "herald"})
    receipt = smpp.make_pdu(
        "deliver_sm", client=None, sequence=1, source_addr="256772000001", destination_addr="Herald", esm_class=4,
        short_message=b"id:race-1 sub:001 dlvrd:001 submit date:2611241500 done date:2611241500 stat:DELIVRD err:000",
    )  # fmt: skip
    receipt.sequence = 1
    try:
        Store().delivers_store(connector_id=str(connector.pk), pdus=[codec.parse_deliver(bytes(receipt.generate()))])
        assert EarlyReport.objects.filter(provider_message_id="race-1").exists()  # no message had the id yet
        Message.objects.filter(pk=message.pk).update(status="sent", provider_message_id="race-1")  # the record
        eventually(lambda: Message.objects.get(pk=message.pk).status == "delivered", timeout=5, what="the kept receipt")
        assert not EarlyReport.objects.filter(provider_message_id="race-1").exists()
    finally:
        store_thread.close()
