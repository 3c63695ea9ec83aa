"""Concatenated MO reassembled in the database (broadcasts/smpp/mo_store.py): a part is kept once
stored, so a receiving process that dies between two parts loses nothing; the last part, on any
process or bind, completes the message exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from smpplib import smpp

from broadcasts.models import Reply
from broadcasts.smpp import codec, mo_store
from broadcasts.smpp.models import SmppMoPart
from broadcasts.smpp.store import Store
from contacts.models import Contact
from tests.broadcasts.conftest import UG
from tests.factories.accounts import ClientFactory
from tests.factories.broadcasts import ConnectorFactory
from tests.factories.contacts import ContactFactory


def part(text: str, seq: int, *, total: int = 2, ref: int = 7, source: str = UG, concat: str = "udh") -> Any:
    """A deliver_sm MO part as an SMSC sends it, read as the bind reads it."""
    fields: dict[str, Any] = {"source_addr": source.lstrip("+"), "destination_addr": "8080"}
    if concat == "udh":
        fields.update(esm_class=0x40, short_message=bytes((5, 0, 3, ref, total, seq)) + codec.gsm_encode(text))
    else:
        fields.update(
            short_message=codec.gsm_encode(text), sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=seq
        )
    pdu = smpp.make_pdu("deliver_sm", client=None, sequence=seq, **fields)
    pdu.sequence = seq
    return codec.parse_deliver(bytes(pdu.generate()))


@pytest.fixture
def carrier(db: None) -> Any:
    client = ClientFactory()
    ContactFactory(client=client, phone=UG)
    return ConnectorFactory(
        name="carrier-mo", backend="smpp", client=client, config={"host": "127.0.0.1", "system_id": "herald"}
    )


def deliver(carrier: Any, *pdus: Any) -> None:
    Store().delivers_store(connector_id=str(carrier.pk), pdus=list(pdus))  # a new Store: nothing in memory


@pytest.mark.django_db
@pytest.mark.parametrize("concat", ["udh", "sar"])
def test_a_part_is_kept_until_the_last_one_completes_the_message(carrier: Any, concat: str) -> None:
    deliver(carrier, part("OP", 2, concat=concat))  # part 2 first
    assert SmppMoPart.objects.count() == 1
    assert not Reply.objects.exists()
    # The process that held part 2 is gone: part 1 arrives elsewhere, and completes it.
    deliver(carrier, part("ST", 1, concat=concat))
    reply = Reply.objects.get()
    assert (reply.text, reply.urn, reply.keyword) == ("STOP", f"tel:{UG}", "opt_out")
    assert Contact.objects.get(phone=UG).opted_out
    assert not SmppMoPart.objects.exists()


@pytest.mark.django_db
def test_a_part_delivered_again_is_kept_once_and_the_message_made_whole_once(carrier: Any) -> None:
    deliver(carrier, part("Hel", 1, total=3))
    deliver(carrier, part("Hel", 1, total=3))  # its answer was lost: the SMSC sends it again
    assert SmppMoPart.objects.count() == 1
    deliver(carrier, part("lo ", 2, total=3), part("you", 3, total=3), part("lo ", 2, total=3))
    assert list(Reply.objects.values_list("text", flat=True)) == ["Hello you"]
    assert not SmppMoPart.objects.exists()


@pytest.mark.django_db
def test_two_messages_and_a_single_one_in_one_batch(carrier: Any) -> None:
    other = "+256772000999"
    ContactFactory(client=carrier.client, phone=other)
    single = part("x", 1, total=1)  # total 1: a plain message
    deliver(
        carrier,
        part("B2", 2, ref=8, source=other),
        part("A1", 1),
        single,
        part("A2", 2),
        part("B1", 1, ref=8, source=other),
    )
    assert sorted(Reply.objects.values_list("urn", "text")) == [
        (f"tel:{UG}", "A1A2"),
        (f"tel:{UG}", "x"),
        (f"tel:{other}", "B1B2"),
    ]


@pytest.mark.django_db
def test_parts_of_a_message_never_completed_are_dropped_after_the_ttl(carrier: Any) -> None:
    deliver(carrier, part("ST", 1))
    SmppMoPart.objects.update(received_at=timezone.now() - mo_store.MO_TTL - timedelta(seconds=1))
    deliver(carrier, part("OP", 2))  # too late: part 1 is gone, part 2 waits alone
    assert not Reply.objects.exists()
    assert list(SmppMoPart.objects.values_list("seq", flat=True)) == [2]


@pytest.mark.django_db
def test_a_batch_that_fails_stores_none_of_its_parts(carrier: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from broadcasts.smpp import store

    deliver(carrier, part("ST", 1))

    def down(**_: Any) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(store, "replies_receive", down)
    with pytest.raises(RuntimeError):
        deliver(carrier, part("OP", 2))  # answered 0x64 by the bind: the SMSC sends it again
    assert list(SmppMoPart.objects.values_list("seq", flat=True)) == [1]  # part 1 still held
    monkeypatch.undo()
    deliver(carrier, part("OP", 2))
    assert list(Reply.objects.values_list("text", flat=True)) == ["STOP"]


@pytest.mark.django_db(transaction=True)
def test_two_parts_received_at_once_on_two_binds_make_one_message(carrier: Any) -> None:
    # Two processes (here threads, each its own connection) store the two parts at the same moment:
    # the connector's advisory lock lets the second see the first, so the message is whole once.
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def receive(pdu: Any) -> None:
        try:
            start.wait(5)
            deliver(carrier, pdu)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    for _ in range(5):
        Reply.objects.all().delete()
        threads = [threading.Thread(target=receive, args=(part(t, s),)) for t, s in (("ST", 1), ("OP", 2))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert not errors
        assert list(Reply.objects.values_list("text", flat=True)) == ["STOP"]
        assert not SmppMoPart.objects.exists()
