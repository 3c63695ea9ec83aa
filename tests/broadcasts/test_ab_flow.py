"""A/B tests (SPEC §8 "Campaigns"): the split, the rest waiting, the decision, its refund, its event,
and the breakdown by variant in the detail and the precheck."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broadcasts.ab_planning import VariantSplit
from broadcasts.connectors import StatusUpdate
from broadcasts.dispatch import dispatch_run
from broadcasts.models import Broadcast, Message, Reply
from broadcasts.services.ab_test import ab_decide_due
from broadcasts.status_updates import messages_apply_status
from tests.openapi import assert_matches_schema
from wallets.models import LedgerEntry
from webhooks.models import WebhookEvent as Event
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

SHORT = "Hi, sale today"  # GSM, one part
LONG = "Hi " + "x" * 200  # GSM, two parts
UNICODE = "Hi 😀 sale"  # UCS-2, one part


def phones(count: int, start: int = 0) -> list[str]:
    return [f"+2567720{start + n:05d}" for n in range(count)]


def run(broadcast: Broadcast, rounds: int = 20) -> Broadcast:
    """Dispatch what is due, as the dispatcher's continuations would (the rest of an undecided test
    waits: the loop stops when nothing more goes)."""
    token = Broadcast.objects.get(pk=broadcast.pk).dispatch_token or None
    for _ in range(rounds):
        before = Message.objects.filter(broadcast=broadcast, sent_at__isnull=False).count()
        continuation = dispatch_run(broadcast_id=str(broadcast.pk), token=token)
        if continuation is None:
            break
        token = continuation[0]
        if Message.objects.filter(broadcast=broadcast, sent_at__isnull=False).count() == before:
            break
    broadcast.refresh_from_db()
    return broadcast


def ab_body(**extra):
    return {
        "recipients": phones(100),
        "variants": [{"text": SHORT, "share": 10}, {"text": LONG, "share": 10}],
        "ab_test": {"metric": "delivered", "decide_after": "PT2H"},
        **extra,
    }


def create_ab(shop, **extra) -> Broadcast:
    body = ab_body(**extra)
    response = shop.api.post("/api/v1/broadcasts/", {"name": "Promo", **body}, format="json")
    assert response.status_code == 201, response.content
    return shop.broadcast(response)


def test_samples_get_their_share_and_the_rest_waits_for_the_decision(shop, daytime, recorder):
    broadcast = create_ab(shop)
    messages = Message.objects.filter(broadcast=broadcast)
    assert messages.filter(variant=0).count() == 10
    assert messages.filter(variant=1).count() == 10
    rest = messages.filter(variant__isnull=True)
    assert rest.count() == 80
    assert set(rest.values_list("status", "wait_reason").distinct()) == {("pending", "ab_test")}
    assert broadcast.ab_status == "testing"
    assert abs(broadcast.ab_decide_at - broadcast.created_at - timedelta(hours=2)) < timedelta(seconds=2)
    assert set(rest.values_list("not_before", flat=True)) == {broadcast.ab_decide_at}
    # Samples carry their variant's text; the rest is priced at the costliest (two parts).
    assert set(messages.filter(variant=0).values_list("text", "segments").distinct()) == {(SHORT, 1)}
    assert set(messages.filter(variant=1).values_list("text", "segments").distinct()) == {(LONG, 2)}
    assert set(rest.values_list("segments", flat=True)) == {2}
    assert broadcast.total_segments == 10 + 20 + 160
    broadcast = run(broadcast)
    assert messages.filter(sent_at__isnull=False).count() == 20
    assert not rest.filter(sent_at__isnull=False).exists()  # no claim takes the rest
    assert broadcast.status == "sending"  # not complete while the rest waits


def test_the_split_is_seeded_by_the_broadcast_id(shop, daytime):
    first, second = create_ab(shop), create_ab(shop)

    def sample(broadcast: Broadcast) -> set[str]:
        return set(Message.objects.filter(broadcast=broadcast, variant=0).values_list("urn", flat=True))

    assert sample(first) != sample(second)  # another broadcast, another random sample
    # The same seed splits the same audience the same way (each chunk of a background preparation).
    from broadcasts.audience import Target

    targets = [Target(urn=f"tel:{phone}", address=phone) for phone in phones(100)]
    again = VariantSplit(spec=_spec(), versions=[{}, {}], seed=str(first.pk)).assign(targets, True)[0]
    assert {t.urn for t in again[0]} == sample(first)


def _spec():
    from broadcasts.ab_fields import ab_of

    spec, problems = ab_of(ab_body(), mode="now", text_limit=1224)
    assert problems == []
    return spec


def test_shares_are_exact_to_one_recipient_over_chunks():
    from broadcasts.audience import Target

    split = VariantSplit(spec=_spec(), versions=[{}, {}], seed="s")
    counts = [0, 0, 0]
    for chunk in range(7):
        targets = [Target(urn=f"tel:+2567{chunk:02d}{n:04d}", address="") for n in range(33)]
        samples, rest = split.assign(targets, True)
        counts[0] += len(samples[0])
        counts[1] += len(samples[1])
        counts[2] += len(rest)
    assert counts == [23, 23, 231 - 46]  # 10 % of 231 each, to within one


def deliver(broadcast: Broadcast, variant: int | None, count: int) -> None:
    messages = Message.objects.filter(broadcast=broadcast, variant=variant, sent_at__isnull=False)[:count]
    messages_apply_status(
        connector_name="recorder", updates=[StatusUpdate(m.provider_message_id, "delivered") for m in messages]
    )


def decide_at(broadcast: Broadcast) -> int:
    with time_machine.travel(broadcast.ab_decide_at + timedelta(seconds=1), tick=False):
        return ab_decide_due()


def test_the_highest_rate_wins_the_rest_gets_it_and_the_difference_is_refunded(shop, daytime, recorder, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["broadcast.variant_won"])
    broadcast = run(create_ab(shop))
    deliver(broadcast, 0, 3)
    deliver(broadcast, 1, 7)
    available_before = shop.refresh().available
    assert decide_at(broadcast) == 1
    broadcast.refresh_from_db()
    assert (broadcast.ab_status, broadcast.ab_winner) == ("decided", 1)
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True)
    assert set(rest.values_list("text", "status", "wait_reason").distinct()) == {(LONG, "queued", "")}
    assert shop.refresh().available == available_before  # the winner costs what was reserved
    event = Event.objects.get(type="broadcast.variant_won")
    assert event.data["winner"] == 1
    assert event.data["metric"] == "delivered"
    assert [(v["variant"], v["sent"], v["delivered"], v["rate"]) for v in event.data["variants"]] == [
        (0, 10, 3, 0.3),
        (1, 10, 7, 0.7),
    ]
    broadcast = run(broadcast)
    assert rest.filter(sent_at__isnull=False).count() == 80
    assert broadcast.status == "sent"


def test_a_cheaper_winner_gives_back_the_difference_through_the_ledger(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    deliver(broadcast, 0, 5)  # the short text (one part) wins
    reserved_rest = sum(
        Message.objects.filter(broadcast=broadcast, variant__isnull=True).values_list("cost", flat=True)
    )
    available_before = shop.refresh().available
    decide_at(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.ab_winner == 0
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True)
    assert set(rest.values_list("text", "segments").distinct()) == {(SHORT, 1)}
    new_cost = sum(rest.values_list("cost", flat=True))
    assert new_cost == reserved_rest / 2
    assert shop.refresh().available == available_before + reserved_rest - new_cost
    entry = LedgerEntry.objects.filter(note="A/B test decided").get()
    assert entry.amount == reserved_rest - new_cost
    run(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == "sent"


def test_ties_go_to_the_first_variant(shop, daytime, recorder):
    broadcast = run(create_ab(shop, variants=[{"text": LONG, "share": 10}, {"text": SHORT, "share": 10}]))
    deliver(broadcast, 0, 4)
    deliver(broadcast, 1, 4)
    decide_at(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.ab_winner == 0


def test_no_result_at_all_sends_the_first(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    decide_at(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.ab_winner == 0


@pytest.mark.parametrize(
    ("metric", "extra", "winner"),
    [("clicks", {"track_links": True}, 1), ("replies", {"with_replies": True}, 0)],
)
def test_clicks_and_replies_count_recipients(shop, daytime, recorder, metric, extra, winner):
    broadcast = run(create_ab(shop, ab_test={"metric": metric, "decide_after": "PT1H"}, **extra))
    sample = {index: list(Message.objects.filter(broadcast=broadcast, variant=index)) for index in (0, 1)}
    Message.objects.filter(pk__in=[m.pk for m in sample[1][:2]]).update(clicked=True)
    for message in sample[0][:3]:
        Reply.objects.create(
            client=shop.client, urn=message.urn, channel="sms", text="yes", broadcast=broadcast,
            received_at=timezone.now(),
        )  # fmt: skip
    decide_at(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.ab_winner == winner


def test_a_test_is_decided_once_however_often_beat_runs(shop, daytime, recorder, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["*"])
    broadcast = run(create_ab(shop))  # no result: the first (cheaper) variant wins, a refund is due
    assert decide_at(broadcast) == 1
    assert decide_at(broadcast) == 0
    assert LedgerEntry.objects.filter(note="A/B test decided").count() == 1
    assert Event.objects.filter(type="broadcast.variant_won").count() == 1


def test_nothing_is_decided_before_its_time_nor_while_paused(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    assert ab_decide_due() == 0
    response = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/pause/")
    assert response.status_code == 200, response.content
    assert decide_at(broadcast) == 0
    response = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/resume/")
    assert response.status_code == 200, response.content
    broadcast.refresh_from_db()
    assert decide_at(broadcast) == 1


def test_cancel_during_the_test_cancels_the_rest_and_releases_its_credit(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    response = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/cancel/")
    assert response.status_code == 200, response.content
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True)
    assert set(rest.values_list("status", flat=True)) == {"cancelled"}
    assert decide_at(broadcast) == 0
    assert shop.refresh().reserved == 0


def test_shares_summing_to_100_split_the_audience_with_no_decision(shop, daytime, recorder):
    body = {"variants": [{"text": SHORT, "share": 60}, {"text": LONG, "share": 40}]}
    response = shop.api.post("/api/v1/broadcasts/", {"name": "Split", "recipients": phones(50), **body}, format="json")
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    assert broadcast.ab_status == "split"
    assert broadcast.ab_decide_at is None
    counts = {v: Message.objects.filter(broadcast=broadcast, variant=v).count() for v in (0, 1, None)}
    assert counts == {0: 30, 1: 20, None: 0}
    broadcast = run(broadcast)
    assert broadcast.status == "sent"
    assert response.json()["ab_test"] is None


def test_detail_breaks_down_by_variant(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    deliver(broadcast, 1, 2)
    body = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
    assert body["variants"] == [{"text": SHORT, "share": 10}, {"text": LONG, "share": 10}]
    assert body["ab_test"] == {"metric": "delivered", "decide_after": "PT2H"}
    assert body["ab_status"] == "testing"
    assert body["ab_winner"] is None
    stats = body["variant_stats"]
    assert [(s["variant"], s["recipients"], s["sent"], s["delivered"], s["rate"]) for s in stats] == [
        (0, 10, 10, 0, 0.0),
        (1, 10, 10, 2, 0.2),
        (None, 80, 0, 0, 0.0),
    ]
    assert Decimal(stats[1]["cost"]) == 2 * Decimal(stats[0]["cost"])


def test_precheck_prices_each_sample_at_its_variant_and_the_rest_at_the_costliest(shop, daytime):
    response = shop.api.post(
        "/api/v1/broadcasts/precheck/",
        {"name": "Promo", **ab_body(variants=[{"text": SHORT, "share": 10}, {"text": UNICODE, "share": 20}])},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(v["variant"], v["recipients"], v["segments"]) for v in body["variants"]] == [(0, 10, 10), (1, 20, 20)]
    assert body["rest"]["recipients"] == 70
    assert body["total_contacts"] == 100
    per_part = Decimal(body["variants"][0]["cost"]) / 10
    assert Decimal(body["total_cost"]) == per_part * 100
    assert body["ab_test"] == {"metric": "delivered", "decide_after": "PT2H"}
    # The create reserves what the precheck showed.
    broadcast = create_ab(shop, variants=[{"text": SHORT, "share": 10}, {"text": UNICODE, "share": 20}])
    assert broadcast.estimated_cost == Decimal(body["total_cost"])


def test_the_decision_renders_personalised_winners(shop, daytime, recorder):
    people = [{"phone": p, "name": f"N{i}"} for i, p in enumerate(phones(20))]
    variants = [{"text": "Hello {{name}}", "share": 10}, {"text": "Bye {{name}} " + "y" * 160, "share": 10}]
    response = shop.api.post(
        "/api/v1/broadcasts/",
        {"name": "P", "recipient_variables": people, "variants": variants,
         "ab_test": {"metric": "delivered", "decide_after": "PT1M"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    broadcast = run(shop.broadcast(response))
    deliver(broadcast, 0, 1)
    decide_at(broadcast)
    texts = dict(Message.objects.filter(broadcast=broadcast).exclude(variant=1).values_list("urn", "text"))
    assert len(texts) == 18
    assert texts == {f"tel:{phone}": f"Hello N{i}" for i, phone in enumerate(phones(20)) if f"tel:{phone}" in texts}


def test_the_decision_query_count_does_not_grow_with_the_rest(shop, daytime, recorder):
    def queries_to_decide(count: int) -> int:
        broadcast = run(create_ab(shop, recipients=phones(count, start=count)))
        with (
            CaptureQueriesContext(connection) as queries,
            time_machine.travel(broadcast.ab_decide_at + timedelta(seconds=1), tick=False),
        ):
            assert ab_decide_due() == 1
        return len(queries)

    small, large = queries_to_decide(50), queries_to_decide(500)
    assert small == large
    assert large < 60


@pytest.mark.django_db(transaction=True)
def test_two_beats_deciding_at_once_decide_each_test_once(shop, recorder):
    tests = [run(create_ab(shop)) for _ in range(3)]
    later = max(b.ab_decide_at for b in tests) + timedelta(seconds=1)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def decide() -> None:
        try:
            barrier.wait()
            results.append(ab_decide_due(now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 3
    assert LedgerEntry.objects.filter(note="A/B test decided").count() == 3
    assert set(Broadcast.objects.values_list("ab_status", flat=True)) == {"decided"}


def test_the_rest_says_it_waits_for_the_test_even_past_its_time(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    with time_machine.travel(broadcast.ab_decide_at + timedelta(minutes=5), tick=False):
        body = shop.api.get(f"/api/v1/messages/?broadcast={broadcast.pk}&status=pending&limit=1").json()
        # Past its time and not decided yet (beat late): no claim takes it.
        Broadcast.objects.filter(pk=broadcast.pk).update(dispatch_lease_until=None)
        run(broadcast)
        assert not Message.objects.filter(broadcast=broadcast, variant__isnull=True, sent_at__isnull=False).exists()
    [message] = body["results"]
    assert message["wait_reason"] == "ab_test"
    assert message["not_before"] == broadcast.ab_decide_at.isoformat().replace("+00:00", "Z")


def test_the_detail_and_the_precheck_match_the_openapi_schema(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    detail = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/")
    assert_matches_schema(detail, "get", "/api/v1/broadcasts/{id}/")
    precheck = shop.api.post("/api/v1/broadcasts/precheck/", {"name": "P", **ab_body()}, format="json")
    assert_matches_schema(precheck, "post", "/api/v1/broadcasts/precheck/")
    listed = shop.api.get("/api/v1/broadcasts/")
    assert_matches_schema(listed, "get", "/api/v1/broadcasts/")


def test_tracked_links_count_only_the_recipients_who_get_them(shop, daytime, recorder):
    from tracking.models import LinkCode, TrackedLink

    variants = [{"text": "A https://shop.example/a", "share": 10}, {"text": "B https://shop.example/b", "share": 10}]
    broadcast = run(create_ab(shop, variants=variants, track_links=True,
                              ab_test={"metric": "clicks", "decide_after": "PT1H"}))  # fmt: skip
    links = dict(TrackedLink.objects.filter(broadcast_id=broadcast.pk).values_list("url", "recipients"))
    assert links == {"https://shop.example/a": 10, "https://shop.example/b": 10}  # the rest has none yet
    Message.objects.filter(broadcast=broadcast, variant=1).filter(pk__in=Message.objects.filter(
        broadcast=broadcast, variant=1).values("pk")[:3]).update(clicked=True)  # fmt: skip
    decide_at(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.ab_winner == 1
    links = dict(TrackedLink.objects.filter(broadcast_id=broadcast.pk).values_list("url", "recipients"))
    assert links == {"https://shop.example/a": 10, "https://shop.example/b": 90}
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True)
    codes = dict(LinkCode.objects.filter(message_id__in=rest.values("pk")).values_list("message_id", "code"))
    assert len(codes) == 80
    assert all(message.text == f"B {settings_base()}/r/{codes[message.pk]}" for message in rest)


def settings_base() -> str:
    from django.conf import settings

    return settings.TRACKING_BASE_URL.rstrip("/")


def test_the_dashboard_endpoint_breaks_down_by_variant(shop, daytime, recorder):
    broadcast = run(create_ab(shop))
    shop.api.post("/api/v1/broadcasts/", {"name": "Plain", "recipients": phones(2), "text": "Hi"}, format="json")
    response = shop.api.get("/api/v1/broadcasts/dashboard/")
    assert_matches_schema(response, "get", "/api/v1/broadcasts/dashboard/")
    rows = {row["name"]: row for row in response.json()["results"]}
    assert rows["Plain"]["variants"] == []
    assert [(v["variant"], v["recipients"], v["sent"]) for v in rows["Promo"]["variants"]] == [
        (0, 10, 10),
        (1, 10, 10),
        (None, 80, 0),
    ]
    assert rows["Promo"]["id"] == str(broadcast.pk)


def test_samples_held_by_quiet_hours_push_the_decision_back(shop):
    from datetime import UTC, datetime

    night = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # Tuesday 23:30 in Paris: quiet until 08:00
    french = [f"+336123456{n:02d}" for n in range(20)]
    variants = [{"text": "Promo A STOP", "share": 10}, {"text": "Promo B STOP", "share": 10}]
    with time_machine.travel(night, tick=False):
        broadcast = create_ab(shop, recipients=french, variants=variants)
    samples = Message.objects.filter(broadcast=broadcast, variant__isnull=False)
    window = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # Wednesday 08:00 in Paris
    assert set(samples.values_list("not_before", "wait_reason")) == {(window, "quiet_hours")}
    assert broadcast.ab_decide_at == window + timedelta(hours=2)  # not 00:30: the samples' own 2 hours
    rest = Message.objects.filter(broadcast=broadcast, variant__isnull=True)
    assert set(rest.values_list("not_before", flat=True)) == {window + timedelta(hours=2)}


def test_the_rest_is_priced_per_recipient_at_their_own_costliest_variant(shop, daytime):
    people = [{"phone": phone, "bio": ("b" * 320 if n % 2 else "short")} for n, phone in enumerate(phones(40))]
    variants = [{"text": "{{bio}}", "share": 5}, {"text": "c" * 170, "share": 5}]  # 3 or 1 parts; 2 parts
    response = shop.api.post(
        "/api/v1/broadcasts/",
        {"name": "P", "recipient_variables": people, "variants": variants,
         "ab_test": {"metric": "delivered", "decide_after": "PT1H"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    rest = Message.objects.filter(broadcast_id=response.json()["id"], variant__isnull=True)
    by_urn = {urn: (text, segments) for urn, text, segments in rest.values_list("urn", "text", "segments")}
    for n, phone in enumerate(phones(40)):
        if f"tel:{phone}" in by_urn:  # a long bio: its own text is dearer; a short one: the fixed text
            assert by_urn[f"tel:{phone}"] == (("b" * 320, 3) if n % 2 else ("c" * 170, 2))
    assert {segments for _text, segments in by_urn.values()} == {2, 3}
