"""Issue 21, point 5: a finished broadcast can be duplicated, a scheduled one edited or rescheduled
— through the same services as the API (create; PATCH's broadcast_update)."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Client, Membership
from broadcasts.models import Broadcast, Message
from tests.broadcasts.conftest import UG

pytestmark = pytest.mark.django_db

R = Membership.Role
UG2 = "+256772000002"


def carried(response) -> dict[str, list[str]]:
    form = response.context["form"]
    return {key: form.getlist(key) for key in form}


def test_duplicate_opens_the_compose_form_filled_and_sends_a_new_broadcast(login, shop, daytime):
    original = shop.broadcast(shop.create(recipients=[UG, UG2], text="Hello {{first_name|there}}", name="Promo"))
    Broadcast.objects.filter(pk=original.pk).update(status=Broadcast.Status.SENT)
    web = login(R.MANAGER, shop.client)
    assert 'data-testid="duplicate"' in web.get(f"/broadcasts/{original.pk}/").content.decode()
    opened = web.get(f"/broadcasts/{original.pk}/duplicate/")
    assert opened.status_code == 200
    form = carried(opened)
    assert form["name"] == ["Copy of Promo"]
    assert form["recipients"] == [f"{UG}\n{UG2}"]
    assert form["text"] == ["Hello {{first_name|there}}"]
    assert form["schedule_mode"] == ["now"]
    fields = {key: values[0] for key, values in form.items() if values}
    sent = web.post("/broadcasts/new/", {**fields, "step": "send"})
    assert sent.status_code == 302
    copy = Broadcast.objects.exclude(pk=original.pk).get()
    assert (copy.name, copy.total_recipients) == ("Copy of Promo", 2)
    assert Message.objects.filter(broadcast=original).count() == 2  # the original is untouched


def test_a_scheduled_broadcast_is_rescheduled_in_the_users_zone(login, shop, daytime):
    Client.objects.filter(pk=shop.client.pk).update(timezone="Africa/Kampala")
    shop.client.refresh_from_db()
    at = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    broadcast = shop.broadcast(
        shop.create(recipients=[UG], text="Hi", schedule_mode="scheduled", scheduled_at=at.isoformat(), name="Later")
    )
    web = login(R.MANAGER, shop.client)
    assert 'data-testid="edit"' in web.get(f"/broadcasts/{broadcast.pk}/").content.decode()
    opened = web.get(f"/broadcasts/{broadcast.pk}/edit/")
    form = carried(opened)
    assert form["edit_of"] == [str(broadcast.pk)]
    local = at.astimezone(ZoneInfo("Africa/Kampala"))
    assert form["scheduled_at"] == [local.strftime("%Y-%m-%dT%H:%M")]
    fields = {key: values[0] for key, values in form.items() if values}
    later = local + timedelta(hours=2)
    fields.update({"scheduled_at": later.strftime("%Y-%m-%dT%H:%M"), "text": "Hi again"})
    review = web.post("/broadcasts/new/", {**fields, "step": "review"})
    assert ">Save changes</button>" in review.content.decode()
    saved = web.post("/broadcasts/new/", {**fields, "step": "send"})
    assert saved.status_code == 302
    assert saved["Location"] == f"/broadcasts/{broadcast.pk}/"
    broadcast.refresh_from_db()
    assert Broadcast.objects.count() == 1  # edited, not copied
    assert broadcast.scheduled_at == (at + timedelta(hours=2)).astimezone(UTC)
    assert Message.objects.get(broadcast=broadcast).text == "Hi again"
    assert shop.refresh().reserved == broadcast.estimated_cost  # re-reserved for the new plan, once


def test_a_finished_broadcast_cannot_be_edited(login, shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=[UG], text="Hi"))
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SENT)
    web = login(R.MANAGER, shop.client)
    assert 'data-testid="edit"' not in web.get(f"/broadcasts/{broadcast.pk}/").content.decode()
    fields = {key: values[0] for key, values in carried(web.get(f"/broadcasts/{broadcast.pk}/edit/")).items() if values}
    refused = web.post("/broadcasts/new/", {**fields, "step": "send"})
    assert refused.status_code in (400, 409)
    assert "Completed" in refused.content.decode() or "sent" in refused.content.decode()
    assert Broadcast.objects.count() == 1


def test_a_viewer_can_neither_duplicate_nor_edit(login, shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=[UG], text="Hi"))
    web = login(R.VIEWER, shop.client)
    assert web.get(f"/broadcasts/{broadcast.pk}/duplicate/").status_code == 403
    assert web.get(f"/broadcasts/{broadcast.pk}/edit/").status_code == 403


def test_an_edit_is_offered_when_only_its_own_reservation_makes_the_wallet_look_short(login, make_shop, daytime):
    shop = make_shop(balance="0.0188")  # exactly two UG messages
    at = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    broadcast = shop.broadcast(
        shop.create(recipients=[UG, UG2], text="Hi", schedule_mode="scheduled", scheduled_at=at.isoformat())
    )
    assert shop.refresh().available == 0  # all of it reserved by this very broadcast
    web = login(R.MANAGER, shop.client)
    fields = {key: values[0] for key, values in carried(web.get(f"/broadcasts/{broadcast.pk}/edit/")).items() if values}
    fields["text"] = "Hi there"
    review = web.post("/broadcasts/new/", {**fields, "step": "review"}).content.decode()
    assert ">Save changes</button>" in review
    assert web.post("/broadcasts/new/", {**fields, "step": "send"}).status_code == 302
    assert Message.objects.filter(broadcast=broadcast, text="Hi there").count() == 2
    assert shop.refresh().reserved == broadcast.estimated_cost
