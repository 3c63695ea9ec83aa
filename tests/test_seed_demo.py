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


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def printed_key(output: str) -> str:
    return re.search(r"API key:\s+(hk_\S+)", output).group(1)


def works(key: str) -> bool:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api.get("/api/v1/me/").status_code == 200


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


NEW_KEY_NOTE = "(a new demo key: the previous one no longer works"


def test_with_a_key_file_the_demo_key_stays_the_same_across_runs(tmp_path):
    key_file = tmp_path / "var" / "demo-api-key"
    first = seed("--key-file", str(key_file))
    second = seed("--key-file", str(key_file))
    assert printed_key(second) == printed_key(first)
    assert NEW_KEY_NOTE not in first + second
    assert key_file.read_text() == printed_key(first) + "\n"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert works(printed_key(second))


@pytest.mark.parametrize("damage", ["delete", "stale"])
def test_a_new_demo_key_is_announced_and_kept(tmp_path, damage):
    key_file = tmp_path / "demo-api-key"
    old = printed_key(seed("--key-file", str(key_file)))
    if damage == "delete":
        key_file.unlink()
    else:
        key_file.write_text("hk_aaaaaaaaaa_" + "b" * 40 + "\n")
    output = seed("--key-file", str(key_file))
    new = printed_key(output)
    assert new != old
    assert f"{NEW_KEY_NOTE}; kept in {key_file} from now on)" in output
    assert (works(old), works(new)) == (False, True)
    assert printed_key(seed("--key-file", str(key_file))) == new


def test_without_a_key_file_every_run_rotates_the_key_and_says_so():
    first = seed()
    second = seed()
    assert printed_key(first) != printed_key(second)
    assert NEW_KEY_NOTE in second
    assert (works(printed_key(first)), works(printed_key(second))) == (False, True)


def test_the_demo_tenant_has_a_send_limit_that_fits_exploring():
    seed()
    demo = Client.objects.get(name="Demo Client")
    assert demo.send_rate_limit == "120/15m"
    Client.objects.filter(pk=demo.pk).update(send_rate_limit="")  # seeded by an older release
    seed()
    demo.refresh_from_db()
    assert demo.send_rate_limit == "120/15m"
    Client.objects.filter(pk=demo.pk).update(send_rate_limit="5/m")  # chosen in the admin: kept
    seed()
    demo.refresh_from_db()
    assert demo.send_rate_limit == "5/m"
