"""Issue 21, point 3: every time the dashboard shows is in the user's time zone — the client's by
default, their own choice in settings — and labelled; a schedule typed in compose is read in it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict

from accounts.models import Client, Membership
from broadcasts.models import Broadcast
from dashboard.compose_form import body_from

pytestmark = pytest.mark.django_db

R = Membership.Role
AT = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # 10:00 in Kampala (EAT), 08:00 in Paris (CET)


@pytest.fixture
def kampala(shop, daytime):
    Client.objects.filter(pk=shop.client.pk).update(timezone="Africa/Kampala")
    shop.client.refresh_from_db()
    broadcast = shop.broadcast(shop.create(recipients=["+256772000001"], name="Morning"))
    Broadcast.objects.filter(pk=broadcast.pk).update(created_at=AT)
    return shop


def membership(shop, web) -> Membership:
    return Membership.objects.get(client=shop.client, user=web.user)


def test_times_are_in_the_clients_zone_by_default_and_labelled(login, kampala):
    body = login(R.VIEWER, kampala.client).get("/broadcasts/").content.decode()
    assert "2026-12-07 10:00 EAT" in body
    assert "07:00" not in body


def test_a_user_picks_their_own_zone_and_every_page_follows(login, kampala):
    web = login(R.VIEWER, kampala.client)  # the lowest role may still choose how times read
    response = web.post("/settings/timezone/", {"timezone": "Europe/Paris"})
    assert response.status_code == 302
    assert membership(kampala, web).timezone == "Europe/Paris"
    assert "2026-12-07 08:00 CET" in web.get("/broadcasts/").content.decode()
    settings_page = web.get("/settings/").content.decode()
    assert '<option value="Europe/Paris" selected>' in settings_page
    web.post("/settings/timezone/", {"timezone": ""})  # back to the client's
    assert membership(kampala, web).timezone == ""
    assert "2026-12-07 10:00 EAT" in web.get("/broadcasts/").content.decode()


def test_an_unknown_zone_is_refused_and_changes_nothing(login, kampala):
    web = login(R.MANAGER, kampala.client)
    web.post("/settings/timezone/", {"timezone": "Europe/Paris"})
    response = web.post("/settings/timezone/", {"timezone": "Mars/Olympus"}, follow=True)
    assert "Mars/Olympus" in response.content.decode()
    assert "IANA" in response.content.decode()
    assert membership(kampala, web).timezone == "Europe/Paris"


def test_one_users_zone_is_not_anothers(login, kampala):
    paris = login(R.MANAGER, kampala.client)
    paris.post("/settings/timezone/", {"timezone": "Europe/Paris"})
    other = login(R.VIEWER, kampala.client)
    assert "2026-12-07 10:00 EAT" in other.get("/broadcasts/").content.decode()


def test_a_typed_schedule_is_read_in_the_users_zone(kampala):
    form = QueryDict(mutable=True)
    form.update({"name": "x", "text": "Hi", "schedule_mode": "scheduled", "scheduled_at": "2026-12-07T08:00"})
    paris = body_from(form, kampala.client, ZoneInfo("Europe/Paris"))
    assert datetime.fromisoformat(paris["scheduled_at"]) == AT
    default = body_from(form, kampala.client)
    assert datetime.fromisoformat(default["scheduled_at"]) == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_the_zone_address_opened_leads_to_its_form(login, kampala):
    web = login(R.VIEWER, kampala.client)
    response = web.get("/settings/timezone/")  # typed or reloaded: the form, not a blank 405
    assert (response.status_code, response["Location"]) == (302, "/settings/#zone-title")
    assert membership(kampala, web).timezone == ""


def test_every_time_of_day_a_template_prints_names_its_zone():
    """Issue 21: every time is in the user's zone *and labelled*. A `date` filter that prints an hour
    (H) prints the zone's abbreviation too (T); dates alone need none. The contact page's
    "Added 2026-12-06 21:32" (Kampala time, unlabelled) was the last one."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "dashboard" / "templates"
    unlabelled = [
        f"{path.relative_to(root)}: {fmt}"
        for path in root.rglob("*.html")
        for fmt in re.findall(r'\|date:"([^"]*)"', path.read_text())
        if "H" in fmt and not fmt.rstrip().endswith("T")
    ]
    assert unlabelled == []
