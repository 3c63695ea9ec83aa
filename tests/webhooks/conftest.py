from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import HeraldAPIClient
from webhooks.delivery import deliveries_claim, deliveries_send
from webhooks.models import WebhookDelivery, WebhookEndpoint

from .receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture
def allow_private(settings: Any) -> None:
    """Test receivers listen on 127.0.0.1; the suite runs with DEBUG off, where that is refused."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def make_endpoint(allow_private: None) -> Callable[..., tuple[WebhookEndpoint, str]]:
    """make_endpoint(api, url, events=["*"]) → (endpoint, secret), created through the API."""

    def _make(api: HeraldAPIClient, url: str, events: list[str] | None = None) -> tuple[WebhookEndpoint, str]:
        response = api.post("/api/v1/webhooks/", {"url": url, "events": events or ["*"]}, format="json")
        assert response.status_code == 201, response.json()
        return WebhookEndpoint.objects.get(pk=response.json()["id"]), response.json()["secret"]

    return _make


def send_due() -> int:
    """What the deliver task does once: claim what is due, send it, record it."""
    return len(deliveries_send(deliveries_claim()))


def make_retries_due() -> int:
    """The next attempts, scheduled seconds to hours ahead, due now (instead of waiting)."""
    from django.utils import timezone

    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).update(scheduled_at=timezone.now())
