"""The dashboard's "Follow up" (SPEC §8): a finished broadcast's page opens compose for a follow-up,
with the audience chosen in plain words, reviewed by the follow-up's precheck and created by the
same service as POST /broadcasts/{id}/follow-up/."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Membership
from broadcasts.models import Broadcast, Message

pytestmark = pytest.mark.django_db

R = Membership.Role
PHONES = ["+256772000001", "+256772000002", "+256772000003"]


@pytest.fixture
def finished(shop: Any, daytime: Any) -> Broadcast:
    """Sent to three: one delivered, one failed, one sent without a report; completed."""
    created = shop.broadcast(shop.create(name="Sale", recipients=PHONES, text="Sale today"))
    now = timezone.now()
    ids = list(Message.objects.filter(broadcast=created).order_by("id").values_list("id", flat=True))
    Message.objects.filter(pk=ids[0]).update(status="delivered", sent_at=now, delivered_at=now)
    Message.objects.filter(pk=ids[1]).update(status="failed", sent_at=now, failed_at=now, error_code="rejected")
    Message.objects.filter(pk=ids[2]).update(status="sent", sent_at=now)
    Broadcast.objects.filter(pk=created.pk).update(status=Broadcast.Status.PARTIALLY_SENT)
    created.refresh_from_db()
    return created


def test_a_finished_broadcast_offers_follow_up_and_an_ongoing_one_does_not(login, shop, finished):
    web = login(R.MANAGER, shop.client)
    assert 'data-testid="follow-up"' in web.get(f"/broadcasts/{finished.pk}/").content.decode()
    Broadcast.objects.filter(pk=finished.pk).update(status=Broadcast.Status.SENDING)
    assert 'data-testid="follow-up"' not in web.get(f"/broadcasts/{finished.pk}/").content.decode()


def test_follow_up_opens_compose_prefilled_reviews_and_creates_through_the_service(login, shop, finished):
    web = login(R.MANAGER, shop.client)
    page = web.get(f"/broadcasts/{finished.pk}/follow-up/").content.decode()
    assert "Everyone who did not click" in page
    assert "Everyone it was not delivered to" in page
    assert 'name="follow_up_of"' in page
    assert 'name="recipients"' not in page
    assert "Follow-up of Sale" in page
    assert "Sale today" in page

    form = {
        "follow_up_of": str(finished.pk),
        "follow_up_audience": "not_delivered",
        "name": "Second chance",
        "channel": "sms",
        "content_mode": "text",
        "text": "Sale ends tonight",
        "purpose": "marketing",
        "schedule_mode": "now",
    }
    review = web.post("/broadcasts/new/", {**form, "step": "review"})
    assert review.status_code == 200, review.content
    body = review.content.decode()
    assert 'data-testid="total-contacts">2<' in body  # the failed one and the one without a report
    assert "everyone it was not delivered to" in body

    sent = web.post("/broadcasts/new/", {**form, "step": "send"})
    assert sent.status_code == 302
    follow_up = Broadcast.objects.get(name="Second chance")
    assert (follow_up.parent_id, follow_up.follow_up_audience, follow_up.created_by_user) == (
        finished.pk, "not_delivered", web.user,
    )  # fmt: skip
    assert set(Message.objects.filter(broadcast=follow_up).values_list("urn", flat=True)) == {
        f"tel:{PHONES[1]}",
        f"tel:{PHONES[2]}",
    }
    detail = web.get(f"/broadcasts/{follow_up.pk}/").content.decode()
    assert 'data-testid="follow-up-of"' in detail
    assert "everyone it was not delivered to" in detail


def test_a_follow_up_of_a_broadcast_still_sending_is_refused_on_the_form(login, shop, finished):
    Broadcast.objects.filter(pk=finished.pk).update(status=Broadcast.Status.SENDING)
    web = login(R.MANAGER, shop.client)
    form = {
        "follow_up_of": str(finished.pk), "follow_up_audience": "failed", "name": "Again", "channel": "sms",
        "content_mode": "text", "text": "Hi", "schedule_mode": "now", "step": "send",
    }  # fmt: skip
    response = web.post("/broadcasts/new/", form)
    assert response.status_code == 400
    assert "needs a finished broadcast" in response.content.decode()
    assert not Broadcast.objects.filter(name="Again").exists()


def test_another_clients_broadcast_cannot_be_followed_up(login, make_shop, shop, finished):
    other = make_shop()
    web = login(R.MANAGER, other.client)
    assert web.get(f"/broadcasts/{finished.pk}/follow-up/").status_code == 404
