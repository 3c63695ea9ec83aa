"""seed_demo: idempotent, prints a login and a working key, and the demo tenant can really send."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey, Client, User
from broadcasts.models import Broadcast, Connector, Message, Sender
from contacts.models import Contact, ContactList
from templates_app.models import Template
from wallets.models import LedgerEntry, Route

pytestmark = pytest.mark.django_db

MODELS = [Client, User, ApiKey, Connector, Sender, Route, Contact, ContactList, Template, LedgerEntry]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_seed_demo_is_idempotent_and_its_printed_key_works(django_capture_on_commit_callbacks):
    seed()
    counts = {m.__name__: m.objects.count() for m in MODELS}
    output = seed()
    assert {m.__name__: m.objects.count() for m in MODELS} == counts
    assert "Login:      demo / herald-demo" in output
    key = re.search(r"API key:\s+(hk_\S+)", output).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/me/").json()["client"]["name"] == "Demo Client"
    demo_list = ContactList.objects.filter(client__name="Demo Client").first()
    with (
        time_machine.travel(datetime(2026, 11, 24, 15, 0, tzinfo=UTC)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api.post(
            "/api/v1/broadcasts/",
            {
                "name": "Demo",
                "contact_lists": [str(demo_list.pk)],
                "text": "Hi {{first_name|there}}! STOP 36173",
                "sender": "Herald",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    broadcast = Broadcast.objects.get(pk=response.json()["id"])
    assert broadcast.status in ("sent", "partially_sent")
    assert not Message.objects.filter(broadcast=broadcast, status__in=["queued", "sending"]).exists()
