"""The compose wizard: the server's own segment counter, the precheck review, then create."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from broadcasts.models import Broadcast
from templates_app import encoding

pytestmark = pytest.mark.django_db

R = Membership.Role


@pytest.mark.parametrize(
    "text",
    ["Hello there", "x" * 161, "Ça va? 😀", "Price: 10€ {{first_name}}", "Smart “quotes” here", "ü" * 70 + "ç"],
)
def test_the_counter_is_templates_app_encoding(login, shop, text):
    response = login(R.MANAGER, shop.client).post("/broadcasts/new/counter/", {"text": text}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    info = encoding.analyze(text)
    counter = response.context["counter"]
    assert counter["info"] == info
    body = response.content.decode()
    assert f'data-testid="parts">{info.segments}<' in body
    assert ("GSM-7" if info.encoding == encoding.GSM7 else "UCS-2") in body
    for character in info.non_gsm_characters:
        assert f"<code>{character}</code>" in body


def test_counter_names_the_ucs2_characters_and_offers_the_smart_text(login, shop):
    response = login(R.MANAGER, shop.client).post("/broadcasts/new/counter/", {"text": "It’s “great”"})
    counter = response.context["counter"]
    assert counter["encoding_label"] == "UCS-2"
    assert counter["info"].non_gsm_characters == ("’", "“", "”")
    assert counter["optimized"] == encoding.optimize_text("It’s “great”") == 'It\'s "great"'
    assert counter["left"] == 70 - 12
    assert b'data-testid="smart-switch"' in response.content


def test_chars_left_in_a_gsm_part(login, shop):
    counter = login(R.MANAGER, shop.client).post("/broadcasts/new/counter/", {"text": "a" * 200}).context["counter"]
    assert counter["info"].segments == 2
    assert counter["left"] == 153 * 2 - 200


def test_the_smart_switch_works_without_javascript(login, shop):
    response = login(R.MANAGER, shop.client).post("/broadcasts/new/", {"step": "smart", "name": "x", "text": "It’s"})
    assert response.context["text"] == "It's"
    assert response.context["counter"]["encoding_label"] == "GSM-7"


def test_review_shows_the_precheck_then_send_creates(login, shop, daytime):
    web = login(R.MANAGER, shop.client)
    form = {
        "name": "Promo",
        "channel": "sms",
        "recipients": "+256772000001\n+254712000001\nnot-a-number\n+256772000001",
        "content_mode": "text",
        "text": "Hello {{first_name|there}}",
        "sender": "Herald",
        "schedule_mode": "now",
        "optimize_text": "on",
    }
    review = web.post("/broadcasts/new/", {**form, "step": "review"})
    assert review.status_code == 200
    api = shop.precheck(
        recipients=["+256772000001", "+254712000001", "not-a-number", "+256772000001"],
        sender="Herald",
        optimize_text=True,
        track_links=False,
    ).json()
    precheck = review.context["precheck"]
    assert precheck["total_contacts"] == api["total_contacts"] == 2
    assert precheck["total_cost"] == api["total_cost"]
    assert precheck["invalid_count"] == 1
    assert precheck["duplicate_count"] == 1
    assert [row["country_code"] for row in precheck["breakdown"]] == [row["country_code"] for row in api["breakdown"]]
    assert b"Available after sending" in review.content
    assert Broadcast.objects.count() == 0
    sent = web.post("/broadcasts/new/", {**form, "step": "send"})
    assert sent.status_code == 302
    broadcast = Broadcast.objects.get()
    assert sent["Location"] == f"/broadcasts/{broadcast.pk}/"
    assert broadcast.total_recipients == 2


def test_a_bad_body_shows_the_services_errors(login, shop):
    response = login(R.MANAGER, shop.client).post("/broadcasts/new/", {"step": "review", "name": "", "text": ""})
    assert response.status_code == 400
    assert response.context["field_errors"]
    assert Broadcast.objects.count() == 0


def test_scheduled_time_is_the_clients_local_time(login, shop, daytime):
    shop.client.timezone = "Africa/Kampala"
    shop.client.save()
    web = login(R.MANAGER, shop.client)
    web.post(
        "/broadcasts/new/",
        {
            "step": "send",
            "name": "Later",
            "recipients": "+256772000001",
            "text": "Hi",
            "sender": "Herald",
            "schedule_mode": "scheduled",
            "scheduled_at": "2026-11-26T09:00",
        },
    )
    broadcast = Broadcast.objects.get()
    assert broadcast.status == "scheduled"
    assert broadcast.scheduled_at.isoformat() == "2026-11-26T06:00:00+00:00"
