"""Broadcast pages: the figures equal the API's, live progress, the log and its streamed CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from accounts.models import Membership
from broadcasts.models import Message
from dashboard.exports import csv_lines, neutralize

pytestmark = pytest.mark.django_db

R = Membership.Role
PHONES = ["+256772000001", "+256772000002", "+256772000003", "+256772000004", "+254712000001"]


@pytest.fixture
def sent(shop, daytime):
    """A broadcast of five: two delivered (one of them read), one failed, one sent, one still queued."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    now = timezone.now()
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    Message.objects.filter(pk__in=ids[:2]).update(status="delivered", sent_at=now, delivered_at=now)
    Message.objects.filter(pk=ids[1]).update(status="read", read_at=now)
    Message.objects.filter(pk=ids[2]).update(
        status="failed", sent_at=now, failed_at=now, error_code="=cmd|' /C calc'!A0", error_message="rejected"
    )
    Message.objects.filter(pk=ids[3]).update(status="sent", sent_at=now)
    return broadcast


def test_detail_figures_equal_the_api(login, shop, sent):
    api = shop.api.get(f"/api/v1/broadcasts/{sent.pk}/").json()
    response = login(R.VIEWER, shop.client).get(f"/broadcasts/{sent.pk}/")
    assert response.status_code == 200
    stats = response.context["stats"]
    shown = {"queued": 1, "sent": 4, "delivered": 2, "read": 1, "failed": 1, "clicks": 0, "unique_clicks": 0}
    assert {key: api["stats"].get(key, getattr(stats, key)) for key in shown} == shown
    assert {key: getattr(stats, key) for key in shown} == shown
    funnel = {step["label"]: (step["count"], step["rate"]) for step in response.context["funnel"]}
    assert funnel == {"Sent": (4, 1.0), "Delivered": (2, 0.5), "Read": (1, 0.25), "Clicked": (0, 0.0)}
    body = response.content.decode()
    assert 'data-testid="funnel-delivered">2<' in body
    assert "50.0%" in body
    assert response.context["broadcast"].total_recipients == api["total_recipients"]


def test_list_and_overview_agree_with_the_api_dashboard(login, shop, sent):
    api = shop.api.get("/api/v1/broadcasts/dashboard/").json()
    web = login(R.VIEWER, shop.client)
    overview = web.get("/")
    assert overview.context["totals"]["sent"] == api["totals"]["sent"]
    assert overview.context["totals"]["delivered"] == api["totals"]["delivered"]
    listed = web.get("/broadcasts/").context["items"][0]
    assert listed["stats"].sent == api["results"][0]["sent"]
    assert listed["rate"] == api["results"][0]["delivery_rate"]


def test_progress_polls_while_the_broadcast_runs(login, shop, sent):
    web = login(R.VIEWER, shop.client)
    fragment = web.get(f"/broadcasts/{sent.pk}/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 3s"' in fragment
    assert "<html" not in fragment
    sent.status = "sent"
    sent.save(update_fields=["status"])
    assert "hx-trigger" not in web.get(f"/broadcasts/{sent.pk}/progress/").content.decode()


def test_detail_lists_failed_messages_with_reasons_and_a_chart(login, shop, sent):
    response = login(R.VIEWER, shop.client).get(f"/broadcasts/{sent.pk}/")
    reasons = response.context["reasons"]
    assert [(r.status, r.count, r.example) for r in reasons] == [("failed", 1, "rejected")]
    assert response.context["chart"].peak == 4
    assert b'<svg class="chart"' in response.content
    assert b"Links were not tracked for this broadcast" in response.content


def test_test_send_asks_then_sends(login, shop, sent):
    web = login(R.MANAGER, shop.client)
    assert b"Send the test" in web.get(f"/broadcasts/{sent.pk}/test/").content
    response = web.post(f"/broadcasts/{sent.pk}/test/", {"recipients": "+256772000009"})
    assert response.status_code == 302
    assert Message.objects.filter(broadcast=sent, is_test=True).count() == 1


def test_a_refused_action_is_a_message_not_a_500(login, shop, sent):
    web = login(R.MANAGER, shop.client)
    response = web.post(f"/broadcasts/{sent.pk}/resume/", follow=True)
    assert response.status_code == 200
    assert "error" in [m.tags for m in response.context["messages"]]


def test_message_log_filters(login, shop, sent):
    web = login(R.VIEWER, shop.client)
    rows = web.get("/messages/", {"broadcast": str(sent.pk), "status": "failed"}).context["rows"]
    assert [m.status for m in rows] == ["failed"]
    assert len(web.get("/messages/", {"phone": "+256772000001"}).context["rows"]) == 1


def test_message_log_offers_delivered_or_read(login, shop, sent):
    """A read message has status `read`: "Delivered" alone leaves it out, "Delivered or read" does not,
    in the log and in its CSV (the API's `status=delivered,read`)."""
    web = login(R.VIEWER, shop.client)
    page = web.get("/messages/")
    assert ("delivered,read", "Delivered or read") in page.context["statuses"]
    assert '<option value="delivered,read">Delivered or read</option>' in page.content.decode()
    assert sorted(m.status for m in web.get("/messages/", {"status": "delivered"}).context["rows"]) == ["delivered"]
    chosen = web.get("/messages/", {"status": "delivered,read"})
    assert sorted(m.status for m in chosen.context["rows"]) == ["delivered", "read"]
    assert '<option value="delivered,read" selected>' in chosen.content.decode()
    export = web.get("/messages/export.csv", {"status": "delivered,read"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(row[3] for row in rows[1:]) == ["delivered", "read"]
    assert len(web.get("/messages/", {"status": "lost,read"}).context["rows"]) == 1  # unknown ones ignored


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("=1+1", "'=1+1"), ("+256772000001", "'+256772000001"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("ok", "ok")],
)
def test_formula_cells_are_neutralised(cell, expected):
    assert neutralize(cell) == expected


def test_csv_export_streams_and_neutralises(login, shop, sent):
    response = login(R.VIEWER, shop.client).get("/messages/export.csv", {"broadcast": str(sent.pk)})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "broadcast_id", "urn", "status"]
    assert len(rows) == 1 + len(PHONES)
    failed = next(row for row in rows[1:] if row[3] == "failed")
    assert failed[4] == "'=cmd|' /C calc'!A0"
    assert all(not row[2].startswith(("=", "+", "-", "@")) for row in rows[1:])


def test_csv_export_reads_in_chunks(login, shop, sent, monkeypatch):
    """The rows come from a server-side cursor in chunks, never a list of the whole log."""
    from django.db.models.query import QuerySet

    seen = {}
    original = QuerySet.iterator

    def spy(self, chunk_size=None):
        seen["chunk_size"] = chunk_size
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", spy)
    response = login(R.VIEWER, shop.client).get("/messages/export.csv")
    lines = list(response.streaming_content)
    assert seen == {"chunk_size": 2000}
    assert len(lines) == 1 + len(PHONES)


def test_csv_lines_is_lazy_for_a_million_rows():
    def rows():
        for i in range(1_000_000):
            yield (i, "=x")

    lines = csv_lines(["id", "v"], rows())
    assert next(lines) == "id,v\r\n"
    assert next(lines) == "0,'=x\r\n"
