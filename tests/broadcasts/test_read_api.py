"""GET broadcasts (list, detail, stats), messages (filters), dashboard; tenants never see each other."""

from __future__ import annotations

import pytest
from django.db.models import F

from broadcasts.models import Message
from tests.broadcasts.conftest import KE, UG, US
from tests.helpers import assert_error
from tests.openapi import api_schema
from tracking.models import TrackedLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(shop, daytime, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = shop.broadcast(shop.create(name="First", recipients=[UG, KE, "12"]))
        second = shop.broadcast(shop.create(name="Second", recipients=[US], channel="sms", status="draft"))
    return first, second


def test_list_newest_first_with_filters(shop, sent):
    first, second = sent
    results = shop.api.get("/api/v1/broadcasts/").json()["results"]
    assert [r["id"] for r in results] == [str(second.pk), str(first.pk)]
    assert [r["name"] for r in shop.api.get("/api/v1/broadcasts/?status=sent").json()["results"]] == ["First"]
    assert [r["name"] for r in shop.api.get("/api/v1/broadcasts/?name=seco").json()["results"]] == ["Second"]
    assert shop.api.get("/api/v1/broadcasts/?channel=whatsapp").json()["results"] == []
    assert_error(shop.api.get("/api/v1/broadcasts/?status=bogus"), 400, "invalid_request_error")
    assert_error(shop.api.get("/api/v1/broadcasts/?created_after=yesterday"), 400, "invalid_request_error")


def test_list_query_count_does_not_grow_with_broadcasts(shop, sent, django_assert_max_num_queries):
    for i in range(5):
        shop.create(name=f"d{i}", recipients=[UG], status="draft")
    with django_assert_max_num_queries(8):
        assert len(shop.api.get("/api/v1/broadcasts/").json()["results"]) == 7


def test_detail_has_live_stats(shop, sent):
    first, _ = sent
    body = shop.api.get(f"/api/v1/broadcasts/{first.pk}/").json()
    assert body["stats"] == {
        "waiting": 0,
        "queued": 0,
        "sent": 2,
        "delivered": 2,
        "read": 0,
        "failed": 0,
        "clicks": 0,
        "unique_clicks": 0,
        "ctr": 0.0,
    }
    assert body["skipped"]["invalid"] == 1


def test_messages_with_filters(shop, sent):
    first, _ = sent
    everything = shop.api.get("/api/v1/messages/").json()["results"]
    assert len(everything) == 3
    assert [m["id"] for m in everything] == sorted((m["id"] for m in everything), reverse=True)
    by = lambda q: [m["urn"] for m in shop.api.get(f"/api/v1/messages/?{q}").json()["results"]]  # noqa: E731
    assert sorted(by(f"broadcast={first.pk}")) == sorted([f"tel:{UG}", f"tel:{KE}", "invalid:12"])
    assert by("status=skipped") == ["invalid:12"]
    assert by(f"urn=tel:{KE}") == [f"tel:{KE}"]
    assert by("phone=0772000001") == [f"tel:{UG}"]  # national format, the client's country (UG)
    assert by("phone=%2B254712000001") == [f"tel:{KE}"]
    assert by("created_after=2099-01-01T00:00:00Z") == []
    message = Message.objects.get(urn=f"tel:{UG}")
    detail = shop.api.get(f"/api/v1/messages/{message.pk}/").json()
    for field in [
        "id",
        "broadcast",
        "contact",
        "urn",
        "channel",
        "text",
        "encoding",
        "segments",
        "cost",
        "route_code",
        "status",
        "error_code",
        "error_message",
        "attempts",
        "provider_message_id",
        "queued_at",
        "sent_at",
        "delivered_at",
        "read_at",
        "failed_at",
        "clicked",
    ]:
        assert field in detail, field
    assert (detail["status"], detail["encoding"], detail["segments"]) == ("delivered", "gsm7", 1)


@pytest.mark.parametrize("query", ["phone=12", "status=lost", "broadcast=nope", "limit=0"])
def test_bad_message_filters_are_400(shop, query):
    assert_error(shop.api.get(f"/api/v1/messages/?{query}"), 400, "invalid_request_error")


def test_status_takes_several_statuses_separated_by_commas(shop, sent):
    # A message has its latest status only: one that was read is `read`, not `delivered` (README).
    Message.objects.filter(urn=f"tel:{KE}").update(status="read", read_at=F("delivered_at"))
    by = lambda q: sorted(m["urn"] for m in shop.api.get(f"/api/v1/messages/?{q}").json()["results"])  # noqa: E731
    assert by("status=delivered") == [f"tel:{UG}"]
    assert by("status=read") == [f"tel:{KE}"]
    assert by("status=delivered,read") == sorted([f"tel:{UG}", f"tel:{KE}"])
    assert by("status=delivered%2Cread") == sorted([f"tel:{UG}", f"tel:{KE}"])  # the comma encoded
    assert by("status=delivered,%20read") == sorted([f"tel:{UG}", f"tel:{KE}"])  # as a person types it
    assert by("status=delivered,") == [f"tel:{UG}"]
    assert len(by("status=,")) == 3  # no status named: no filter, as `status=`
    assert by("status=skipped,read,read") == sorted([f"tel:{KE}", "invalid:12"])
    assert by("status=failed,queued") == []


@pytest.mark.parametrize(
    ("query", "bad"),
    [("status=delivered,lost", "lost"), ("status=lost,read", "lost"), ("status=delivered,Read", "Read")],
)
def test_an_unknown_status_among_several_is_400_naming_it(shop, sent, query, bad):
    error = assert_error(shop.api.get(f"/api/v1/messages/?{query}"), 400, "invalid_request_error", "invalid_choice")
    assert error["fields"] == {"status": [f"Select a valid choice. {bad} is not one of the available choices."]}
    assert error["message"] == f"status: Select a valid choice. {bad} is not one of the available choices."


def test_the_schema_documents_status_as_a_comma_separated_list():
    operation = api_schema()["paths"]["/api/v1/messages/"]["get"]
    (status,) = [p for p in operation["parameters"] if p["name"] == "status"]
    assert (status["in"], status["style"], status["explode"]) == ("query", "form", False)
    assert status["schema"]["type"] == "array"
    assert sorted(status["schema"]["items"]["enum"]) == sorted(Message.Status.values)
    assert "status=delivered,read" in status["description"]


def test_messages_and_broadcasts_of_another_client_are_invisible(shop, sent, make_shop):
    other = make_shop()
    assert other.api.get("/api/v1/messages/").json()["results"] == []
    assert other.api.get("/api/v1/broadcasts/").json()["results"] == []
    message = Message.objects.first()
    assert_error(other.api.get(f"/api/v1/messages/{message.pk}/"), 404, "not_found")
    first, _ = sent
    assert other.api.get(f"/api/v1/messages/?broadcast={first.pk}").json()["results"] == []


def test_reading_needs_the_read_scope(make_shop):
    shop = make_shop(scopes=["send_sms"])
    assert_error(shop.api.get("/api/v1/broadcasts/"), 403, "permission_error", "missing_scope")
    assert_error(shop.api.get("/api/v1/messages/"), 403, "permission_error", "missing_scope")


def test_dashboard_totals_and_rows(shop, sent):
    body = shop.api.get("/api/v1/broadcasts/dashboard/").json()
    first, _ = sent
    rows = {r["name"]: r for r in body["results"]}
    assert rows["First"]["recipients"] == 2
    assert (rows["First"]["sent"], rows["First"]["delivered"], rows["First"]["failed"]) == (2, 2, 0)
    assert rows["First"]["delivery_rate"] == 1.0
    assert rows["First"]["cost"] == f"{first.estimated_cost:.6f}"
    assert rows["Second"]["cost"] == "0.000000"
    assert body["totals"]["broadcasts"] == 2
    assert body["totals"]["sent"] == 2
    assert shop.api.get("/api/v1/broadcasts/dashboard/?created_after=2099-01-01T00:00:00Z").json()["results"] == []
    assert_error(shop.api.get("/api/v1/broadcasts/dashboard/?created_before=soon"), 400, "invalid_request_error")


def test_dashboard_unique_clicks_count_distinct_recipients_never_a_copy_of_clicks(shop, sent, daytime):
    first, _ = sent
    assert shop.api.get("/api/v1/broadcasts/dashboard/").json()["totals"]["unique_clicks"] == 0
    again = shop.broadcast(shop.create(name="Again", recipients=[UG]))
    # The same recipient clicked in two broadcasts, and another one in the first; people's clicks come
    # from the links' counters (the first broadcast's links were clicked 5 times in all).
    Message.objects.filter(broadcast__in=[first, again]).exclude(status="skipped").update(clicked=True)
    TrackedLink.objects.create(client=shop.client, broadcast_id=first.pk, url="https://a.io", recipients=2, clicks=4)
    TrackedLink.objects.create(client=shop.client, broadcast_id=first.pk, url="https://b.io", recipients=2, clicks=1)
    TrackedLink.objects.create(client=shop.client, broadcast_id=again.pk, url="https://a.io", recipients=1, clicks=1)
    body = shop.api.get("/api/v1/broadcasts/dashboard/").json()
    rows = {r["name"]: r for r in body["results"]}
    assert (rows["First"]["clicks"], rows["First"]["unique_clicks"], rows["First"]["ctr"]) == (5, 2, 1.0)
    assert (rows["Again"]["clicks"], rows["Again"]["unique_clicks"]) == (1, 1)
    assert (body["totals"]["clicks"], body["totals"]["unique_clicks"]) == (6, 2)
