"""The wizard's content: versions in other languages with a base language (the create body's
`text` as {language: text} with `base_language`), a counter per version, and track links."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from broadcasts.models import Broadcast
from dashboard.compose_form import language_choices
from templates_app import encoding
from tracking.models import TrackedLink

pytestmark = pytest.mark.django_db

R = Membership.Role
BASE = {
    "name": "Promo",
    "channel": "sms",
    "content_mode": "text",
    "sender": "Herald",
    "recipients": "+256772000001\n+256772000002",
}


def test_the_language_list_is_iso_639_3_with_names():
    choices = dict(language_choices())
    assert choices["fra"] == "French"
    assert choices["swa"] == "Swahili (macrolanguage)"
    assert all(len(code) == 3 for code in choices)


def test_adding_a_language_adds_an_empty_version(login, shop):
    web = login(R.MANAGER, shop.client)
    response = web.post("/broadcasts/new/", {**BASE, "step": "add_language", "text": "Hello", "text_language": "eng"})
    assert response.status_code == 200
    assert [(v.index, v.language, v.text) for v in response.context["translations"]] == [(1, "", "")]
    body = response.content.decode()
    assert 'name="tr_language"' in body
    assert 'id="counter-1"' in body
    assert 'name="base_version" value="0" checked' in body
    assert '<option value="fra">French</option>' in body


def test_versions_become_text_by_language_with_the_chosen_base(login, shop, daytime):
    web = login(R.MANAGER, shop.client)
    form = {
        **BASE,
        "text": "Hello",
        "text_language": "English",  # a name or a 639-1 code is read as its ISO 639-3 code
        "tr_language": ["fr", "swa"],
        "tr_text": ["Bonjour", "Habari"],
        "base_version": "1",
    }
    review = web.post("/broadcasts/new/", {**form, "step": "review"})
    assert review.status_code == 200
    body = review.context["body"]
    assert body["text"] == {"eng": "Hello", "fra": "Bonjour", "swa": "Habari"}
    assert body["base_language"] == "fra"
    assert "eng, fra (base), swa" in review.content.decode()
    assert web.post("/broadcasts/new/", {**form, "step": "send"}).status_code == 302
    broadcast = Broadcast.objects.get()
    assert (broadcast.text, broadcast.base_language) == ({"eng": "Hello", "fra": "Bonjour", "swa": "Habari"}, "fra")


def test_one_text_alone_stays_a_string(login, shop):
    review = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/", {**BASE, "step": "review", "text": "Hello", "text_language": "eng"}
    )
    assert review.context["body"]["text"] == "Hello"
    assert "base_language" not in review.context["body"]


@pytest.mark.parametrize(
    ("languages", "field", "message"),
    [
        (("", "fra"), "text_language", "Give the language of each version"),
        (("eng", ""), "translation 1", "Give the language of each version"),
        (("eng", "en"), "text.eng", "Two versions are in eng"),
        (("eng", "french!"), "text.french!", "ISO 639-3"),  # the service's own refusal
    ],
)
def test_a_bad_version_is_refused_naming_it(login, shop, languages, field, message):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/",
        {
            **BASE,
            "step": "send",
            "text": "Hi",
            "text_language": languages[0],
            "tr_language": languages[1],
            "tr_text": "x",
        },
    )
    assert response.status_code == 400
    assert field in response.context["field_errors"]
    assert message in " ".join(response.context["field_errors"][field])
    assert Broadcast.objects.count() == 0


def test_the_counter_counts_the_version_being_edited(login, shop):
    web = login(R.MANAGER, shop.client)
    response = web.post(
        "/broadcasts/new/counter/",
        {"edit": "2", "tr_text": ["Bonjour", "Ça va? ça"]},
        HTTP_HX_REQUEST="true",
    )
    assert response.context["counter"]["info"] == encoding.analyze("Ça va? ça")
    body = response.content.decode()
    assert 'id="counter-2"' in body
    assert "<code>ç</code>" in body
    assert 'name="step" value="translit:2"' in body  # smart encoding keeps ç; ç → c only on request
    main = web.post("/broadcasts/new/counter/", {"text": "Hi", "tr_text": ["Ça"]})
    assert main.context["counter"]["info"] == encoding.analyze("Hi")
    assert 'id="counter"' in main.content.decode()


def test_each_version_is_drawn_with_its_own_counter(login, shop):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/",
        {**BASE, "step": "edit", "text": "Hi", "text_language": "eng", "tr_language": "fra", "tr_text": "x" * 200},
    )
    body = response.content.decode()
    assert 'hx-vals=\'{"edit": "1"}\'' in body
    assert 'hx-target="#counter-1"' in body
    assert response.context["translations"][0].counter["info"].segments == 2


def test_the_smart_switch_fixes_only_its_version(login, shop):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/",
        {**BASE, "step": "smart:1", "text": "It’s", "tr_language": "fra", "tr_text": "Ça va? «oui»…"},
    )
    assert response.context["text"] == "It’s"
    assert response.context["translations"][0].text == encoding.optimize_text("Ça va? «oui»…") == 'Ça va? "oui"...'
    assert response.context["translations"][0].counter["encoding_label"] == "GSM-7"


def test_removing_a_version_keeps_the_base_on_the_same_text(login, shop):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/",
        {
            **BASE,
            "step": "drop_language:1",
            "text": "Hi",
            "text_language": "eng",
            "tr_language": ["fra", "swa"],
            "tr_text": ["Salut", "Habari"],
            "base_version": "2",
        },
    )
    assert [(v.language, v.text) for v in response.context["translations"]] == [("swa", "Habari")]
    assert response.context["base_version"] == 1


def test_track_links_reaches_the_create_body_and_rewrites_links(login, shop, daytime):
    web = login(R.MANAGER, shop.client)
    form = {**BASE, "text": "Sale: https://shop.example.com/sale", "track_links": "on"}
    review = web.post("/broadcasts/new/", {**form, "step": "review"})
    assert review.context["body"]["track_links"] is True
    assert "Links tracked: yes" in review.content.decode()
    assert web.post("/broadcasts/new/", {**form, "step": "send"}).status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.track_links is True
    link = TrackedLink.objects.get(broadcast_id=broadcast.pk)
    assert (link.url, link.recipients) == ("https://shop.example.com/sale", 2)


def test_track_links_is_not_for_whatsapp(login, shop):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/",
        {**BASE, "step": "review", "channel": "whatsapp", "content_mode": "template", "template": "promo",
         "track_links": "on"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "track_links" in response.context["field_errors"]
    assert Broadcast.objects.count() == 0
    assert "not for WhatsApp" in login(R.MANAGER, shop.client).get("/broadcasts/new/").content.decode()
