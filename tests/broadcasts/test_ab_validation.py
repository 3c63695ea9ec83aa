"""A/B tests' bad input (SPEC §8 "Campaigns"): each a 400 in SPEC §4's shape naming the field, with
nothing created, reserved or charged; and what is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from broadcasts.ab_fields import ab_of, duration_iso
from broadcasts.models import Broadcast, Message
from tests.factories.templates_app import TemplateFactory
from tests.helpers import assert_error
from tests.openapi import assert_matches_schema
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db

A = {"text": "Offer A", "share": 10}
B = {"text": "Offer B", "share": 10}
TEST = {"metric": "delivered", "decide_after": "PT4H"}


def body(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "AB", "recipients": ["+256772000001", "+256772000002"]}
    data.update({"variants": [A, B], "ab_test": TEST})
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("one variant", body(variants=[A]), "variants", "invalid_count"),
    ("six variants", body(variants=[A, B, A, B, A, B]), "variants", "invalid_count"),
    ("not a list", body(variants={"text": "x"}), "variants", "invalid_count"),
    ("shares over 100", body(variants=[{**A, "share": 60}, {**B, "share": 50}]), "variants", "shares_over_100"),
    ("share zero", body(variants=[{**A, "share": 0}, B]), "variants.0.share", "out_of_range"),
    ("share negative", body(variants=[A, {**B, "share": -5}]), "variants.1.share", "out_of_range"),
    ("share three decimals", body(variants=[{**A, "share": 10.125}, B]), "variants.0.share", "invalid"),
    ("share a word", body(variants=[{**A, "share": "lots"}, B]), "variants.0.share", "invalid"),
    ("share boolean", body(variants=[{**A, "share": True}, B]), "variants.0.share", "invalid"),
    ("share missing", body(variants=[{"text": "x"}, B]), "variants.0.share", "required"),
    ("text and template", body(variants=[{**A, "template": "t"}, B]), "variants.0", "template_or_text"),
    ("neither", body(variants=[{"share": 10}, B]), "variants.0", "template_or_text"),
    ("blank text", body(variants=[A, {"text": "  ", "share": 10}]), "variants.1.text", "invalid"),
    ("text too long", body(variants=[A, {"text": "x" * 1225, "share": 10}]), "variants.1.text", "text_too_long"),
    ("unknown key", body(variants=[{**A, "weight": 1}, B]), "variants.0.weight", "unknown_field"),
    ("not an object", body(variants=["Offer A", B]), "variants.0", "invalid"),
    ("top-level text", body(text="Hello"), "text", "variants_exclusive"),
    ("top-level template", body(template="promo"), "template", "variants_exclusive"),
    ("ab_test missing under 100", body(ab_test=None), "ab_test", "required"),
    ("ab_test at 100", body(variants=[{**A, "share": 50}, {**B, "share": 50}]), "ab_test", "unexpected"),
    ("ab_test without variants", {"name": "x", "recipients": ["+256772000001"], "text": "hi", "ab_test": TEST},
     "ab_test", "unexpected"),
    ("ab_test not an object", body(ab_test="clicks"), "ab_test", "invalid"),
    ("unknown metric", body(ab_test={**TEST, "metric": "opens"}), "ab_test.metric", "invalid_choice"),
    ("clicks without track_links", body(ab_test={**TEST, "metric": "clicks"}), "ab_test.metric",
     "track_links_required"),
    ("replies without with_replies", body(ab_test={**TEST, "metric": "replies"}), "ab_test.metric",
     "with_replies_required"),
    ("duration not ISO", body(ab_test={**TEST, "decide_after": "4 hours"}), "ab_test.decide_after",
     "invalid_duration"),
    ("duration Django's own form", body(ab_test={**TEST, "decide_after": "04:00:00"}), "ab_test.decide_after",
     "invalid_duration"),
    ("duration a number", body(ab_test={**TEST, "decide_after": 3600}), "ab_test.decide_after", "invalid_duration"),
    ("duration in weeks", body(ab_test={**TEST, "decide_after": "P1W"}), "ab_test.decide_after", "invalid_duration"),
    ("duration too short", body(ab_test={**TEST, "decide_after": "PT30S"}), "ab_test.decide_after", "out_of_range"),
    ("duration negative", body(ab_test={**TEST, "decide_after": "-PT4H"}), "ab_test.decide_after",
     "invalid_duration"),
    ("duration too long", body(ab_test={**TEST, "decide_after": "P31D"}), "ab_test.decide_after", "out_of_range"),
    ("unknown ab_test key", body(ab_test={**TEST, "confidence": 0.95}), "ab_test.confidence", "unknown_field"),
    ("with drip", body(schedule_mode="drip", drip_rate=10), "variants", "mode"),
    ("with local time", body(schedule_mode="local_time", local_time={"date": "2030-01-01", "time": "10:00"}),
     "variants", "mode"),
    ("with a recurring series", body(schedule_mode="recurring", recurrence={"rule": "FREQ=DAILY",
     "start": "2030-01-01T10:00", "count": 3}), "variants", "mode"),
    ("a variant's unknown template", body(variants=[A, {"template": "nope", "share": 10}]), "variants.1.template",
     "template_not_found"),
    ("the first variant's unknown template", body(variants=[{"template": "nope", "share": 10}, B]),
     "variants.0.template", "template_not_found"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "data", "field", "code"), BAD, ids=[case[0] for case in BAD])
@pytest.mark.parametrize("path", ["/api/v1/broadcasts/", "/api/v1/broadcasts/precheck/"])
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_created(shop, case, data, field, code, path):
    entries = LedgerEntry.objects.count()
    response = shop.api.post(path, data, format="json")
    error = assert_error(response, 400, "invalid_request_error")
    assert field in error["fields"], error
    assert any(code in str(item) for item in [error["code"], *error["fields"][field]]) or error["code"] == code, error
    assert Broadcast.objects.count() == 0
    assert Message.objects.count() == 0
    assert LedgerEntry.objects.count() == entries


def test_the_error_code_of_a_single_problem_is_its_own(shop):
    error = assert_error(shop.api.post("/api/v1/broadcasts/", body(variants=[A]), format="json"), 400,
                         "invalid_request_error")  # fmt: skip
    assert error["fields"] == {"variants": ["Give 2 to 5 variants."]}


@pytest.mark.parametrize(
    ("variants", "ab_test"),
    [
        ([A, B], TEST),
        ([{**A, "share": 12.5}, {**B, "share": "7.25"}], TEST),
        ([A, B, A, B, A], {"metric": "delivered", "decide_after": "PT1M"}),
        ([{**A, "share": 50}, {**B, "share": 50}], None),
        ([{**A, "share": 99.99}, {**B, "share": 0.01}], None),
    ],
)
def test_good_variants_are_accepted(shop, daytime, variants, ab_test):
    response = shop.api.post("/api/v1/broadcasts/", body(variants=variants, ab_test=ab_test), format="json")
    assert response.status_code == 201, response.content
    assert_matches_schema(response, "post", "/api/v1/broadcasts/")


def test_template_variants_are_rendered_from_their_template(shop, daytime):
    TemplateFactory(client=shop.client, name="promo_b", content="Template B {{first_name|friend}}")
    variants = [{"text": "Plain A", "share": 50}, {"template": "promo_b", "share": 50}]
    response = shop.api.post("/api/v1/broadcasts/", body(variants=variants, ab_test=None), format="json")
    assert response.status_code == 201, response.content
    texts = set(Message.objects.values_list("variant", "text"))
    assert texts == {(0, "Plain A"), (1, "Template B friend")}


def test_a_draft_keeps_its_variants_and_sends_them_later(shop, daytime):
    response = shop.api.post("/api/v1/broadcasts/", body(status="draft"), format="json")
    assert response.status_code == 201, response.content
    draft = response.json()
    assert (draft["status"], draft["ab_status"], draft["ab_decide_at"]) == ("draft", None, None)
    assert draft["variants"] == [A, B]
    sent = shop.api.post(f"/api/v1/broadcasts/{draft['id']}/send/")
    assert sent.status_code == 200, sent.content
    assert sent.json()["ab_status"] == "testing"
    # Two recipients, 10 % each: both in the rest, waiting for the decision.
    assert list(Message.objects.values_list("variant", "wait_reason")) == [(None, "ab_test")] * 2


def test_simulate_shows_the_test_and_creates_nothing(shop, daytime):
    response = shop.api.post("/api/v1/broadcasts/", body(simulate=True), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["variants"] == [A, B]
    assert Broadcast.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "expected"), [("PT4H", "PT4H"), ("P1DT12H", "P1DT12H"), ("PT90M", "PT1H30M"), ("P2D", "P2D")]
)
def test_decide_after_is_kept_as_an_iso_duration(text, expected):
    spec, problems = ab_of({"variants": [A, B], "ab_test": {**TEST, "decide_after": text}}, mode="now",
                           text_limit=100)  # fmt: skip
    assert problems == []
    assert spec is not None
    assert spec.decide_after is not None
    assert duration_iso(spec.decide_after) == expected
