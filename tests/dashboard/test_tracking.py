"""Link tracking pages: the client's links with the API's counters and ctr, a link's clicks with who
clicked (a person's click names the message's recipient; a bot's names no one), per-link clicks
and the funnel's "clicked" step on the broadcast page; another client's link is a 404."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import Membership
from broadcasts.clicks import clicks_apply
from broadcasts.models import Message
from tests.factories.accounts import ClientFactory
from tracking.models import TrackedLink
from tracking.services import links_write

pytestmark = pytest.mark.django_db

R = Membership.Role
URL = "https://shop.example.com/sale"
OTHER = "https://shop.example.com/terms"
PERSON = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
PREVIEW = "WhatsApp/2.23.20.0 A"
PHONES = ["+256772000101", "+256772000102", "+256772000103", "+256772000104"]


@pytest.fixture
def clicked(shop, daytime, client):
    """Four messages with URL (codes Dash001…004), OTHER in the first; two people click URL (one
    twice), WhatsApp previews it for a third; the clicks are counted."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES, text="Sale https://shop.example.com/sale"))
    messages = list(Message.objects.filter(broadcast=broadcast).order_by("pk"))
    items = [(m.pk, URL, f"Dash00{i}") for i, m in enumerate(messages, start=1)] + [(messages[0].pk, OTHER, "DashOt1")]
    links_write(client_id=shop.client.pk, broadcast_id=broadcast.pk, items=items)
    for code, agent in [("Dash001", PERSON), ("Dash001", PERSON), ("Dash002", PERSON), ("Dash003", PREVIEW)]:
        assert client.get(f"/r/{code}", HTTP_USER_AGENT=agent).status_code == 302
    clicks_apply()
    return broadcast, messages


def test_the_links_page_shows_the_apis_counters(login, shop, clicked):
    broadcast, _messages = clicked
    api = {row["url"]: row for row in shop.api.get("/api/v1/url-tracking/").json()["results"]}
    response = login(R.VIEWER, shop.client).get("/tracking/")
    assert response.status_code == 200
    rows = {row["link"].url: row for row in response.context["rows"]}
    assert set(rows) == {URL, OTHER}
    for url, row in rows.items():
        link = row["link"]
        shown = (link.recipients, link.clicks, link.unique_clicks, row["ctr"], row["broadcast_name"])
        assert shown == (
            api[url]["recipients"],
            api[url]["clicks"],
            api[url]["unique_clicks"],
            api[url]["ctr"],
            broadcast.name,
        )
    assert (rows[URL]["link"].clicks, rows[URL]["link"].unique_clicks, rows[URL]["ctr"]) == (3, 2, 0.5)
    body = response.content.decode()
    assert "50.0%" in body
    assert f'href="/tracking/{rows[URL]["link"].pk}/"' in body
    assert "No tracked links yet" not in body


def test_the_links_page_filters_by_broadcast(login, shop, clicked):
    broadcast, _messages = clicked
    web = login(R.VIEWER, shop.client)
    assert len(web.get("/tracking/", {"broadcast": str(broadcast.pk)}).context["rows"]) == 2
    assert web.get("/tracking/", {"broadcast": str(uuid.uuid4())}).status_code == 404


def test_without_links_the_page_says_how_to_get_them(login, shop):
    body = login(R.VIEWER, shop.client).get("/tracking/").content.decode()
    assert "No tracked links yet" in body
    assert "not available yet" not in body


def test_a_links_page_lists_its_clicks_and_who_clicked(login, shop, clicked):
    _broadcast, messages = clicked
    link = TrackedLink.objects.get(url=URL)
    response = login(R.VIEWER, shop.client).get(f"/tracking/{link.pk}/")
    assert response.status_code == 200
    rows = [(row.urn, row.click.is_bot, row.click.user_agent) for row in response.context["clicks"]]
    assert sorted(rows) == sorted(
        [
            (messages[0].urn, False, PERSON),
            (messages[0].urn, False, PERSON),
            (messages[1].urn, False, PERSON),
            ("", True, PREVIEW),  # a preview is not the recipient: it names no one
        ]
    )
    times = [row.click.clicked_at for row in response.context["clicks"]]
    assert times == sorted(times, reverse=True)
    body = response.content.decode()
    assert 'data-testid="unique-clicks">2<' in body
    assert messages[1].urn in body
    assert messages[2].urn not in body  # the previewed message's recipient did not click


def test_a_links_page_reads_in_a_few_queries(login, shop, clicked, django_assert_max_num_queries):
    link = TrackedLink.objects.get(url=URL)
    web = login(R.VIEWER, shop.client)
    with django_assert_max_num_queries(8):
        assert web.get(f"/tracking/{link.pk}/").status_code == 200


def test_another_clients_link_is_404(login, shop, clicked):
    link = TrackedLink.objects.get(url=URL)
    stranger = login(R.OWNER, ClientFactory())
    assert stranger.get(f"/tracking/{link.pk}/").status_code == 404
    assert stranger.get("/tracking/").context["rows"] == []
    assert login(R.VIEWER, shop.client).get(f"/tracking/{uuid.uuid4()}/").status_code == 404


def test_the_broadcast_page_shows_per_link_clicks_and_the_clicked_step(login, shop, clicked):
    broadcast, _messages = clicked
    api = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()["stats"]
    response = login(R.VIEWER, shop.client).get(f"/broadcasts/{broadcast.pk}/")
    stats = response.context["stats"]
    assert (stats.clicks, stats.unique_clicks, stats.ctr) == (api["clicks"], api["unique_clicks"], api["ctr"])
    links = {
        row["link"].url: (row["link"].clicks, row["link"].unique_clicks, row["ctr"])
        for row in response.context["links"]
    }
    assert links == {URL: (3, 2, 0.5), OTHER: (0, 0, 0.0)}
    clicked_step = next(step for step in response.context["funnel"] if step["label"] == "Clicked")
    assert (clicked_step["count"], clicked_step["rate"]) == (stats.unique_clicks, stats.ctr)
    body = response.content.decode()
    assert 'data-testid="broadcast-links"' in body
    assert f'data-testid="funnel-clicked">{stats.unique_clicks}<' in body
    assert f'data-testid="clicks">{stats.clicks}<' in body
    assert "not available yet" not in body


def test_the_links_page_reads_in_a_few_queries_whatever_the_links(login, shop, clicked, django_assert_max_num_queries):
    web = login(R.VIEWER, shop.client)
    with django_assert_max_num_queries(8):  # session, user, membership, links, broadcast names
        assert web.get("/tracking/").status_code == 200
