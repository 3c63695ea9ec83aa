"""SPEC §11: with DEBUG off, loopback/private/link-local endpoints are refused unless WEBHOOKS_ALLOW_PRIVATE."""

from __future__ import annotations

import pytest

from webhooks.addresses import is_public
from webhooks.events import MESSAGE_DELIVERED
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_refused(settings):
    settings.DEBUG = False
    settings.WEBHOOKS_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address to judge, not to bind
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_is_public(address, public):
    assert is_public(address) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "https://192.168.0.10/hook",
    ],
)
def test_a_private_address_is_refused_at_create_and_update(api, private_refused, url):
    answer = api.post("/api/v1/webhooks/", {"url": url, "events": ["*"]}, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert list(error["fields"]) == ["url"]
    assert "loopback, private or link-local" in error["fields"]["url"][0]
    assert not WebhookEndpoint.objects.exists()

    made = api.post("/api/v1/webhooks/", {"url": "https://8.8.8.8/hook", "events": ["*"]}, format="json")
    assert made.status_code == 201
    patched = api.patch(f"/api/v1/webhooks/{made.json()['id']}/", {"url": url}, format="json")
    assert patched.status_code == 400
    assert WebhookEndpoint.objects.get().url == "https://8.8.8.8/hook"


def test_private_addresses_are_allowed_with_the_setting_or_in_debug(api, settings):
    settings.DEBUG, settings.WEBHOOKS_ALLOW_PRIVATE = False, True
    assert (
        api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1/a", "events": ["*"]}, format="json").status_code == 201
    )
    settings.DEBUG, settings.WEBHOOKS_ALLOW_PRIVATE = True, False
    assert (
        api.post("/api/v1/webhooks/", {"url": "http://10.0.0.1/b", "events": ["*"]}, format="json").status_code == 201
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_rule_is_checked_again_at_send_time(
    api, make_endpoint, receiver, settings, django_capture_on_commit_callbacks, host
):
    """An endpoint saved while its host was public (here: while private ones were allowed) whose host
    now is private (DNS rebinding) is not called."""
    make_endpoint(api, receiver.url().replace("127.0.0.1", host))
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with django_capture_on_commit_callbacks(execute=True):
        event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 1})
    assert receiver.requests == []
    attempt = WebhookDelivery.objects.get(attempt=1)
    assert attempt.status == WebhookDelivery.Status.FAILED
    assert attempt.error.startswith("blocked_address")
