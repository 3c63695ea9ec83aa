"""Compose's "A/B test" mode (SPEC §8 "Campaigns", issue 22's "Dashboard"): 2–5 texts with shares, what
wins and when, in plain words, read into the create body the API takes and created by the same
service; a bad input shown with nothing created; the review's texts with their cost; the detail
page's results and winner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.http import QueryDict

from accounts.models import Membership
from broadcasts.models import Broadcast, Message
from broadcasts.services.ab_test import ab_decide_due
from dashboard.compose_ab import describe_ab
from dashboard.compose_form import body_from, form_from
from tests.broadcasts.conftest import KE, UG
from tests.factories.accounts import ClientFactory

R = Membership.Role
TUESDAY = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PHONES = [f"+2567720{n:05d}" for n in range(40)]


def ab_form(**fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "Promo test",
        "channel": "sms",
        "content_mode": "ab",
        "ab_text": ["Offer A", "Offer B " + "b" * 160, "", "", ""],
        "ab_share": ["10", "10", "", "", ""],
        "ab_metric": "delivered",
        "ab_after": "4",
        "ab_after_unit": "hours",
        "purpose": "marketing",
        "recipients": "\n".join(PHONES),
        "schedule_mode": "now",
    }
    form.update(fields)
    return form


def query(data: dict[str, Any]) -> QueryDict:
    form = QueryDict(mutable=True)
    for key, value in data.items():
        form.setlist(key, value if isinstance(value, list) else [value])
    return form


@pytest.mark.parametrize(
    ("fields", "variants", "ab_test"),
    [
        ({}, [{"text": "Offer A", "share": "10"}, {"text": "Offer B " + "b" * 160, "share": "10"}],
         {"metric": "delivered", "decide_after": "PT4H"}),
        ({"ab_after": "2", "ab_after_unit": "days", "ab_metric": "clicks"},
         [{"text": "Offer A", "share": "10"}, {"text": "Offer B " + "b" * 160, "share": "10"}],
         {"metric": "clicks", "decide_after": "P2D"}),
        ({"ab_share": ["50", "50", "", "", ""]}, [{"text": "Offer A", "share": "50"},
         {"text": "Offer B " + "b" * 160, "share": "50"}], None),
        ({"ab_text": ["A", "B", "C", "", ""], "ab_share": ["5", "5", "5", "", ""], "ab_after": "30",
          "ab_after_unit": "minutes"}, [{"text": t, "share": "5"} for t in "ABC"],
         {"metric": "delivered", "decide_after": "PT30M"}),
    ],
)  # fmt: skip
def test_the_ab_fields_become_the_apis_variants_and_back(fields, variants, ab_test):
    body = body_from(query(ab_form(**fields)), ClientFactory.build(), ZoneInfo("UTC"))
    assert body["variants"] == variants
    assert body.get("ab_test") == ab_test
    assert "text" not in body
    assert "template" not in body
    form = form_from(body, ZoneInfo("UTC"))
    assert form["content_mode"] == "ab"
    assert form.getlist("ab_text") == [v["text"] for v in variants]
    if ab_test:
        again = body_from(form, ClientFactory.build(), ZoneInfo("UTC"))
        assert again["ab_test"] == ab_test


@pytest.mark.parametrize(
    ("variants", "ab_test", "words"),
    [
        ([{"text": "a", "share": 10}, {"text": "b", "share": 10}], {"metric": "clicks", "decide_after": "PT4H"},
         "2 texts, each to its share of the recipients (A 10 %, B 10 %); after 4 hours, the one with the most "
         "clicks goes to the other 80 % (a tie: the first)"),
        ([{"text": "a", "share": 12.5}, {"text": "b", "share": 12.5}, {"text": "c", "share": 25}],
         {"metric": "delivered", "decide_after": "P1D"},
         "3 texts, each to its share of the recipients (A 12.5 %, B 12.5 %, C 25 %); after 1 day, the one with the "
         "most deliveries goes to the other 50 % (a tie: the first)"),
        ([{"text": "a", "share": 60}, {"text": "b", "share": 40}], None,
         "2 texts, each to its share of the recipients (A 60 %, B 40 %); every text stands alone (the shares add "
         "up to 100 %)"),
    ],
)  # fmt: skip
def test_a_test_in_words(variants, ab_test, words):
    assert describe_ab(variants, ab_test) == words


@pytest.mark.django_db
def test_an_ab_test_is_reviewed_with_each_texts_cost_and_created_by_the_service(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        page = web.get("/broadcasts/new/").content.decode()
        assert 'data-testid="mode-ab"' in page
        assert page.count('name="ab_text"') == 5
        review = web.post("/broadcasts/new/", {**ab_form(), "step": "review"})
        assert review.status_code == 200, review.content.decode()[:2000]
        html = review.content.decode()
        assert "2 texts, each to its share of the recipients (A 10 %, B 10 %); after 4 hours, the one with the " \
               "most deliveries goes to the other 80 % (a tie: the first)" in html  # fmt: skip
        assert 'data-testid="ab-review"' in html
        assert "Everyone else (the winner)" in html
        sent = web.post("/broadcasts/new/", {**ab_form(), "step": "send"})
        assert sent.status_code == 302, sent.content.decode()[:2000]
    broadcast = Broadcast.objects.get()
    assert broadcast.variants == [{"text": "Offer A", "share": 10}, {"text": "Offer B " + "b" * 160, "share": 10}]
    assert broadcast.ab_test == {"metric": "delivered", "decide_after": "PT4H"}
    assert Message.objects.filter(broadcast=broadcast, variant=0).count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"ab_share": ["70", "40", "", "", ""]}, "The shares add up to 110%; at most 100."),
        ({"ab_metric": "clicks"}, "The clicks metric needs track_links: true."),
        ({"ab_text": ["Only one", "", "", "", ""], "ab_share": ["10", "", "", "", ""]}, "Give 2 to 5 variants."),
    ],
)
def test_a_bad_test_is_shown_and_creates_nothing(login, shop, fields, said):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        for step in ("review", "send"):
            response = web.post("/broadcasts/new/", {**ab_form(**fields), "step": step})
            assert response.status_code == 400
            assert said in response.content.decode()
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_the_detail_page_shows_each_texts_results_then_the_winner(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        assert web.post("/broadcasts/new/", {**ab_form(), "step": "send"}).status_code == 302
        broadcast = Broadcast.objects.get()
        page = web.get(f"/broadcasts/{broadcast.pk}/").content.decode()
        assert 'data-testid="ab-results"' in page
        assert "Testing: decided" in page
        assert "Everyone else (waiting for the winner)" in page
    with time_machine.travel(broadcast.ab_decide_at + timedelta(seconds=1), tick=False):
        assert ab_decide_due() == 1
        page = web.get(f"/broadcasts/{broadcast.pk}/").content.decode()
    assert "Text <strong>A</strong> won (the most deliveries) and went to everyone else." in page
    assert "(winner)" in page
    assert "Everyone else (text A)" in page


@pytest.mark.django_db
def test_a_copy_of_an_ab_broadcast_opens_in_ab_mode(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        assert web.post("/broadcasts/new/", {**ab_form(recipients=f"{UG}\n{KE}"), "step": "send"}).status_code == 302
        broadcast = Broadcast.objects.get()
        page = web.get(f"/broadcasts/{broadcast.pk}/duplicate/").content.decode()
    assert 'value="ab" checked' in page
    assert "Offer A</textarea>" in page


@pytest.mark.django_db
def test_the_edit_of_a_scheduled_test_changes_its_texts(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        form = ab_form(schedule_mode="scheduled", scheduled_at="2026-11-25T10:00")
        assert web.post("/broadcasts/new/", {**form, "step": "send"}).status_code == 302
        broadcast = Broadcast.objects.get()
        page = web.get(f"/broadcasts/{broadcast.pk}/edit/").content.decode()
        assert 'value="ab" checked' in page
        edited = {**form, "edit_of": str(broadcast.pk), "ab_text": ["Offer A", "Offer C", "", "", ""]}
        assert web.post("/broadcasts/new/", {**edited, "step": "send"}).status_code == 302
    broadcast.refresh_from_db()
    assert [v["text"] for v in broadcast.variants] == ["Offer A", "Offer C"]
    assert broadcast.ab_test == {"metric": "delivered", "decide_after": "PT4H"}
    assert set(Message.objects.filter(broadcast=broadcast, variant=1).values_list("text", flat=True)) == {"Offer C"}
