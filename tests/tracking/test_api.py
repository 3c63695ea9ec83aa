"""/api/v1/url-tracking/ (SPEC §12): a client's links with their counters, each link's clicks;
another client's links answer 404 while the redirect stays public. And the admin's read-only pages."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import Scope, User
from broadcasts.clicks import clicks_apply
from tests.factories.accounts import ClientFactory
from tracking.models import TrackedLink
from tracking.selectors import broadcast_link_totals

from .conftest import URL

pytestmark = pytest.mark.django_db

PERSON = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
LINK_FIELDS = {
    "id", "url", "broadcast", "recipients", "clicks", "unique_clicks", "bot_clicks", "ctr", "first_click_at",
    "last_click_at", "created_at",
}  # fmt: skip


@pytest.fixture
def reader(make_api):
    return make_api(scopes=[Scope.READ.value])


@pytest.fixture
def links(reader, write_links):
    """Four recipients of URL (codes Code001…Code004), one of /b; clicks by two people and a bot."""
    items = [(i, URL, f"Code00{i}") for i in range(1, 5)] + [(1, "https://shop.example.com/b", "CodeB01")]
    written = write_links(reader.tenant, items)
    return written


def clicked(client, code, agent=PERSON):
    assert client.get(f"/r/{code}", HTTP_USER_AGENT=agent).status_code == 302


def test_a_link_shows_its_counters_and_ctr(reader, links, client):
    for code in ("Code001", "Code001", "Code002"):
        clicked(client, code)
    clicked(client, "Code003", agent="TelegramBot (like TwitterBot)")
    clicks_apply()

    response = reader.get("/api/v1/url-tracking/", {"broadcast": str(links.broadcast_id)})

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 2
    [row] = [r for r in results if r["url"] == URL]
    assert set(row) == LINK_FIELDS
    link = links.link()
    assert row["id"] == str(link.pk)
    assert row["broadcast"] == str(links.broadcast_id)
    assert (row["recipients"], row["clicks"], row["unique_clicks"], row["bot_clicks"]) == (4, 3, 2, 1)
    assert row["ctr"] == 0.5
    assert row["first_click_at"] is not None
    assert row["last_click_at"] is not None
    other = next(r for r in results if r["url"] != URL)
    assert (other["clicks"], other["ctr"], other["first_click_at"]) == (0, 0.0, None)

    detail = reader.get(f"/api/v1/url-tracking/{link.pk}/")
    assert detail.status_code == 200
    assert detail.json() == row


def test_the_list_reads_counters_without_counting_clicks(reader, links, client, django_assert_max_num_queries):
    for _ in range(5):
        clicked(client, "Code001")
    clicks_apply()
    with django_assert_max_num_queries(6) as captured:
        assert reader.get("/api/v1/url-tracking/").status_code == 200
    assert not any("tracking_click" in q["sql"] for q in captured.captured_queries)


def test_the_list_filters_by_broadcast_and_creation(reader, links, write_links):
    other = write_links(reader.tenant, [(9, "https://elsewhere.example/", "Other01")])

    def urls(**params):
        response = reader.get("/api/v1/url-tracking/", params)
        assert response.status_code == 200, response.json()
        return sorted(r["url"] for r in response.json()["results"])

    assert urls(broadcast=str(other.broadcast_id)) == ["https://elsewhere.example/"]
    assert len(urls()) == 3
    assert len(urls(created_after="2000-01-01T00:00:00Z")) == 3
    assert urls(created_before="2000-01-01T00:00:00Z") == []
    assert urls(broadcast=str(uuid.uuid4())) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"broadcast": "nope"}, "broadcast"), ({"created_after": "yesterday"}, "created_after"), ({"url": "x"}, "url")],
)
def test_bad_or_unknown_filters_answer_400_naming_them(reader, links, params, field):
    response = reader.get("/api/v1/url-tracking/", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert field in error["fields"]


def test_a_links_clicks_newest_first_without_the_ip_hash(reader, links, client):
    clicked(client, "Code002")
    clicked(client, "Code002", agent="WhatsApp/2.23.20.0 A")

    response = reader.get(f"/api/v1/url-tracking/{links.link().pk}/clicks/", {"limit": 1})

    assert response.status_code == 200
    body = response.json()
    [row] = body["results"]
    assert set(row) == {"id", "clicked_at", "is_bot", "user_agent", "message"}
    assert (row["is_bot"], row["user_agent"], row["message"]) == (True, "WhatsApp/2.23.20.0 A", 2)
    second = reader.get(body["next"]).json()["results"]
    assert [(r["is_bot"], r["user_agent"]) for r in second] == [(False, PERSON)]
    assert reader.get(f"/api/v1/url-tracking/{links.link().pk}/clicks/", {"is_bot": "1"}).status_code == 400


def test_another_clients_links_answer_404_but_their_redirect_is_public(make_api, links, client):
    stranger = make_api(scopes=[Scope.READ.value], client=ClientFactory())
    link = links.link()

    assert stranger.get(f"/api/v1/url-tracking/{link.pk}/").status_code == 404
    assert stranger.get(f"/api/v1/url-tracking/{link.pk}/clicks/").status_code == 404
    assert stranger.get(f"/api/v1/url-tracking/{link.pk}/").json()["error"]["type"] == "not_found"
    assert stranger.get("/api/v1/url-tracking/").json()["results"] == []
    assert client.get("/r/Code001").status_code == 302


def test_a_malformed_id_is_404(reader):
    assert reader.get("/api/v1/url-tracking/not-a-uuid/").status_code == 404


def test_the_api_needs_the_read_scope_and_is_read_only(make_api, links):
    sender = make_api(scopes=[Scope.SEND_SMS.value], client=links.link().client)
    assert sender.get("/api/v1/url-tracking/").status_code == 403
    reader = make_api(scopes=list(Scope.values), client=links.link().client)
    assert reader.post("/api/v1/url-tracking/", {}, format="json").status_code == 405
    assert reader.delete(f"/api/v1/url-tracking/{links.link().pk}/").status_code == 405


def test_totals_per_broadcast_come_from_the_counters(links, client):
    clicked(client, "Code001")
    clicked(client, "CodeB01")
    clicked(client, "Code004", agent="Twitterbot/1.0")
    clicks_apply()
    totals = broadcast_link_totals(broadcast_ids=[links.broadcast_id, uuid.uuid4()])
    assert list(totals) == [str(links.broadcast_id)]
    assert (totals[str(links.broadcast_id)].clicks, totals[str(links.broadcast_id)].bot_clicks) == (2, 1)


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    return client


@pytest.mark.parametrize("model", ["trackedlink", "linkcode", "click"])
def test_the_admin_lists_and_searches_read_only(staff, links, model):
    clicked(staff, "Code003")
    base = f"/admin/tracking/{model}/"
    for term in ("", "Code003", str(links.broadcast_id), "3", "nothing-like-it"):
        assert staff.get(base, {"q": term}).status_code == 200
    found = staff.get(base, {"q": "Code003"}).content.decode()
    assert "Code003" in found or URL in found
    assert staff.get(f"{base}add/").status_code == 403
    assert staff.get(base, {"q": "code003"}).context["cl"].result_count == 0  # codes are case-sensitive


def test_the_admin_finds_a_link_by_broadcast_and_filters_clicks(staff, links):
    clicked(staff, "Code001", agent="Slackbot 1.0 (+https://api.slack.com/robots)")
    links_page = staff.get("/admin/tracking/trackedlink/", {"q": str(links.broadcast_id)})
    assert links_page.context["cl"].result_count == TrackedLink.objects.count() == 2
    assert staff.get("/admin/tracking/click/", {"is_bot__exact": "1"}).context["cl"].result_count == 1
    assert staff.get("/admin/tracking/click/", {"is_bot__exact": "0"}).context["cl"].result_count == 0
