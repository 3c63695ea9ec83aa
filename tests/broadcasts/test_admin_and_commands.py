"""Support staff's admin for broadcasts, and the createsender / createconnector commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from broadcasts.models import Connector, Message, Sender
from tests.broadcasts.conftest import UG
from tests.factories.accounts import ClientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    return client


def test_admin_pages_load(staff, shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=[UG]))
    message = Message.objects.first()
    for url in [
        "/admin/broadcasts/broadcast/?status__exact=queued&q=Promo",
        f"/admin/broadcasts/broadcast/{broadcast.pk}/change/",
        f"/admin/broadcasts/message/?status__exact=queued&broadcast__id__exact={broadcast.pk}",
        "/admin/broadcasts/message/?q=%2B256772000001",
        f"/admin/broadcasts/message/{message.pk}/change/",
        "/admin/broadcasts/sender/?q=Herald",
        "/admin/broadcasts/connector/",
        f"/admin/broadcasts/connector/{shop.connector.pk}/change/",
    ]:
        assert staff.get(url).status_code == 200, url


def test_admin_message_search_by_phone(staff, shop, daytime):
    shop.create(recipients=[UG, "+256772000002"])
    page = staff.get("/admin/broadcasts/message/?q=%2B256772000002").content.decode()
    assert "tel:+256772000002" in page
    assert "tel:+256772000001" not in page


def test_admin_cancel_and_retry_actions(staff, shop, daytime, recorder):
    from broadcasts.dispatch import dispatch_run

    queued = shop.broadcast(shop.create(recipients=[UG]))
    staff.post("/admin/broadcasts/broadcast/", {"action": "cancel_broadcasts", "_selected_action": [queued.pk]})
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    failing = shop.broadcast(shop.create(recipients=[UG]))
    recorder.mode = "permanent"
    dispatch_run(broadcast_id=str(failing.pk))
    recorder.mode = "ok"
    staff.post("/admin/broadcasts/broadcast/", {"action": "retry_failed", "_selected_action": [failing.pk]})
    failing.refresh_from_db()
    assert failing.status in ("queued", "sending", "sent")
    assert Message.objects.get(broadcast=failing).status in ("queued", "sent")
    response = staff.post(
        "/admin/broadcasts/broadcast/", {"action": "cancel_broadcasts", "_selected_action": [queued.pk]}, follow=True
    )
    assert "cancelled" in response.content.decode().lower()


def test_connector_secrets_are_masked_in_the_admin_and_encrypted_at_rest(staff):
    from django.db import connection

    connector = Connector.objects.create(
        name="acme", channel="sms", backend="simulator", config={"api_token": "s3cr3t-value", "delay": 1}
    )
    page = staff.get(f"/admin/broadcasts/connector/{connector.pk}/change/").content.decode()
    assert "s3cr3t-value" not in page
    with connection.cursor() as cursor:
        cursor.execute("SELECT config FROM broadcasts_connector WHERE id = %s", [connector.pk])
        stored = cursor.fetchone()[0]
    assert "s3cr3t" not in stored
    assert stored.startswith("fernet:")
    connector.refresh_from_db()
    assert connector.config == {"api_token": "s3cr3t-value", "delay": 1}


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_createsender_prints_the_id_last():
    client = ClientFactory()
    out = run("createsender", str(client.pk), "MyShop")
    sender = Sender.objects.get(client=client)
    assert out.strip().splitlines()[-1] == str(sender.pk)
    assert (sender.sender, sender.channel) == ("MyShop", "sms")
    run("createsender", str(client.pk), "+256772000001", "--channel", "whatsapp")
    assert Sender.objects.filter(client=client, channel="whatsapp", sender="+256772000001").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{client}", "AB"], "3–11 letters"),
        (["{client}", "Twelve_chars"], "3–11 letters"),
        (["{client}", "+999123"], "not a valid E.164"),
        (["00000000-0000-0000-0000-000000000000", "MyShop"], "Unknown client"),
        (["{client}", "Dup"], "already registered"),
    ],
)
def test_createsender_bad_input(args, message):
    client = ClientFactory()
    Sender.objects.create(client=client, sender="Dup")
    with pytest.raises(CommandError, match=message):
        run("createsender", *[a.replace("{client}", str(client.pk)) for a in args])
    assert Sender.objects.count() == 1


def test_createconnector_prints_the_id_and_validates_the_config():
    out = run(
        "createconnector",
        "sim2",
        "--channel",
        "sms",
        "--backend",
        "simulator",
        "--config",
        '{"failure_rate": 0.1, "delay": 2}',
        "--tps",
        "200",
    )
    connector = Connector.objects.get(name="sim2")
    assert out.strip().splitlines()[-1] == str(connector.pk)
    assert connector.config == {"failure_rate": 0.1, "delay": 2.0, "seed": 0, "read_rate": 0.0}
    assert connector.tps == 200
    for bad, message in [
        ('{"failure_rate": 2}', "from 0 to 1"),
        ('{"colour": "red"}', "Unknown simulator settings"),
        ("{nope", "not valid JSON"),
    ]:
        with pytest.raises(CommandError, match=message):
            run("createconnector", "sim3", "--backend", "simulator", "--config", bad)
    with pytest.raises(CommandError, match="already exists"):
        run("createconnector", "sim2", "--backend", "simulator")
    # Each backend validates its own config, and the error names the key.
    with pytest.raises(CommandError, match=r"config\.account_sid: account_sid is required"):
        run("createconnector", "tw", "--backend", "twilio")
    with pytest.raises(CommandError, match=r"config\.url"):
        run("createconnector", "gw", "--backend", "http", "--config", '{"url": "ftp://x"}')
    assert not Connector.objects.filter(name__in=["sim3", "tw", "gw"]).exists()
