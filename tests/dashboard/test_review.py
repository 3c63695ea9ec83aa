"""Issue 21, point 2: the review step shows what will be sent (text, sender, schedule) in words —
no raw dicts — and offers Send only for a broadcast the create would accept."""

from __future__ import annotations

import pytest

from accounts.models import Client, Membership
from broadcasts.models import Broadcast
from tests.broadcasts.conftest import FR, UG

pytestmark = pytest.mark.django_db

R = Membership.Role
FORM = {"name": "Promo", "channel": "sms", "content_mode": "text", "schedule_mode": "now", "purpose": "marketing"}


def review(web, **fields: str) -> str:
    response = web.post("/broadcasts/new/", {**FORM, **fields, "step": "review"})
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_the_review_shows_the_message_sender_and_schedule_in_words(login, shop, daytime):
    Client.objects.filter(pk=shop.client.pk).update(timezone="Africa/Kampala")
    shop.client.refresh_from_db()
    web = login(R.MANAGER, shop.client)
    page = review(
        web,
        recipients=f"{UG}\nhello",
        text="Hi {{first_name|there}}, 20% off",
        sender="Herald",
        schedule_mode="scheduled",
        scheduled_at="2026-11-25T09:30",
    )
    assert "Hi {{first_name|there}}, 20% off" in page
    assert 'data-testid="review-sender">Herald<' in page
    assert 'data-testid="review-schedule">Scheduled for Wednesday 2026-11-25 09:30 EAT<' in page
    assert "hello (not a valid phone number or URN)" in page
    assert "{&#x27;" not in page  # no Python dict anywhere
    assert ">Send</button>" in page


def test_send_is_not_offered_for_a_broadcast_the_create_would_refuse(login, shop, daytime):
    web = login(R.MANAGER, shop.client)
    page = review(web, recipients=FR, text="Promo -20% today")  # French marketing without STOP
    assert 'data-testid="refusals"' in page
    assert "1 marketing SMS to France lacks the STOP opt-out mention" in page
    assert ">Send</button>" not in page
    refused = web.post("/broadcasts/new/", {**FORM, "recipients": FR, "text": "Promo -20% today", "step": "send"})
    assert refused.status_code == 400  # and the create itself agrees
    assert not Broadcast.objects.exists()
    fine = review(web, recipients=FR, text="Promo -20% today. STOP au 36180")
    assert ">Send</button>" in fine
