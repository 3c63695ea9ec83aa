"""Counting clicks (tracking.clicks.clicks_process) and a message's first click by a person
(broadcasts.clicks.clicks_apply): counters exact, `clicked` set once, `message.clicked` once."""

from __future__ import annotations

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from broadcasts.clicks import clicks_apply, clicks_apply_all
from broadcasts.models import Message
from broadcasts.tasks import process_clicks
from tracking.models import Click, TrackedLink
from webhooks.models import WebhookEvent
from webhooks.services import webhook_endpoint_create

from .conftest import URL

pytestmark = pytest.mark.django_db

OTHER = "http://other.example.org/page"
PERSON = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
PREVIEW = "WhatsApp/2.23.20.0 A"
PHONES = ["+256772000101", "+256772000102", "+256772000103"]


@pytest.fixture
def endpoint(shop, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    return webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["message.clicked"])


@pytest.fixture
def sent(shop, daytime, write_links):
    """Three messages of one broadcast; URL in each (codes A, B, C), OTHER in the first (code D)."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    m1, m2, m3 = Message.objects.filter(broadcast=broadcast).order_by("pk").values_list("pk", flat=True)
    items = [(m1, URL, "AAAAAAA"), (m2, URL, "BBBBBBB"), (m3, URL, "CCCCCCC"), (m1, OTHER, "DDDDDDD")]
    links = write_links(shop.client, items, broadcast_id=broadcast.pk)
    return broadcast, (m1, m2, m3), links


def click(client, code, agent=PERSON):
    assert client.get(f"/r/{code}", HTTP_USER_AGENT=agent).status_code == 302


def counters(url):
    link = TrackedLink.objects.get(url=url)
    return link.recipients, link.clicks, link.unique_clicks, link.bot_clicks


def events():
    return [e.data for e in WebhookEvent.objects.filter(type="message.clicked").order_by("id")]


def test_two_clicks_of_one_recipient_and_a_preview_count_one_unique_click(client, sent, endpoint):
    _broadcast, (m1, _m2, _m3), _links = sent
    click(client, "AAAAAAA")
    click(client, "AAAAAAA")
    click(client, "BBBBBBB", agent=PREVIEW)  # WhatsApp shows m2's message: a preview, not a click

    done = clicks_apply()

    assert (done.claimed, done.clicked, done.events) == (3, 1, 1)
    assert counters(URL) == (3, 2, 1, 1)
    assert counters(OTHER) == (1, 0, 0, 0)
    assert list(Message.objects.filter(clicked=True).values_list("pk", flat=True)) == [m1]
    assert not Click.objects.filter(processed=False).exists()
    [event] = events()
    first = Click.objects.filter(code_id="AAAAAAA").order_by("id").first()
    assert event["message_id"] == m1
    assert event["url"] == URL
    assert event["clicked_at"] == DjangoJSONEncoder().default(first.clicked_at)
    assert event["broadcast_id"] == str(sent[0].pk)
    assert set(event) == {
        "message_id", "broadcast_id", "contact_id", "urn", "channel", "status", "provider_message_id", "url",
        "clicked_at",
    }  # fmt: skip
    link = TrackedLink.objects.get(url=URL)
    assert link.first_click_at == first.clicked_at
    assert link.last_click_at == Click.objects.filter(code_id="AAAAAAA").order_by("id").last().clicked_at


def test_later_batches_count_only_new_recipients_and_announce_each_message_once(client, sent, endpoint):
    _broadcast, (m1, m2, _m3), _links = sent
    click(client, "AAAAAAA")
    clicks_apply()

    click(client, "AAAAAAA")  # again: not a new recipient of URL
    click(client, "DDDDDDD")  # m1's other link: a new recipient of OTHER, but m1 is already clicked
    click(client, "BBBBBBB")  # m2's first click
    click(client, "CCCCCCC", agent=PREVIEW)
    done = clicks_apply()

    assert (done.claimed, done.clicked, done.events) == (4, 1, 1)
    assert counters(URL) == (3, 3, 2, 1)
    assert counters(OTHER) == (1, 1, 1, 0)
    assert set(Message.objects.filter(clicked=True).values_list("pk", flat=True)) == {m1, m2}
    assert [e["message_id"] for e in events()] == [m1, m2]
    assert clicks_apply().claimed == 0  # nothing left: nothing changes
    assert counters(URL) == (3, 3, 2, 1)


def test_a_recipient_clicking_twice_in_one_batch_after_a_preview_counts_once(client, sent, endpoint):
    _broadcast, (m1, _m2, _m3), _links = sent
    click(client, "AAAAAAA", agent=PREVIEW)
    clicks_apply()
    assert counters(URL) == (3, 0, 0, 1)
    assert not Message.objects.filter(clicked=True).exists()  # a preview is nobody's click

    click(client, "AAAAAAA")
    click(client, "AAAAAAA")
    clicks_apply()
    assert counters(URL) == (3, 2, 1, 1)
    assert [e["message_id"] for e in events()] == [m1]


def test_without_an_endpoint_the_message_is_marked_and_nothing_is_recorded(client, sent):
    _broadcast, (m1, _m2, _m3), _links = sent
    click(client, "AAAAAAA")
    assert clicks_apply().events == 0
    assert Message.objects.get(pk=m1).clicked
    assert not WebhookEvent.objects.exists()


def test_processing_loops_while_batches_come_full(client, sent, endpoint):
    for code in ("AAAAAAA", "BBBBBBB", "CCCCCCC", "DDDDDDD", "AAAAAAA"):
        click(client, code)
    done = clicks_apply_all(limit=2)
    assert (done.claimed, done.clicked, done.events) == (5, 3, 3)
    assert counters(URL) == (3, 4, 3, 0)
    assert not Click.objects.filter(processed=False).exists()


def test_the_beat_task_applies_clicks(client, sent, endpoint):
    click(client, "BBBBBBB")
    assert process_clicks.delay().get() == {"claimed": 1, "clicked": 1, "events": 1}


def test_a_batch_costs_a_fixed_number_of_queries(client, sent, endpoint, django_assert_max_num_queries):
    for code in ("AAAAAAA", "BBBBBBB", "CCCCCCC", "DDDDDDD"):
        click(client, code)
        click(client, code, agent=PREVIEW)
    # lock + count + message update + endpoints wanted + events_record's 3, and the savepoint pair
    with django_assert_max_num_queries(9):
        clicks_apply()


def test_clicks_of_links_without_a_message_count_but_mark_nothing(client, tenant, write_links, endpoint):
    [code] = write_links(tenant, [(None, "https://test.example/", "NoMsg12")]).codes
    click(client, code)
    click(client, code)
    done = clicks_apply()
    assert (done.claimed, done.clicked) == (2, 0)
    assert counters("https://test.example/") == (1, 2, 0, 0)


def test_processing_claims_only_what_no_one_else_holds(client, sent):
    click(client, "AAAAAAA")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_click WHERE NOT processed")
        assert cursor.fetchone()[0] == 1
    assert clicks_apply().claimed == 1
