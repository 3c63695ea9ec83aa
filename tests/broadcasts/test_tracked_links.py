"""track_links (SPEC §12): each recipient's web links become their own short links, written with the
messages in bulk, and parts and prices are those of the rewritten text, in precheck too."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.conf import settings
from linkify_it import LinkifyIt

from broadcasts.models import Message
from templates_app.encoding import analyze, find_web_links
from tracking import rewrite
from tracking import services as tracking_services
from tracking.models import LinkCode, TrackedLink

pytestmark = pytest.mark.django_db

PHONES = ["+256772000101", "+256772000102", "+256772000103"]
LONG = "https://shop.example.com/campaigns/2026/black-friday/landing?utm_source=sms&utm_medium=herald&x=1"
SHORT_LINK = re.compile(re.escape(settings.TRACKING_BASE_URL) + r"/r/([0-9A-Za-z]{7})")


def test_each_recipient_gets_their_own_short_links_and_no_original_url(shop, daytime):
    text = f"Deals at {LONG} and see www.example.org/faq."
    broadcast = shop.broadcast(shop.create(recipients=PHONES, text=text, track_links=True))
    messages = list(Message.objects.filter(broadcast=broadcast).order_by("pk"))
    assert len({m.text for m in messages}) == 3
    for message in messages:
        assert LONG not in message.text
        assert "example.org" not in message.text
        codes = SHORT_LINK.findall(message.text)
        assert len(codes) == 2
        stored = dict(LinkCode.objects.filter(code__in=codes).values_list("code", "link__url"))
        assert [stored[c] for c in codes] == [LONG, "http://www.example.org/faq"]
        assert set(LinkCode.objects.filter(code__in=codes).values_list("message_id", flat=True)) == {message.pk}
    links = TrackedLink.objects.filter(broadcast_id=broadcast.pk)
    assert sorted((link.url, link.recipients, link.client_id) for link in links) == sorted(
        [(LONG, 3, shop.client.pk), ("http://www.example.org/faq", 3, shop.client.pk)]
    )


def test_parts_and_price_are_those_of_the_rewritten_text_in_precheck_too(shop, daytime):
    text = "Your offer is ready, open it before midnight tonight to keep the discount: " + LONG
    assert analyze(text).segments == 2
    body = {"recipients": PHONES, "text": text, "track_links": True}
    precheck = shop.precheck(**body).json()
    assert precheck["segments_per_message"] == 1
    assert precheck["link_tracking"] == {"links": 3, "segments_saved": 3}
    untracked = shop.precheck(recipients=PHONES, text=text).json()
    assert untracked["segments_per_message"] == 2
    assert "link_tracking" not in untracked
    created = shop.create(**body).json()
    assert created["total_segments"] == precheck["total_segments"] == 3
    assert Decimal(created["estimated_cost"]) == Decimal(precheck["total_cost"]) < Decimal(untracked["total_cost"])
    for message in Message.objects.filter(broadcast_id=created["id"]):
        assert analyze(message.text).segments == message.segments == 1


@pytest.mark.parametrize(
    "text",
    [
        "Read https://example.com/a-b?c=1, then reply.",
        "See (https://example.com/x).",
        "word-https://example.com/inside ok",
        "ends with a dot example.com.",
        "nohttp:example andnot.a.link? maybe.com!",
        "mail me at someone@example.com not a link",
        "two: http://a.io/1 http://b.io/2",
    ],
)
def test_links_are_found_exactly_as_linkify_finds_them(text):
    expected = [
        (m.index, m.last_index, m.url)
        for m in LinkifyIt().match(text) or ()
        if (m.schema or "").lower() in ("http:", "https:", "")
    ]
    assert find_web_links(text) == expected
    rewriter = rewrite.Rewriter("https://t.example")
    templated, urls = rewriter.template(text)
    assert list(urls) == [url for _s, _e, url in expected]
    for start, end, _url in expected:
        assert text[start:end] not in templated


def test_a_code_already_taken_is_drawn_again_and_the_text_follows(shop, daytime, monkeypatch):
    first = shop.broadcast(shop.create(recipients=PHONES[:1], text=f"Go {LONG}", track_links=True))
    taken = LinkCode.objects.get(link__broadcast_id=first.pk).code
    drawn = iter([taken, "Zz00001", "Zz00002"])
    monkeypatch.setattr(rewrite, "new_code", lambda: next(drawn))
    monkeypatch.setattr(tracking_services, "new_code", lambda: next(drawn))
    second = shop.broadcast(shop.create(recipients=PHONES[1:2], text=f"Go {LONG}", track_links=True))
    message = Message.objects.get(broadcast=second)
    assert SHORT_LINK.findall(message.text) == ["Zz00001"]
    assert LinkCode.objects.get(code="Zz00001").message_id == message.pk
    assert LinkCode.objects.get(code=taken).message_id != message.pk  # never reused


def test_a_test_send_carries_short_links_of_its_own(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:1], text=f"Go {LONG}", track_links=True))
    response = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/test/", {"recipients": [PHONES[2]]}, format="json")
    assert response.status_code in (200, 201, 202), response.content
    test_message = Message.objects.get(broadcast=broadcast, is_test=True)
    [code] = SHORT_LINK.findall(test_message.text)
    assert LinkCode.objects.get(code=code).message_id == test_message.pk


def test_without_track_links_the_text_goes_as_written(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:1], text=f"Go {LONG}"))
    assert Message.objects.get(broadcast=broadcast).text == f"Go {LONG}"
    assert not TrackedLink.objects.exists()


def test_the_same_code_drawn_twice_in_one_chunk_is_recorded_once_and_the_second_replaced(shop):
    items = [(None, LONG, "Same001"), (None, LONG, "Same001"), (None, "http://b.io", "Other01")]
    codes = tracking_services.links_write(client_id=shop.client.pk, broadcast_id=shop.client.pk, items=items)
    assert codes[0] == "Same001"
    assert codes[2] == "Other01"
    assert codes[1] not in ("Same001", "Other01")
    assert len(codes[1]) == 7
    assert LinkCode.objects.filter(code__in=codes).count() == 3
