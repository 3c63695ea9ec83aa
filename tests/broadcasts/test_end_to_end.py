"""Create → the simulator delivers → stats, messages and wallet settle exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from broadcasts.models import Message
from tests.broadcasts.conftest import KE, UG, US
from wallets.selectors import reservation_state

pytestmark = pytest.mark.django_db


def test_create_delivers_and_settles_exactly(shop, daytime, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = shop.create(recipients=[UG, KE, US, "+256772000002"], text="Hello from Herald")
    assert response.status_code == 201, response.content
    body = response.json()
    broadcast = shop.broadcast(response)
    broadcast.refresh_from_db()
    assert broadcast.status == "sent"
    messages = Message.objects.filter(broadcast=broadcast)
    assert sorted(messages.values_list("status", flat=True)) == ["delivered"] * 4
    spent = messages.aggregate(total=Sum("cost"))["total"]
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state.charged == spent
    assert state.outstanding == 0
    wallet = shop.refresh()
    assert wallet.reserved == 0
    assert wallet.balance == Decimal("100") - spent
    assert body["total_recipients"] == 4
    detail = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
    assert detail["stats"] == {
        "waiting": 0,
        "queued": 0,
        "sent": 4,
        "delivered": 4,
        "read": 0,
        "failed": 0,
        "clicks": 0,
        "unique_clicks": 0,
        "ctr": 0.0,
    }
    assert detail["ui_status"] == "Completed"
