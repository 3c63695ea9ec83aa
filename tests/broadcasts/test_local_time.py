"""Recipient local time (SPEC §8 "Campaigns", issue 22): `schedule_mode: local_time` sends at one
wall-clock time in each recipient's own zone — a recipient variable or the contact's timezone, else
the number's single zone, else the client's — with its own `not_before` per message; a time already
passed is refused, sent at once or skipped as `if_passed` says; DST gaps and folds; quiet hours on
top; the precheck's recipients per send time; a large audience gets the times of a small one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from broadcasts.dispatch import dispatch_batch
from broadcasts.models import Broadcast, Message
from broadcasts.services import broadcasts_tick
from contacts.models import ContactList
from tests.broadcasts.conftest import FR, UG, US
from tests.factories.contacts import ContactFactory, add_members
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

TOLL_FREE = "+18002752273"  # 42 zones: the client's zone decides
KE = "+254712000001"  # Africa/Nairobi by its number
HONOLULU = "+256772000011"  # Ugandan numbers whose contacts (or variables) name their zone
TOKYO = "+256772000012"
KIRITIMATI = "+256772000013"
TRAVELLER = "+256772000014"  # a contact in Paris whose request says Tokyo: the request wins

# Tuesday 2027-06-15 10:00 in every zone, from UTC−10 to UTC+14 (no DST change near it).
DAY = "2027-06-15"
TEN = {
    "Pacific/Honolulu": datetime(2027, 6, 15, 20, 0, tzinfo=UTC),  # UTC−10
    "America/New_York": datetime(2027, 6, 15, 14, 0, tzinfo=UTC),  # EDT, UTC−4
    "Europe/Paris": datetime(2027, 6, 15, 8, 0, tzinfo=UTC),  # CEST, UTC+2
    "Africa/Kampala": datetime(2027, 6, 15, 7, 0, tzinfo=UTC),  # UTC+3
    "Africa/Nairobi": datetime(2027, 6, 15, 7, 0, tzinfo=UTC),  # UTC+3
    "Asia/Tokyo": datetime(2027, 6, 15, 1, 0, tzinfo=UTC),  # UTC+9
    "Pacific/Kiritimati": datetime(2027, 6, 14, 20, 0, tzinfo=UTC),  # UTC+14
}
TWO_DAYS_BEFORE = datetime(2027, 6, 13, 12, 0, tzinfo=UTC)


def contacts(shop) -> None:
    ContactFactory(client=shop.client, phone=HONOLULU, timezone="Pacific/Honolulu")
    ContactFactory(client=shop.client, phone=KIRITIMATI, timezone="Pacific/Kiritimati")
    ContactFactory(client=shop.client, phone=TRAVELLER, timezone="Europe/Paris")


def world(**local_time):
    """Recipients spanning UTC−10 to UTC+14, each zone from a different source."""
    return {
        "recipient_variables": [
            {"phone": HONOLULU},  # the contact's timezone
            {"phone": US},  # +1 212: New York, its number's only zone
            {"phone": FR},  # Paris, its number's zone
            {"phone": TOLL_FREE},  # +1 800: 42 zones → the client's (Africa/Kampala)
            {"phone": KE},  # Nairobi, its number's zone
            {"phone": TOKYO, "timezone": "asia/tokyo"},  # a recipient variable (no contact)
            {"phone": KIRITIMATI},  # the contact's timezone
            {"phone": TRAVELLER, "timezone": "Asia/Tokyo"},  # the variable outranks the contact's
        ],
        "schedule_mode": "local_time",
        "local_time": {"date": DAY, "time": "10:00", **local_time},
        "purpose": "transactional",  # no quiet hours: only the local time decides here
    }


WORLD_TIMES = {
    f"tel:{HONOLULU}": TEN["Pacific/Honolulu"],
    f"tel:{US}": TEN["America/New_York"],
    f"tel:{FR}": TEN["Europe/Paris"],
    f"tel:{TOLL_FREE}": TEN["Africa/Kampala"],
    f"tel:{KE}": TEN["Africa/Nairobi"],
    f"tel:{TOKYO}": TEN["Asia/Tokyo"],
    f"tel:{KIRITIMATI}": TEN["Pacific/Kiritimati"],
    f"tel:{TRAVELLER}": TEN["Asia/Tokyo"],
}


def planned(broadcast: Broadcast) -> dict[str, tuple[str, datetime | None, str, str]]:
    return {
        urn: (status, not_before, wait_reason, error_code)
        for urn, status, not_before, wait_reason, error_code in Message.objects.filter(
            broadcast=broadcast, is_test=False
        ).values_list("urn", "status", "not_before", "wait_reason", "error_code")
    }


# --- who is when -------------------------------------------------------------------------------


def test_each_recipient_gets_its_own_not_before_from_utc_minus_10_to_utc_plus_14(shop):
    contacts(shop)
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        response = shop.create(**world())
    assert response.status_code == 201, response.content
    body = response.json()
    broadcast = shop.broadcast(response)
    assert planned(broadcast) == {urn: ("pending", at, "scheduled", "") for urn, at in WORLD_TIMES.items()}
    # Scheduled until the first zone's time (Kiritimati), then beat starts it like a scheduled one.
    assert (body["status"], body["schedule_mode"]) == ("scheduled", "local_time")
    assert body["scheduled_at"] == "2027-06-14T20:00:00Z"
    assert body["local_time"] == {"date": DAY, "time": "10:00", "if_passed": None}
    assert body["skipped"]["local_time_passed"] == 0
    assert body["total_recipients"] == 8
    detail = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
    assert (detail["stats"]["waiting"], detail["local_time"]["time"]) == (8, "10:00")


def test_the_clients_zone_serves_numbers_without_a_single_zone(make_shop):
    shop = make_shop()
    shop.client.timezone = "Pacific/Honolulu"
    shop.client.save()
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        broadcast = shop.broadcast(shop.create(**{**world(), "recipient_variables": [{"phone": TOLL_FREE}]}))
    assert planned(broadcast)[f"tel:{TOLL_FREE}"][1] == TEN["Pacific/Honolulu"]


def test_beat_starts_it_at_the_first_zones_time_and_each_message_goes_at_its_own(shop, recorder):
    contacts(shop)
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        broadcast = shop.broadcast(shop.create(**world()))
    with time_machine.travel(TEN["Pacific/Kiritimati"] - timedelta(seconds=1), tick=False):
        assert broadcasts_tick()["started"] == 0
    sent_by_then = {}
    for moment in sorted(set(WORLD_TIMES.values())):
        with time_machine.travel(moment + timedelta(seconds=1), tick=False):
            broadcasts_tick()
            dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        sent = Message.objects.filter(broadcast=broadcast, sent_at__isnull=False).values_list("urn", flat=True)
        sent_by_then[moment] = set(sent)
    for moment, urns in sent_by_then.items():
        assert urns == {urn for urn, at in WORLD_TIMES.items() if at <= moment}
    assert len(recorder.sent) == len(set(recorder.sent)) == 8
    broadcast.refresh_from_db()
    assert broadcast.status == "sent"


# --- if_passed ---------------------------------------------------------------------------------

# 05:00Z on the day: 10:00 has passed in Kiritimati (20:00Z the day before) and Tokyo (01:00Z);
# Kampala (07:00Z) and everything west of it are still ahead.
MORNING = datetime(2027, 6, 15, 5, 0, tzinfo=UTC)
PASSED = {f"tel:{KIRITIMATI}", f"tel:{TOKYO}", f"tel:{TRAVELLER}"}


def test_without_if_passed_a_time_already_past_somewhere_is_refused_naming_the_earliest_zone(shop):
    contacts(shop)
    available = shop.refresh().available
    with time_machine.travel(MORNING, tick=False):
        error = assert_error(shop.create(**world()), 400, "invalid_request_error", "local_time_passed")
    assert list(error["fields"]) == ["local_time"]
    assert error["fields"]["local_time"] == [
        "10:00 on 2027-06-15 has already passed (or is less than a minute away) in Pacific/Kiritimati and 1 other "
        "time zone, for 3 recipients. Set local_time.if_passed to 'send_now' or 'skip', or choose a later date."
    ]
    assert not Broadcast.objects.exists()
    assert not Message.objects.exists()
    assert shop.refresh().available == available


def test_under_a_minute_ahead_counts_as_passed(shop):
    with time_machine.travel(TEN["Africa/Kampala"] - timedelta(seconds=59), tick=False):
        response = shop.create(**{**world(), "recipient_variables": [{"phone": UG}, {"phone": US}]})
    error = assert_error(response, 400, "invalid_request_error", "local_time_passed")
    assert "in Africa/Kampala, for 1 recipient." in error["fields"]["local_time"][0]


def test_send_now_sends_those_recipients_at_once(shop):
    contacts(shop)
    with time_machine.travel(MORNING, tick=False):
        response = shop.create(**world(if_passed="send_now"))
    assert response.status_code == 201, response.content
    rows = planned(shop.broadcast(response))
    assert {urn for urn, row in rows.items() if row == ("queued", None, "", "")} == PASSED
    assert {urn: rows[urn] for urn in rows.keys() - PASSED} == {
        urn: ("pending", at, "scheduled", "") for urn, at in WORLD_TIMES.items() if urn not in PASSED
    }
    body = response.json()
    assert (body["status"], body["scheduled_at"], body["total_recipients"]) == ("queued", None, 8)


def test_skip_skips_those_recipients_and_counts_them(shop):
    contacts(shop)
    with time_machine.travel(MORNING, tick=False):
        response = shop.create(**world(if_passed="skip"))
    assert response.status_code == 201, response.content
    rows = planned(shop.broadcast(response))
    skipped = ("skipped", None, "", "local_time_passed")
    assert {urn: row for urn, row in rows.items() if urn in PASSED} == dict.fromkeys(PASSED, skipped)
    assert {row[0] for urn, row in rows.items() if urn not in PASSED} == {"pending"}
    body = response.json()
    assert (body["total_recipients"], body["skipped"]["local_time_passed"]) == (5, 3)
    assert (body["status"], body["scheduled_at"]) == ("scheduled", "2027-06-15T07:00:00Z")
    detail = shop.api.get(f"/api/v1/broadcasts/{body['id']}/").json()
    assert detail["skipped"]["local_time_passed"] == 3
    assert detail["local_time"]["if_passed"] == "skip"


def test_skip_for_every_recipient_is_refused(shop):
    contacts(shop)
    with time_machine.travel(MORNING, tick=False):
        response = shop.create(**{**world(if_passed="skip"), "recipient_variables": [{"phone": KIRITIMATI}]})
    error = assert_error(response, 400, "invalid_request_error", "local_time_passed")
    assert "for every recipient (1 skipped)" in error["fields"]["local_time"][0]
    assert not Broadcast.objects.exists()


@pytest.mark.parametrize(
    ("local_time", "field", "code"),
    [
        (None, "local_time", "required"),
        ("10:00", "local_time", "invalid"),
        ({"date": DAY}, "local_time.time", "required"),
        ({"time": "10:00"}, "local_time.date", "required"),
        ({"date": "15/06/2027", "time": "10:00"}, "local_time.date", "invalid_date"),
        ({"date": DAY, "time": "25:00"}, "local_time.time", "invalid_time"),
        ({"date": DAY, "time": "10:00+02:00"}, "local_time.time", "invalid_time"),
        ({"date": DAY, "time": "10:00", "if_passed": "later"}, "local_time.if_passed", "invalid_choice"),
        ({"date": DAY, "time": "10:00", "zone": "UTC"}, "local_time.zone", "unknown_field"),
        ({"date": "2027-06-12", "time": "10:00"}, "local_time", "local_time_passed"),  # past everywhere
        ({"date": "2027-12-01", "time": "10:00"}, "local_time", "too_far"),
    ],
)
def test_a_bad_local_time_is_refused_naming_the_field(shop, local_time, field, code):
    body = {"recipients": [UG], "schedule_mode": "local_time"}
    if local_time is not None:
        body["local_time"] = local_time
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        for response in (shop.create(**body), shop.precheck(**body)):
            error = assert_error(response, 400, "invalid_request_error", code)
            assert list(error["fields"]) == [field]
    assert not Broadcast.objects.exists()


def test_local_time_with_another_mode_and_a_bad_zone_variable_are_refused(shop):
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        other = shop.create(recipients=[UG], local_time={"date": DAY, "time": "10:00"})
        bad_zone = shop.create(**{**world(), "recipient_variables": [{"phone": UG, "timezone": "Mars/Base"}]})
        plain = shop.create(recipient_variables=[{"phone": UG, "timezone": "Mars/Base"}])  # just a variable
    assert list(assert_error(other, 400, "invalid_request_error")["fields"]) == ["local_time"]
    assert list(assert_error(bad_zone, 400, "invalid_request_error")["fields"]) == ["recipient_variables.0.timezone"]
    assert plain.status_code == 201, plain.content


# --- DST: the real 2027 transitions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "clock", "expected"),
    [
        # Europe/Paris springs forward on 2027-03-28 at 02:00 → 03:00.
        ("Europe/Paris", "2027-03-27", "09:00", datetime(2027, 3, 27, 8, 0, tzinfo=UTC)),  # CET
        ("Europe/Paris", "2027-03-28", "09:00", datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),  # CEST
        ("Europe/Paris", "2027-03-28", "02:30", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),  # gap → 03:00 CEST
        # …and falls back on 2027-10-31 at 03:00 → 02:00: 02:30 happens twice, the first is taken.
        ("Europe/Paris", "2027-10-31", "02:30", datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),  # 02:30 CEST
        ("Europe/Paris", "2027-10-31", "09:00", datetime(2027, 10, 31, 8, 0, tzinfo=UTC)),  # CET
        # America/New_York springs forward on 2027-03-14 at 02:00 → 03:00…
        ("America/New_York", "2027-03-14", "02:30", datetime(2027, 3, 14, 7, 0, tzinfo=UTC)),  # gap → 03:00 EDT
        ("America/New_York", "2027-03-14", "03:00", datetime(2027, 3, 14, 7, 0, tzinfo=UTC)),
        ("America/New_York", "2027-03-13", "10:00", datetime(2027, 3, 13, 15, 0, tzinfo=UTC)),  # EST
        ("America/New_York", "2027-03-14", "10:00", datetime(2027, 3, 14, 14, 0, tzinfo=UTC)),  # EDT
        # …and falls back on 2027-11-07 at 02:00 → 01:00: 01:30 twice, the first (EDT) is taken.
        ("America/New_York", "2027-11-07", "01:30", datetime(2027, 11, 7, 5, 30, tzinfo=UTC)),
        ("America/New_York", "2027-11-07", "10:00", datetime(2027, 11, 7, 15, 0, tzinfo=UTC)),  # EST
    ],
)
def test_dst_gaps_move_to_the_first_valid_instant_and_folds_take_the_first(shop, zone, day, clock, expected):
    created = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(days=2)
    with time_machine.travel(created, tick=False):
        response = shop.create(
            recipient_variables=[{"phone": UG, "timezone": zone}],
            schedule_mode="local_time",
            local_time={"date": day, "time": clock},
            purpose="transactional",
        )
    assert response.status_code == 201, response.content
    assert planned(shop.broadcast(response))[f"tel:{UG}"][1] == expected


def test_across_the_new_york_fall_back_a_message_goes_once(shop, recorder):
    """01:30 on 2027-11-07 happens at 05:30Z (EDT) and again at 06:30Z (EST): sent at the first, once."""
    with time_machine.travel(datetime(2027, 11, 6, 12, 0, tzinfo=UTC), tick=False):
        broadcast = shop.broadcast(
            shop.create(
                recipients=[US],
                schedule_mode="local_time",
                local_time={"date": "2027-11-07", "time": "01:30"},
                purpose="transactional",
            )
        )
    for moment, sent in [
        (datetime(2027, 11, 7, 5, 29, tzinfo=UTC), 0),
        (datetime(2027, 11, 7, 5, 31, tzinfo=UTC), 1),
        (datetime(2027, 11, 7, 6, 31, tzinfo=UTC), 1),  # the second 01:30 changes nothing
    ]:
        with time_machine.travel(moment, tick=False):
            broadcasts_tick()
            dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        assert len(recorder.sent) == sent


def test_across_the_paris_spring_forward_a_message_goes_at_three(shop, recorder):
    with time_machine.travel(datetime(2027, 3, 27, 12, 0, tzinfo=UTC), tick=False):
        broadcast = shop.broadcast(
            shop.create(
                recipients=[FR],
                schedule_mode="local_time",
                local_time={"date": "2027-03-28", "time": "02:30"},
                purpose="transactional",
            )
        )
    for moment, sent in [
        (datetime(2027, 3, 28, 0, 59, tzinfo=UTC), 0),  # 01:59 CET
        (datetime(2027, 3, 28, 1, 0, 1, tzinfo=UTC), 1),  # 03:00:01 CEST
        (datetime(2027, 3, 28, 1, 31, tzinfo=UTC), 1),
    ]:
        with time_machine.travel(moment, tick=False):
            broadcasts_tick()
            dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        assert len(recorder.sent) == sent


# --- quiet hours on top -----------------------------------------------------------------------


def test_quiet_hours_still_apply_on_top_of_the_local_time(shop):
    """Marketing at 23:00 local: a French number waits for 08:00 the next morning in Paris (and
    Sunday 2027-06-13 is quiet all day in France); a US number for 08:00 in New York; a Ugandan
    number (no quiet rule) goes at 23:00 Kampala time."""
    with time_machine.travel(datetime(2027, 6, 10, 12, 0, tzinfo=UTC), tick=False):
        response = shop.create(
            recipients=[FR, US, UG],
            text="Promo STOP",
            schedule_mode="local_time",
            local_time={"date": "2027-06-12", "time": "23:00"},  # a Saturday
        )
    assert response.status_code == 201, response.content
    assert planned(shop.broadcast(response)) == {
        f"tel:{FR}": ("pending", datetime(2027, 6, 14, 6, 0, tzinfo=UTC), "quiet_hours", ""),  # Mon 08:00 CEST
        f"tel:{US}": ("pending", datetime(2027, 6, 13, 12, 0, tzinfo=UTC), "quiet_hours", ""),  # Sun 08:00 EDT
        f"tel:{UG}": ("pending", datetime(2027, 6, 12, 20, 0, tzinfo=UTC), "scheduled", ""),  # 23:00 EAT
    }


def test_send_now_still_waits_for_quiet_hours(shop):
    with time_machine.travel(datetime(2027, 6, 15, 21, 0, tzinfo=UTC), tick=False):  # 23:00 in Paris
        response = shop.create(
            recipients=[FR],
            text="Promo STOP",
            schedule_mode="local_time",
            local_time={"date": "2027-06-15", "time": "22:30", "if_passed": "send_now"},
        )
    assert planned(shop.broadcast(response)) == {
        f"tel:{FR}": ("pending", datetime(2027, 6, 16, 6, 0, tzinfo=UTC), "quiet_hours", "")
    }


# --- precheck ----------------------------------------------------------------------------------


def test_the_precheck_reports_recipients_per_send_time(shop):
    contacts(shop)
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        body = shop.precheck(**world()).json()
    assert body["send_times"] == [
        {"at": "2027-06-14T20:00:00Z", "local_at": "2027-06-15T10:00:00+14:00", "timezone": "Pacific/Kiritimati",
         "recipients": 1, "passed": False},
        {"at": "2027-06-15T01:00:00Z", "local_at": "2027-06-15T10:00:00+09:00", "timezone": "Asia/Tokyo",
         "recipients": 2, "passed": False},
        {"at": "2027-06-15T07:00:00Z", "local_at": "2027-06-15T10:00:00+03:00", "timezone": "Africa/Kampala",
         "recipients": 1, "passed": False},
        {"at": "2027-06-15T07:00:00Z", "local_at": "2027-06-15T10:00:00+03:00", "timezone": "Africa/Nairobi",
         "recipients": 1, "passed": False},
        {"at": "2027-06-15T08:00:00Z", "local_at": "2027-06-15T10:00:00+02:00", "timezone": "Europe/Paris",
         "recipients": 1, "passed": False},
        {"at": "2027-06-15T14:00:00Z", "local_at": "2027-06-15T10:00:00-04:00", "timezone": "America/New_York",
         "recipients": 1, "passed": False},
        {"at": "2027-06-15T20:00:00Z", "local_at": "2027-06-15T10:00:00-10:00", "timezone": "Pacific/Honolulu",
         "recipients": 1, "passed": False},
    ]  # fmt: skip
    assert sum(row["recipients"] for row in body["send_times"]) == body["total_contacts"] == 8
    assert body["local_time_passed_count"] == 0
    assert not Broadcast.objects.exists()


def test_the_precheck_warns_where_the_time_has_passed(shop):
    contacts(shop)
    with time_machine.travel(MORNING, tick=False):
        refused = shop.precheck(**world()).json()
        sent_now = shop.precheck(**world(if_passed="send_now")).json()
        skipped = shop.precheck(**world(if_passed="skip")).json()
    warning = next(w for w in refused["warnings"] if w["code"] == "local_time_passed")
    assert warning["message"].endswith("Create will refuse this broadcast.")
    assert refused["local_time_passed_count"] == 3
    assert [row for row in refused["send_times"] if row["passed"]] == [
        {"at": None, "local_at": None, "timezone": "Asia/Tokyo", "recipients": 2, "passed": True},
        {"at": None, "local_at": None, "timezone": "Pacific/Kiritimati", "recipients": 1, "passed": True},
    ]
    assert "local_time_passed" not in {w["code"] for w in sent_now["warnings"]}
    assert sent_now["send_times"][:2] == refused["send_times"][:2]
    assert (skipped["total_contacts"], skipped["local_time_passed_count"]) == (5, 3)
    assert not any(row["passed"] for row in skipped["send_times"])


def test_the_precheck_shows_quiet_hours_in_the_send_times(shop):
    with time_machine.travel(datetime(2027, 6, 10, 12, 0, tzinfo=UTC), tick=False):
        body = shop.precheck(
            recipients=[FR, "+33612345679"],
            text="Promo STOP",
            schedule_mode="local_time",
            local_time={"date": "2027-06-12", "time": "23:00"},
        ).json()
    assert body["send_times"] == [
        {"at": "2027-06-14T06:00:00Z", "local_at": "2027-06-14T08:00:00+02:00", "timezone": "Europe/Paris",
         "recipients": 2, "passed": False},
    ]  # fmt: skip


# --- large audiences ---------------------------------------------------------------------------


def members_across_zones(shop, count: int = 120) -> ContactList:
    """Contacts whose zones come from all three sources (their own, their number, the client's)."""
    zones = ["Pacific/Honolulu", "Asia/Tokyo", "Pacific/Kiritimati", ""]
    numbers = [UG, US, FR, TOLL_FREE, KE]
    made = []
    for i in range(count):
        phone = f"+2567720{i:05d}" if i >= len(numbers) else numbers[i]
        made.append(ContactFactory(client=shop.client, phone=phone, timezone=zones[i % len(zones)]))
    contact_list = ContactList.objects.create(client=shop.client, name="Everyone", contact_count=0)
    add_members(contact_list, *made)
    return contact_list


def test_a_large_audience_gets_the_same_times_as_a_small_one(make_shop, settings):
    shop = make_shop(balance="1000")
    contact_list = members_across_zones(shop)
    body = {
        "contact_lists": [str(contact_list.pk)],
        "schedule_mode": "local_time",
        "local_time": {"date": DAY, "time": "10:00", "if_passed": "skip"},
        "text": "Promo STOP",
    }
    moment = datetime(2027, 6, 15, 0, 30, tzinfo=UTC)  # past only in Kiritimati (20:00Z the day before)
    with time_machine.travel(moment, tick=False):
        small = shop.create(**{**body, "name": "small"})
        settings.BROADCAST_SYNC_LIMIT = 50
        large = shop.create(**{**body, "name": "large"})
    assert small.status_code == large.status_code == 201, (small.content, large.content)
    assert (small.json()["preparing"], large.json()["preparing"]) == (False, True)
    # Prepared later (tasks run inline here): a worker a few minutes behind still gets the same answer.
    with time_machine.travel(moment + timedelta(minutes=3), tick=False):
        from broadcasts.services.prepare_ahead import prepare_run

        while prepare_run(broadcast_id=large.json()["id"]):
            pass
    small_rows, large_rows = planned(shop.broadcast(small)), planned(shop.broadcast(large))
    assert large_rows == small_rows
    assert len(small_rows) == 120
    assert {row[3] for row in small_rows.values()} == {"", "local_time_passed"}
    small_b, large_b = shop.broadcast(small), shop.broadcast(large)
    first = ("scheduled", TEN["Asia/Tokyo"])
    assert (large_b.status, large_b.scheduled_at) == (small_b.status, small_b.scheduled_at) == first
    assert large_b.total_recipients == small_b.total_recipients == 90
    shown = shop.api.get(f"/api/v1/broadcasts/{large_b.pk}/").json()
    assert shown["skipped"]["local_time_passed"] == 30


def test_a_large_audience_whose_time_passed_somewhere_is_refused_at_once(make_shop, settings):
    shop = make_shop(balance="1000")
    contact_list = members_across_zones(shop)
    settings.BROADCAST_SYNC_LIMIT = 50
    with time_machine.travel(datetime(2027, 6, 15, 0, 30, tzinfo=UTC), tick=False):
        response = shop.create(
            contact_lists=[str(contact_list.pk)],
            schedule_mode="local_time",
            local_time={"date": DAY, "time": "10:00"},
            text="Promo STOP",
        )
    error = assert_error(response, 400, "invalid_request_error", "local_time_passed")
    assert "in Pacific/Kiritimati, for 30 recipients" in error["fields"]["local_time"][0]
    assert not Broadcast.objects.exists()


# --- edits -------------------------------------------------------------------------------------


def test_a_scheduled_local_time_broadcast_can_be_edited_and_keeps_its_local_time(shop):
    contacts(shop)
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        broadcast = shop.broadcast(shop.create(**world()))
        response = shop.api.patch(
            f"/api/v1/broadcasts/{broadcast.pk}/", {"local_time": {"date": DAY, "time": "11:00"}}, format="json"
        )
        assert response.status_code == 200, response.content
        renamed = shop.api.patch(f"/api/v1/broadcasts/{broadcast.pk}/", {"name": "Renamed"}, format="json")
    assert renamed.json()["local_time"] == {"date": DAY, "time": "11:00", "if_passed": None}
    assert planned(broadcast) == {
        urn: ("pending", at + timedelta(hours=1), "scheduled", "") for urn, at in WORLD_TIMES.items()
    }


def test_a_test_send_of_a_local_time_broadcast_goes_now(shop):
    contacts(shop)
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        broadcast = shop.broadcast(shop.create(**world()))
        response = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/test/", {"recipients": [UG]}, format="json")
    assert response.status_code == 200, response.content
    test = Message.objects.get(broadcast=broadcast, is_test=True)
    assert test.not_before is None


def test_cancelling_releases_the_zones_not_yet_sent(shop, recorder):
    contacts(shop)
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        broadcast = shop.broadcast(shop.create(**world()))
    with time_machine.travel(TEN["Asia/Tokyo"] + timedelta(seconds=1), tick=False):
        broadcasts_tick()
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        assert len(recorder.sent) == 3  # Kiritimati, and Tokyo twice
        response = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/cancel/")
    assert response.status_code == 200, response.content
    statuses = sorted(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True))
    assert statuses == ["cancelled"] * 5 + ["sent"] * 3
    assert shop.refresh().reserved == 0
