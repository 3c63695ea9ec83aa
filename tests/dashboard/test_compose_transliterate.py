"""Compose: smart encoding never changes a letter; the transliterated text (ç → c) is shown before
sending, with a switch to use it, and the `transliterate` box reaches the create body (issue 21)."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from broadcasts.models import Broadcast, Message

pytestmark = pytest.mark.django_db

R = Membership.Role


def test_the_counter_shows_the_transliterated_text_when_only_that_makes_it_gsm(login, shop):
    response = login(R.MANAGER, shop.client).post("/broadcasts/new/counter/", {"text": "Merci, ça marche"})
    counter = response.context["counter"]
    assert counter["encoding_label"] == "UCS-2"
    assert counter["optimized"] == ""  # smart encoding leaves ç alone
    assert counter["transliterated"] == "Merci, ca marche"
    assert counter["transliterated_info"].encoding == "gsm7"
    body = response.content.decode()
    assert "<q>Merci, ca marche</q>" in body
    assert 'data-testid="transliterate-switch"' in body
    assert 'data-testid="smart-switch"' not in body


def test_the_counter_offers_no_transliteration_when_smart_encoding_is_enough(login, shop):
    counter = (
        login(R.MANAGER, shop.client).post("/broadcasts/new/counter/", {"text": "It’s “great”"}).context["counter"]
    )
    assert counter["optimized"] == 'It\'s "great"'
    assert counter["transliterated"] == ""


def test_the_transliterate_switch_works_without_javascript(login, shop):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/", {"step": "translit", "name": "x", "text": "Merci, ça marche\u2026"}
    )
    assert response.context["text"] == "Merci, ca marche..."
    assert response.context["counter"]["encoding_label"] == "GSM-7"


def test_the_transliterate_box_is_sent_and_shown_on_review(login, shop, daytime):
    web = login(R.MANAGER, shop.client)
    form = {
        "name": "Promo",
        "channel": "sms",
        "recipients": "+256772000001",
        "content_mode": "text",
        "text": "Merci, ça marche",
        "sender": "Herald",
        "schedule_mode": "now",
        "optimize_text": "on",
        "transliterate": "on",
    }
    review = web.post("/broadcasts/new/", {**form, "step": "review"})
    assert review.context["precheck"]["encoding"] == "gsm7"
    assert "letters transliterated (ç → c): yes" in review.content.decode()
    assert 'name="transliterate" value="on"' in review.content.decode()
    sent = web.post("/broadcasts/new/", {**form, "step": "send"})
    assert sent.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.transliterate is True
    assert list(Message.objects.values_list("text", flat=True)) == ["Merci, ca marche"]


def test_the_box_is_off_by_default(login, shop):
    body = login(R.MANAGER, shop.client).get("/broadcasts/new/").content.decode()
    assert '<input type="checkbox" name="transliterate" data-testid="transliterate">' in body
