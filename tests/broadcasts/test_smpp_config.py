"""Creating an smpp connector (createconnector, the admin's form) and routing its dispatch."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from celery.canvas import Signature
from django.core.management import CommandError, call_command
from django.test import override_settings

from broadcasts import queue
from broadcasts.admin import ConnectorForm
from broadcasts.models import Broadcast, Connector, Message
from broadcasts.smpp import routing
from tests.factories.broadcasts import ConnectorFactory

pytestmark = pytest.mark.django_db

CONFIG = {"host": "smsc.example", "system_id": "herald", "password": "secret"}


def create(*extra: str, config: object = CONFIG) -> str:
    out = StringIO()
    call_command("createconnector", "carrier", "--backend", "smpp", "--config", json.dumps(config), *extra, stdout=out)
    return out.getvalue().strip()


def test_createconnector_stores_the_normalized_config() -> None:
    connector_id = create("--tps", "100")
    connector = Connector.objects.get(pk=connector_id)
    assert (connector.backend, connector.tps, connector.config["window"], connector.config["bind"]) == (
        "smpp",
        100,
        10,
        "trx",
    )
    assert connector.config["password"] == "secret"  # stored (encrypted at rest), masked when shown


@pytest.mark.parametrize(
    ("extra", "config", "message"),
    [
        ((), CONFIG, "tps is required for the smpp backend"),
        (("--tps", "100", "--channel", "whatsapp"), CONFIG, "sends SMS only"),
        (("--tps", "100"), {**CONFIG, "window": "ten"}, "window must be a whole number"),
        (("--tps", "100"), {**CONFIG, "concat": "udh16"}, "concat must be one of udh, sar, payload"),
        (("--tps", "100"), {"system_id": "herald"}, "host is required"),
    ],
)
def test_createconnector_refuses_a_bad_smpp_connector(extra: tuple[str, ...], config: object, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        create(*extra, config=config)
    assert not Connector.objects.filter(name="carrier").exists()


def test_the_admin_form_validates_the_smpp_config() -> None:
    data = {"name": "carrier", "channel": "sms", "backend": "smpp", "tps": 100, "active": True}
    form = ConnectorForm(data={**data, "new_config": json.dumps({**CONFIG, "bind": "rx"})})
    assert not form.is_valid()
    assert "bind must be one of trx, tx_rx" in str(form.errors["new_config"])
    form = ConnectorForm(data={**data, "new_config": json.dumps(CONFIG)})
    assert form.is_valid(), form.errors
    assert form.save().config["port"] == 2775


def test_dispatch_goes_to_the_smpp_queue_only_when_asked_and_needed(shop, daytime) -> None:
    response = shop.create(recipients=["+256772000001"], sender="Herald", text="Hi")
    broadcast = shop.broadcast(response)
    assert routing.dispatch_queue(broadcast.pk) is None  # SMPP_QUEUE off: the default queue
    with override_settings(SMPP_QUEUE=True):
        routing.forget()
        assert routing.dispatch_queue(broadcast.pk) is None  # no smpp connector at all
        ConnectorFactory(name="carrier", backend="smpp", config=CONFIG)
        routing.forget()
        assert routing.dispatch_queue(broadcast.pk) is None  # not this broadcast's
        Message.objects.filter(broadcast=broadcast).update(connector="carrier")
        routing.forget()
        assert routing.dispatch_queue(broadcast.pk) == routing.QUEUE


def test_queue_dispatch_sends_an_smpp_broadcast_to_the_smpp_queue(shop, daytime, monkeypatch) -> None:
    broadcast = shop.broadcast(shop.create(recipients=["+256772000001"], sender="Herald", text="Hi"))
    ConnectorFactory(name="carrier", backend="smpp", config=CONFIG)
    Message.objects.filter(broadcast=broadcast).update(connector="carrier")
    published: list[dict[str, object]] = []
    monkeypatch.setattr(Signature, "apply_async", lambda self, **kw: published.append(dict(self.options)))
    queue.dispatch(broadcast.pk)
    with override_settings(SMPP_QUEUE=True):
        routing.forget()
        queue.dispatch(broadcast.pk, "token", lane=1)
        queue.send_tests(broadcast.pk, [1])
    assert [options.get("queue") for options in published] == [None, "smpp", "smpp"]


def test_a_broadcast_prepared_in_the_background_is_dispatched_on_the_smpp_queue(
    make_shop, daytime, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """A list-only broadcast over BROADCAST_SYNC_LIMIT: its first chunk (the named recipients) writes
    nothing, and a "no smpp message" answer kept from it sent every later chunk's dispatch to the
    default queue (found by bench_smpp's deployed run: the smpp worker never saw the broadcast). A
    chunk that wrote nothing enqueues no dispatcher, and every other one goes to `smpp`."""
    from broadcasts.services import prepare
    from tests.broadcasts.test_large_audiences import members
    from wallets.models import Route

    settings.BROADCAST_SYNC_LIMIT = 50
    settings.SMPP_QUEUE = True
    monkeypatch.setattr("broadcasts.services.prepare.PREPARE_CHUNK", 40)
    ConnectorFactory(name="carrier", backend="smpp", config=CONFIG)
    shop = make_shop(balance="1000")
    Route.objects.update(connector="carrier")
    routing.forget()
    published: list[tuple[str, object]] = []
    monkeypatch.setattr(
        Signature, "apply_async", lambda self, **kw: published.append((self.task, self.options.get("queue")))
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = shop.create(contact_lists=[str(members(shop, 100).pk)], text="Big news", sender="Herald")
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    assert broadcast.preparing
    outcome = ""
    while outcome != prepare.DONE:  # chunk by chunk, each one's on_commit work run as it commits
        with django_capture_on_commit_callbacks(execute=True):
            outcome = prepare.prepare_chunk(broadcast_id=broadcast.pk)
    assert Message.objects.filter(broadcast=broadcast, connector="carrier").count() == 100
    dispatches = [q for task, q in published if task == queue.DISPATCH]
    assert dispatches, published
    assert set(dispatches) == {routing.QUEUE}, published


def test_a_no_is_not_kept_while_the_broadcast_is_being_prepared(shop, daytime, monkeypatch) -> None:
    """Its next chunk may bring the first smpp messages: the answer is asked again after 5 s, not
    kept 30 s (nor asked at every chunk: the question reads the broadcast's messages)."""
    clock = [1000.0]
    monkeypatch.setattr(routing.time, "monotonic", lambda: clock[0])
    broadcast = shop.broadcast(shop.create(recipients=["+256772000001"], sender="Herald", text="Hi"))
    ConnectorFactory(name="carrier", backend="smpp", config=CONFIG)
    with override_settings(SMPP_QUEUE=True):
        routing.forget()
        Broadcast.objects.filter(pk=broadcast.pk).update(preparing=True)
        assert routing.dispatch_queue(broadcast.pk) is None
        Message.objects.filter(broadcast=broadcast).update(connector="carrier")  # the next chunk's
        assert routing.dispatch_queue(broadcast.pk) is None  # the no of a moment ago
        clock[0] += 5.1
        assert routing.dispatch_queue(broadcast.pk) == routing.QUEUE
        other = shop.broadcast(shop.create(recipients=["+256772000002"], sender="Herald", text="Hi"))
        assert routing.dispatch_queue(other.pk) is None  # prepared in full: the no is kept
        Message.objects.filter(broadcast=other).update(connector="carrier")
        clock[0] += 5.1
        assert routing.dispatch_queue(other.pk) is None
