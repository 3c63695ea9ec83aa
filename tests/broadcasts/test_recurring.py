"""Recurring broadcasts (SPEC §8 "Campaigns"): a series that never sends itself, whose occurrences
are child broadcasts created once each by beat, on wall-clock times across DST."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from broadcasts.models import Broadcast, Message, Occurrence
from broadcasts.recurrence import Recurrence, parse_recurrence, wall_to_utc
from broadcasts.services import series_fire_due
from tests.broadcasts.conftest import FR, KE, UG
from tests.helpers import assert_error
from tests.openapi import assert_matches_schema
from wallets.services import wallet_topup
from webhooks.models import WebhookEvent
from webhooks.services import webhook_endpoint_create

BROADCASTS = "/api/v1/broadcasts/"
DETAIL = "/api/v1/broadcasts/{id}/"
NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
# A Monday morning in Kampala (UTC+3), outside every quiet-hour rule.
MONDAY = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def series_body(**recurrence: object) -> dict[str, object]:
    rule = {"rule": "FREQ=DAILY", "start": "2027-01-04T10:00", "timezone": "Africa/Kampala", "count": 5}
    rule.update(recurrence)
    return {
        "recipients": [UG, KE],
        "schedule_mode": "recurring",
        "recurrence": {k: v for k, v in rule.items() if v is not None},
    }


def make_series(shop, **recurrence: object) -> Broadcast:
    response = shop.create(**series_body(**recurrence))
    assert response.status_code == 201, response.content
    return shop.broadcast(response)


def fire_at(moment: datetime) -> int:
    with time_machine.travel(moment, tick=False):
        return series_fire_due()


def children(series: Broadcast) -> list[datetime]:
    return list(series.children.order_by("occurrence_at").values_list("occurrence_at", flat=True))


# --- create and its refusals ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_series_is_scheduled_with_its_next_run_and_sends_nothing_itself(shop):
    with time_machine.travel(MONDAY, tick=False):
        response = shop.create(**series_body())
        assert response.status_code == 201, response.content
        assert_matches_schema(response, "post", BROADCASTS)
        body = response.json()
        detail = shop.api.get(f"{BROADCASTS}{body['id']}/")
    assert_matches_schema(detail, "get", DETAIL)
    assert (body["status"], body["schedule_mode"], body["parent"], body["occurrence_at"]) == (
        "scheduled",
        "recurring",
        None,
        None,
    )
    assert body["next_run_at"] == "2027-01-04T07:00:00Z"  # 10:00 in Kampala
    assert body["recurrence"] == {
        "rule": "FREQ=DAILY",
        "start": "2027-01-04T10:00:00",
        "timezone": "Africa/Kampala",
        "count": 5,
        "until": None,
    }
    assert Message.objects.count() == 0
    assert shop.refresh().reserved == 0


@pytest.mark.django_db
def test_the_zone_defaults_to_the_clients_and_the_rule_is_normalized(shop):
    shop.client.timezone = "Europe/Paris"
    shop.client.save()
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop, rule="rrule:byday=mo,th;freq=weekly", timezone=None, count=None, until="2027-02-01")
    assert series.recurrence == {
        "rule": "FREQ=WEEKLY;BYDAY=MO,TH",
        "start": "2027-01-04T10:00:00",
        "timezone": "Europe/Paris",
        "count": None,
        "until": "2027-02-01T23:59:59",
    }
    assert series.next_run_at == utc(2027, 1, 4, 9, 0)


@pytest.mark.django_db
def test_a_start_in_the_past_begins_at_the_first_occurrence_a_minute_ahead(shop):
    with time_machine.travel(utc(2027, 1, 6, 7, 0, 30), tick=False):  # 10:00:30 in Kampala on the 6th
        series = make_series(shop)
    assert series.next_run_at == utc(2027, 1, 7, 7, 0)
    with time_machine.travel(utc(2027, 1, 6, 6, 59, 30), tick=False):  # 30 s before 10:00: too soon
        assert make_series(shop).next_run_at == utc(2027, 1, 7, 7, 0)
    with time_machine.travel(utc(2027, 1, 6, 6, 58, 59), tick=False):  # 61 s before: it is the first
        assert make_series(shop).next_run_at == utc(2027, 1, 6, 7, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("recurrence", "code"),
    [
        ({"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "never_fires"),
        ({"start": "2026-06-01T10:00"}, "never_fires"),  # all five before now
        ({"count": None, "until": "2026-12-01"}, "never_fires"),  # until before start
        ({"rule": "FREQ=MINUTELY;INTERVAL=10"}, "too_frequent"),
        ({"rule": "FREQ=HOURLY;BYMINUTE=0,10"}, "too_frequent"),
        ({"count": 1001}, "too_many_occurrences"),
        ({"count": None, "until": "2030-01-01"}, "too_many_occurrences"),  # daily for 3 years
        ({"count": None}, "too_many_occurrences"),  # no end: unbounded
        ({"timezone": "Mars/Olympus_Mons"}, "invalid_timezone"),
        ({"rule": "FREQ=SOMETIMES"}, "invalid_rule"),
        ({"rule": "BYDAY=MO"}, "invalid_rule"),
        ({"rule": "FREQ=WEEKLY;BYDAY=XX"}, "invalid_rule"),
        ({"rule": "FREQ=DAILY;COUNT=3"}, "invalid_rule"),
        ({"rule": "not a rule"}, "invalid_rule"),
        ({"until": "2027-02-01"}, "count_and_until"),
        ({"start": "2027-01-04T10:00:00+03:00"}, "invalid_start"),
        ({"start": "next monday"}, "invalid_start"),
        ({"count": 0}, "invalid_count"),
    ],
)
def test_a_bad_recurrence_is_a_400_naming_it_and_creates_nothing(shop, recurrence, code):
    with time_machine.travel(MONDAY, tick=False):
        response = shop.create(**series_body(**recurrence))
    error = assert_error(response, 400, "invalid_request_error")
    assert list(error["fields"]) == ["recurrence"], error
    assert error["code"] == code, error
    assert Broadcast.objects.count() == 0
    assert Occurrence.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule_mode": "recurring"}, "recurrence"),  # no recurrence
        ({"recurrence": {"rule": "FREQ=DAILY"}}, "recurrence"),  # recurrence without schedule_mode recurring
        ({"sender": "Nobody"}, "sender"),  # not registered
        ({"recipients": [FR], "text": "Soldes !"}, "text"),  # marketing SMS to France without STOP
        ({"status": "draft"}, "status"),
        ({"list_name": "Weekly"}, "list_name"),
        ({"template": "no_such_template", "text": None}, "template"),
    ],
)
def test_the_rest_of_the_body_is_checked_as_a_create_would(shop, body, field):
    payload = {**series_body(), **body}
    if body.get("schedule_mode") == "recurring" and "recurrence" not in body:
        payload.pop("recurrence")
    if "recurrence" in body and "schedule_mode" not in body:
        payload.pop("schedule_mode")
    payload = {k: v for k, v in payload.items() if v is not None}
    with time_machine.travel(MONDAY, tick=False):
        response = shop.create(**payload)
    error = assert_error(response, 400, "invalid_request_error")
    assert field in error["fields"], error
    assert Broadcast.objects.count() == 0


@pytest.mark.django_db
def test_a_series_needs_the_scope_of_its_channel(make_shop):
    shop = make_shop(scopes=["read"])
    with time_machine.travel(MONDAY, tick=False):
        assert_error(shop.create(**series_body()), 403, "permission_error")
    assert Broadcast.objects.count() == 0


# --- DST: wall-clock times, each fired once ---------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        # Spring forward: the time does not exist; the first valid instant after it is the jump (03:00).
        (NY, datetime(2027, 3, 14, 2, 30), utc(2027, 3, 14, 7, 0)),  # 03:00 EDT
        (PARIS, datetime(2027, 3, 28, 2, 30), utc(2027, 3, 28, 1, 0)),  # 03:00 CEST
        # Fall back: the time happens twice; the first (fold=0, still summer time).
        (NY, datetime(2027, 11, 7, 1, 30), utc(2027, 11, 7, 5, 30)),  # 01:30 EDT
        (PARIS, datetime(2027, 10, 31, 2, 30), utc(2027, 10, 31, 0, 30)),  # 02:30 CEST
        # Ordinary times either side.
        (NY, datetime(2027, 3, 13, 2, 30), utc(2027, 3, 13, 7, 30)),
        (NY, datetime(2027, 3, 15, 2, 30), utc(2027, 3, 15, 6, 30)),
    ],
)
def test_wall_clock_times_across_the_2027_transitions(zone, local, expected):
    assert wall_to_utc(local, zone) == expected


@pytest.mark.parametrize(
    ("zone", "rule", "start", "expected_local"),
    [
        (
            "America/New_York",
            "FREQ=DAILY",
            "2027-03-12T02:30",
            ["03-12 02:30 -05", "03-13 02:30 -05", "03-14 03:00 -04", "03-15 02:30 -04"],
        ),
        (
            "Europe/Paris",
            "FREQ=DAILY",
            "2027-10-30T02:30",
            ["10-30 02:30 +02", "10-31 02:30 +02", "11-01 02:30 +01", "11-02 02:30 +01"],
        ),
        (
            # Every 30 minutes through the fall-back night: 01:00 and 01:30 fire once, in summer time.
            "America/New_York",
            "FREQ=MINUTELY;INTERVAL=30",
            "2027-11-07T00:30",
            ["11-07 00:30 -04", "11-07 01:00 -04", "11-07 01:30 -04", "11-07 02:00 -05"],
        ),
        (
            # Every 15 minutes through the spring-forward gap: 02:00–02:45 all land on 03:00, once.
            "Europe/Paris",
            "FREQ=MINUTELY;INTERVAL=15",
            "2027-03-28T01:45",
            ["03-28 01:45 +01", "03-28 03:00 +02", "03-28 03:15 +02", "03-28 03:30 +02"],
        ),
    ],
)
def test_occurrences_across_dst_never_repeat_an_instant(zone, rule, start, expected_local):
    recurrence = parse_recurrence(
        {"rule": rule, "start": start, "timezone": zone, "count": 8},
        default_timezone="UTC",
        now=utc(2027, 1, 1),
    )
    instants = recurrence.instants()[:4]
    assert [i.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M %z")[:-2] for i in instants] == expected_local
    assert len(set(recurrence.instants())) == len(recurrence.instants())
    assert list(recurrence.instants()) == sorted(recurrence.instants())


@pytest.mark.django_db
def test_a_series_fires_across_spring_forward_and_fall_back_once_each(shop):
    """New York, 02:30 daily from 12 March (02:30 does not exist on the 14th) and 01:30 daily from
    5 November (01:30 happens twice on the 7th), fired by beat every 10 s around each transition."""
    with time_machine.travel(utc(2027, 3, 10, 12), tick=False):
        spring = make_series(shop, start="2027-03-12T02:30", timezone="America/New_York", count=4)
    with time_machine.travel(utc(2027, 11, 1, 12), tick=False):
        autumn = make_series(shop, start="2027-11-05T01:30", timezone="America/New_York", count=4)
    for series, first, last in [
        (spring, utc(2027, 3, 12, 7, 0), utc(2027, 3, 15, 8, 0)),
        (autumn, utc(2027, 11, 5, 5, 0), utc(2027, 11, 8, 7, 0)),
    ]:
        moment = first
        while moment <= last:
            fire_at(moment)
            moment += timedelta(minutes=30)
        series.refresh_from_db()
        assert series.status == "sent"
        assert series.next_run_at is None
    assert children(spring) == [
        utc(2027, 3, 12, 7, 30),
        utc(2027, 3, 13, 7, 30),
        utc(2027, 3, 14, 7, 0),
        utc(2027, 3, 15, 6, 30),
    ]
    assert children(autumn) == [
        utc(2027, 11, 5, 5, 30),
        utc(2027, 11, 6, 5, 30),
        utc(2027, 11, 7, 5, 30),
        utc(2027, 11, 8, 6, 30),
    ]
    assert Occurrence.objects.filter(status="created").count() == 8


# --- firing ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_occurrence_is_a_child_broadcast_made_by_the_normal_create(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    assert fire_at(utc(2027, 1, 4, 6, 59)) == 0  # not yet due
    assert fire_at(utc(2027, 1, 4, 7, 0, 5)) == 1
    series.refresh_from_db()
    [child] = series.children.all()
    assert (child.schedule_mode, child.occurrence_at, child.name, child.status) == (
        "now",
        utc(2027, 1, 4, 7, 0),
        series.name,
        "queued",
    )
    assert child.total_recipients == 2
    assert Message.objects.filter(broadcast=child).count() == 2
    assert Message.objects.filter(broadcast=series).count() == 0
    assert shop.refresh().reserved == child.estimated_cost > 0
    occurrence = Occurrence.objects.get(series=series)
    assert (occurrence.status, occurrence.broadcast_id, occurrence.occurrence_at) == (
        "created",
        child.pk,
        utc(2027, 1, 4, 7, 0),
    )
    assert series.next_run_at == utc(2027, 1, 5, 7, 0)
    assert series.status == "scheduled"
    response = shop.api.get(f"{BROADCASTS}{child.pk}/")
    assert (response.json()["parent"], response.json()["occurrence_at"]) == (str(series.pk), "2027-01-04T07:00:00Z")


@pytest.mark.django_db
def test_the_audience_is_resolved_at_each_occurrence(shop):
    from contacts.models import Contact, ContactList

    members = ContactList.objects.create(client=shop.client, name="Members")
    members.memberships.create(contact=Contact.objects.create(client=shop.client, phone=UG))
    with time_machine.travel(MONDAY, tick=False):
        response = shop.create(
            schedule_mode="recurring",
            contact_lists=[str(members.pk)],
            recurrence={"rule": "FREQ=DAILY", "start": "2027-01-04T10:00", "timezone": "Africa/Kampala", "count": 3},
        )
    series = shop.broadcast(response)
    fire_at(utc(2027, 1, 4, 7, 0, 5))
    members.memberships.create(contact=Contact.objects.create(client=shop.client, phone=KE))
    fire_at(utc(2027, 1, 5, 7, 0, 5))
    assert [c.total_recipients for c in series.children.order_by("occurrence_at")] == [1, 2]


@pytest.mark.django_db
def test_firing_twice_in_a_row_creates_each_occurrence_once(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    assert fire_at(utc(2027, 1, 4, 7, 0, 5)) == 1
    assert fire_at(utc(2027, 1, 4, 7, 0, 15)) == 0
    # Even with next_run_at put back (a restart from an old state): the unique key holds.
    Broadcast.objects.filter(pk=series.pk).update(next_run_at=utc(2027, 1, 4, 7, 0))
    assert fire_at(utc(2027, 1, 4, 7, 0, 25)) == 1
    assert series.children.count() == 1
    assert Occurrence.objects.filter(series=series).count() == 1
    series.refresh_from_db()
    assert series.next_run_at == utc(2027, 1, 5, 7, 0)


@pytest.mark.django_db(transaction=True)
def test_two_beats_firing_at_once_create_each_occurrence_once(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = [make_series(shop) for _ in range(3)]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def fire() -> None:
        try:
            barrier.wait()
            results.append(fire_at(utc(2027, 1, 4, 7, 0, 5)))
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 3
    for one in series:
        assert one.children.count() == 1
        assert Occurrence.objects.filter(series=one).count() == 1


@pytest.mark.django_db
def test_one_late_by_less_than_its_period_is_sent_once_and_older_ones_are_missed(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)  # daily at 10:00 Kampala, 07:00Z, 4–8 January
    # Beat was down from before the first occurrence until 20:00Z on the 6th: the 4th and 5th are
    # missed (their next one came), the 6th is 13 h late (< 24 h): sent now, once.
    assert fire_at(utc(2027, 1, 6, 20, 0)) == 1
    assert fire_at(utc(2027, 1, 6, 20, 0, 10)) == 0
    statuses = dict(Occurrence.objects.filter(series=series).values_list("occurrence_at", "status"))
    assert statuses == {
        utc(2027, 1, 4, 7, 0): "missed",
        utc(2027, 1, 5, 7, 0): "missed",
        utc(2027, 1, 6, 7, 0): "created",
    }
    assert children(series) == [utc(2027, 1, 6, 7, 0)]
    series.refresh_from_db()
    assert series.next_run_at == utc(2027, 1, 7, 7, 0)
    # The last occurrence (the 8th) has no next one: its period is the gap from the one before.
    assert fire_at(utc(2027, 1, 9, 7, 30)) == 1  # the 7th missed, the 8th 24.5 h late: missed too
    series.refresh_from_db()
    assert (series.status, series.next_run_at) == ("sent", None)
    assert Occurrence.objects.filter(series=series, status="missed").count() == 4
    assert children(series) == [utc(2027, 1, 6, 7, 0)]


@pytest.mark.django_db
def test_insufficient_credit_fails_that_occurrence_announces_it_and_the_series_goes_on(make_shop, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    shop = make_shop(balance="0.001")
    webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["broadcast.failed"])
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    assert fire_at(utc(2027, 1, 4, 7, 0, 5)) == 1
    occurrence = Occurrence.objects.get(series=series)
    assert (occurrence.status, occurrence.error_code, occurrence.broadcast_id) == (
        "failed",
        "insufficient_credit",
        None,
    )
    assert series.children.count() == 0
    assert Message.objects.count() == 0
    [event] = WebhookEvent.objects.filter(type="broadcast.failed")
    assert event.data["broadcast_id"] == str(series.pk)
    assert event.data["error_code"] == "insufficient_credit"
    assert event.data["occurrence_at"].startswith("2027-01-04T07:00:00")
    series.refresh_from_db()
    assert (series.status, series.next_run_at) == ("scheduled", utc(2027, 1, 5, 7, 0))
    # Topped up: the next occurrence goes.
    wallet_topup(wallet=shop.wallet, amount="100", note="top-up")
    assert fire_at(utc(2027, 1, 5, 7, 0, 5)) == 1
    assert children(series) == [utc(2027, 1, 5, 7, 0)]
    assert len(WebhookEvent.objects.filter(type="broadcast.failed")) == 1


@pytest.mark.django_db
def test_an_occurrence_the_audience_now_refuses_fails_with_that_code(shop, settings):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    from broadcasts.models import Sender

    Broadcast.objects.filter(pk=series.pk).update(sender="Herald")
    Sender.objects.filter(client=shop.client).delete()
    fire_at(utc(2027, 1, 4, 7, 0, 5))
    occurrence = Occurrence.objects.get(series=series)
    assert (occurrence.status, occurrence.error_code) == ("failed", "sender_not_registered")
    series.refresh_from_db()
    assert series.next_run_at == utc(2027, 1, 5, 7, 0)


# --- pause, resume, cancel, PATCH, DELETE -----------------------------------------------------------


def post(shop, series: Broadcast, action: str):
    return shop.api.post(f"{BROADCASTS}{series.pk}/{action}/", format="json")


@pytest.mark.django_db
def test_pause_stops_the_series_and_resume_rolls_forward_past_missed_ones(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
        paused = post(shop, series, "pause")
    assert paused.status_code == 200, paused.content
    assert (paused.json()["status"], paused.json()["next_run_at"]) == ("paused", "2027-01-04T07:00:00Z")
    assert fire_at(utc(2027, 1, 5, 12, 0)) == 0  # paused: nothing fires
    assert series.children.count() == 0
    with time_machine.travel(utc(2027, 1, 5, 12, 0), tick=False):
        resumed = post(shop, series, "resume")
    assert resumed.status_code == 200, resumed.content
    # The 4th is missed; the 5th (5 h late, within its day) is what the next tick sends.
    assert (resumed.json()["status"], resumed.json()["next_run_at"]) == ("scheduled", "2027-01-05T07:00:00Z")
    assert fire_at(utc(2027, 1, 5, 12, 0, 10)) == 1
    assert dict(Occurrence.objects.filter(series=series).values_list("occurrence_at", "status")) == {
        utc(2027, 1, 4, 7, 0): "missed",
        utc(2027, 1, 5, 7, 0): "created",
    }
    series.refresh_from_db()
    assert series.next_run_at == utc(2027, 1, 6, 7, 0)
    with time_machine.travel(utc(2027, 1, 5, 12, 1), tick=False):
        assert_error(post(shop, series, "resume"), 409, "conflict")


@pytest.mark.django_db
def test_cancel_ends_the_series_and_leaves_its_children_alone(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    fire_at(utc(2027, 1, 4, 7, 0, 5))
    [child] = series.children.all()
    with time_machine.travel(utc(2027, 1, 4, 8), tick=False):
        cancelled = post(shop, series, "cancel")
    assert cancelled.status_code == 200, cancelled.content
    assert (cancelled.json()["status"], cancelled.json()["next_run_at"]) == ("cancelled", None)
    assert fire_at(utc(2027, 1, 5, 7, 0, 5)) == 0
    assert series.children.count() == 1
    child.refresh_from_db()
    assert child.status == "queued"
    assert Message.objects.filter(broadcast=child).exclude(status="cancelled").count() == 2


@pytest.mark.django_db
def test_patch_changes_future_occurrences_only(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    fire_at(utc(2027, 1, 4, 7, 0, 5))
    with time_machine.travel(utc(2027, 1, 4, 8), tick=False):
        response = shop.api.patch(
            f"{BROADCASTS}{series.pk}/",
            {"text": "New text", "recipients": [UG]},
            format="json",
        )
    assert response.status_code == 200, response.content
    assert (response.json()["text"], response.json()["next_run_at"]) == ("New text", "2027-01-05T07:00:00Z")
    fire_at(utc(2027, 1, 5, 7, 0, 5))
    first, second = series.children.order_by("occurrence_at")
    assert first.text == {"": "Hello {{first_name|there}}"}
    assert (second.text, second.total_recipients) == ({"": "New text"}, 1)
    # A new rule: next_run_at is its first occurrence a minute ahead or more.
    with time_machine.travel(utc(2027, 1, 5, 8), tick=False):
        response = shop.api.patch(
            f"{BROADCASTS}{series.pk}/",
            {"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=FR", "start": "2027-01-04T18:00", "count": 3}},
            format="json",
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next_run_at"] == "2027-01-08T15:00:00Z"  # Friday 18:00 Kampala
    assert body["recurrence"]["timezone"] == shop.client.timezone  # the client's default again
    assert body["status"] == "scheduled"
    # Refused like a create, nothing changed.
    with time_machine.travel(utc(2027, 1, 5, 8), tick=False):
        bad = shop.api.patch(f"{BROADCASTS}{series.pk}/", {"recurrence": {"rule": "FREQ=MINUTELY"}}, format="json")
        assert "recurrence" in assert_error(bad, 400, "invalid_request_error")["fields"]
        bad = shop.api.patch(f"{BROADCASTS}{series.pk}/", {"schedule_mode": "now"}, format="json")
        assert "schedule_mode" in assert_error(bad, 400, "invalid_request_error")["fields"]
    series.refresh_from_db()
    assert series.next_run_at == utc(2027, 1, 8, 15, 0)
    assert Message.objects.filter(broadcast=series).count() == 0


@pytest.mark.django_db
def test_a_paused_series_can_be_edited_and_stays_paused(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
        post(shop, series, "pause")
        response = shop.api.patch(f"{BROADCASTS}{series.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["name"]) == ("paused", "Renamed")


@pytest.mark.django_db
def test_delete_removes_the_series_and_keeps_its_children(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    fire_at(utc(2027, 1, 4, 7, 0, 5))
    [child] = series.children.all()
    assert shop.api.delete(f"{BROADCASTS}{series.pk}/").status_code == 204
    child.refresh_from_db()
    assert child.parent_id is None
    assert Occurrence.objects.count() == 0


# --- GET …/occurrences/ ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_occurrences_lists_past_ones_paginated_and_the_next_five(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop, count=10)
    fire_at(utc(2027, 1, 6, 8, 0))  # the 4th and 5th missed, the 6th sent late
    fire_at(utc(2027, 1, 7, 7, 0, 5))
    url = f"{BROADCASTS}{series.pk}/occurrences/"
    response = shop.api.get(url, {"limit": 2})
    assert response.status_code == 200, response.content
    assert_matches_schema(response, "get", f"{DETAIL}occurrences/")
    body = response.json()
    assert [(r["occurrence_at"], r["status"]) for r in body["results"]] == [
        ("2027-01-07T07:00:00Z", "created"),
        ("2027-01-06T07:00:00Z", "created"),
    ]
    assert body["results"][0]["broadcast"] == str(series.children.get(occurrence_at=utc(2027, 1, 7, 7)).pk)
    assert [u["occurrence_at"] for u in body["upcoming"]] == [f"2027-01-{d:02d}T07:00:00Z" for d in range(8, 13)]
    assert body["upcoming"][0]["local"] == "2027-01-08T10:00:00+03:00"
    rest = shop.api.get(body["next"]).json()
    assert [(r["occurrence_at"], r["status"], r["broadcast"]) for r in rest["results"]] == [
        ("2027-01-05T07:00:00Z", "missed", None),
        ("2027-01-04T07:00:00Z", "missed", None),
    ]
    assert rest["next"] is None


@pytest.mark.django_db
def test_occurrences_of_a_broadcast_that_is_no_series_is_404(shop):
    with time_machine.travel(MONDAY, tick=False):
        plain = shop.broadcast(shop.create(recipients=[UG]))
    assert_error(shop.api.get(f"{BROADCASTS}{plain.pk}/occurrences/"), 404, "not_found")
    other = Broadcast.objects.create(client=shop.client, name="x", schedule_mode="recurring", status="scheduled")
    assert shop.api.get(f"{BROADCASTS}{other.pk}/occurrences/").json()["upcoming"] == []


def test_the_recurrence_is_pure_and_cached():
    one = Recurrence(rule="FREQ=DAILY", start=datetime(2027, 1, 4, 10), timezone="Africa/Kampala", count=3)
    assert one.instants() is one.instants()
    assert one.after(utc(2027, 1, 4, 7, 0), limit=5) == [utc(2027, 1, 5, 7, 0), utc(2027, 1, 6, 7, 0)]
    assert Recurrence.from_json(one.as_json()) == one


def test_beat_fires_series_every_10_seconds(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["broadcasts-series"]
    assert entry["task"] == "broadcasts.tasks.fire_series"
    assert entry["schedule"] <= timedelta(seconds=10)


@pytest.mark.django_db
def test_the_beat_task_fires_due_series(shop):
    from broadcasts.tasks import fire_series

    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
    with time_machine.travel(utc(2027, 1, 4, 7, 0, 5), tick=False):
        assert fire_series.delay().get() == 1
    assert series.children.count() == 1


@pytest.mark.django_db
def test_simulate_and_precheck_of_a_series_store_nothing(shop):
    with time_machine.travel(MONDAY, tick=False):
        simulated = shop.create(**series_body(), simulate=True)
        precheck = shop.precheck(**series_body())
    assert simulated.status_code == 200, simulated.content
    assert (simulated.json()["id"], simulated.json()["next_run_at"]) == (None, "2027-01-04T07:00:00Z")
    assert precheck.status_code == 200, precheck.content
    assert precheck.json()["total_contacts"] == 2  # one occurrence, as its audience is now
    assert Broadcast.objects.count() == 0


@pytest.mark.django_db
def test_a_test_send_of_a_series_goes_like_any_broadcasts(shop):
    with time_machine.travel(MONDAY, tick=True):
        series = make_series(shop)
        response = shop.api.post(f"{BROADCASTS}{series.pk}/test/", {"recipients": [UG]}, format="json")
    assert response.status_code == 200, response.content
    assert Message.objects.filter(broadcast=series, is_test=True).count() == 1
    assert Message.objects.filter(broadcast=series, is_test=False).count() == 0


@pytest.mark.django_db
def test_a_series_whose_firing_breaks_does_not_stop_the_others(shop, monkeypatch):
    from broadcasts.services import recurring_runs

    with time_machine.travel(MONDAY, tick=False):
        broken, healthy = make_series(shop), make_series(shop, start="2027-01-04T10:00:30")
    real = recurring_runs.child_data  # used by both the chunked and the one-by-one firing

    def child_data(series):
        if series.pk == broken.pk:
            raise RuntimeError("a bug")
        return real(series)

    monkeypatch.setattr(recurring_runs, "child_data", child_data)
    assert fire_at(utc(2027, 1, 4, 7, 1)) == 1
    assert (broken.children.count(), healthy.children.count()) == (0, 1)
    assert not Occurrence.objects.filter(series=broken).exists()  # rolled back: tried again next run
    broken.refresh_from_db()
    assert broken.next_run_at == utc(2027, 1, 4, 7, 0)
    monkeypatch.setattr(recurring_runs, "child_data", real)
    assert fire_at(utc(2027, 1, 4, 7, 1, 10)) == 1
    assert broken.children.count() == 1


@pytest.mark.django_db
def test_the_list_filters_a_series_children_by_parent(shop):
    with time_machine.travel(MONDAY, tick=False):
        series = make_series(shop)
        shop.create(recipients=[UG])
    fire_at(utc(2027, 1, 4, 7, 0, 5))
    fire_at(utc(2027, 1, 5, 7, 0, 5))
    listed = shop.api.get(BROADCASTS, {"parent": str(series.pk)}).json()["results"]
    assert sorted(b["occurrence_at"] for b in listed) == ["2027-01-04T07:00:00Z", "2027-01-05T07:00:00Z"]
    assert {b["parent"] for b in listed} == {str(series.pk)}
