"""Compose's campaign modes (SPEC §8 "Campaigns", issue 22's "Dashboard"): Repeat and "at each
recipient's local time" in plain words, read into the same create body the API takes and created by
the same service; a bad input shown on its field with nothing created; the review in words with the
next runs or the recipients per send time; a series' page with its occurrences and actions; a
child's link back; the edit of a series keeping its mode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.http import QueryDict

from accounts.models import Membership
from broadcasts.models import Broadcast, Message, Occurrence
from broadcasts.services import series_fire_due
from dashboard.compose_campaigns import describe_recurrence, zone_words
from dashboard.compose_form import body_from, form_from
from tests.broadcasts.conftest import KE, UG, US

R = Membership.Role
# A Tuesday afternoon in Kampala (UTC+3), outside every quiet-hour rule (the `daytime` of the suite).
TUESDAY = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def repeat_form(**fields: Any) -> dict[str, Any]:
    form = {
        "name": "Weekly deals",
        "channel": "sms",
        "content_mode": "text",
        "text": "Deals this week",
        "purpose": "marketing",
        "recipients": f"{UG}\n{KE}",
        "schedule_mode": "recurring",
        "repeat_frequency": "weekly",
        "repeat_days": ["MO", "TH"],
        "repeat_time": "09:00",
        "repeat_start": "2026-11-24",
        "repeat_timezone": "",
        "repeat_ends": "count",
        "repeat_count": "10",
    }
    form.update(fields)
    return {key: value for key, value in form.items() if value is not None}


def local_form(**fields: Any) -> dict[str, Any]:
    form = {
        "name": "Good morning",
        "channel": "sms",
        "content_mode": "text",
        "text": "Good morning",
        "purpose": "transactional",
        "recipients": f"{UG}\n{US}",
        "schedule_mode": "local_time",
        "local_date": "2026-11-25",
        "local_clock": "10:00",
        "local_if_passed": "",
    }
    form.update(fields)
    return form


def query(data: dict[str, Any]) -> QueryDict:
    form = QueryDict(mutable=True)
    for key, value in data.items():
        form.setlist(key, value if isinstance(value, list) else [value])
    return form


# --- the form's fields → the create body (pure) ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "recurrence"),
    [
        (
            {},
            {"rule": "FREQ=WEEKLY;BYDAY=MO,TH", "start": "2026-11-24T09:00", "timezone": "Africa/Kampala", "count": 10},
        ),
        (
            {"repeat_frequency": "daily", "repeat_ends": "until", "repeat_until": "2026-12-31", "repeat_days": []},
            {"rule": "FREQ=DAILY", "start": "2026-11-24T09:00", "timezone": "Africa/Kampala", "until": "2026-12-31"},
        ),
        (
            {"repeat_frequency": "monthly", "repeat_timezone": "Europe/Paris", "repeat_time": "18:30"},
            {"rule": "FREQ=MONTHLY", "start": "2026-11-24T18:30", "timezone": "Europe/Paris", "count": 10},
        ),
        (
            {"repeat_rule": "FREQ=MONTHLY;BYDAY=1MO", "repeat_count": "3"},
            {"rule": "FREQ=MONTHLY;BYDAY=1MO", "start": "2026-11-24T09:00", "timezone": "Africa/Kampala", "count": 3},
        ),
    ],
)
def test_the_repeat_fields_become_the_apis_recurrence(fields, recurrence):
    from zoneinfo import ZoneInfo

    from tests.factories.accounts import ClientFactory

    client = ClientFactory.build()
    body = body_from(query(repeat_form(**fields)), client, ZoneInfo("Africa/Kampala"))
    assert body["schedule_mode"] == "recurring"
    assert body["recurrence"] == recurrence
    assert "scheduled_at" not in body
    assert "local_time" not in body


def test_the_local_time_fields_become_the_apis_local_time_and_back():
    from zoneinfo import ZoneInfo

    from tests.factories.accounts import ClientFactory

    body = body_from(query(local_form(local_if_passed="skip")), ClientFactory.build(), ZoneInfo("UTC"))
    assert body["local_time"] == {"date": "2026-11-25", "time": "10:00", "if_passed": "skip"}
    refuse = body_from(query(local_form()), ClientFactory.build(), ZoneInfo("UTC"))
    assert refuse["local_time"] == {"date": "2026-11-25", "time": "10:00"}  # absent: refuse
    form = form_from(
        {**body, "local_time": {"date": "2026-11-25", "time": "10:00", "if_passed": "skip"}}, ZoneInfo("UTC")
    )
    assert (form["schedule_mode"], form["local_date"], form["local_clock"], form["local_if_passed"]) == (
        "local_time", "2026-11-25", "10:00", "skip",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("recurrence", "words"),
    [
        (
            {
                "rule": "FREQ=WEEKLY;BYDAY=MO,TH",
                "start": "2027-01-04T09:00:00",
                "timezone": "Africa/Kampala",
                "count": 10,
            },
            "Every Monday and Thursday at 09:00 Kampala time, from 2027-01-04, 10 times",
        ),
        (
            {"rule": "FREQ=DAILY", "start": "2027-01-04T18:30:00", "timezone": "Europe/Paris", "count": 1},
            "Every day at 18:30 Paris time, from 2027-01-04, once",
        ),
        (
            {
                "rule": "FREQ=DAILY;INTERVAL=2",
                "start": "2027-01-04T07:00:00",
                "timezone": "UTC",
                "until": "2027-02-01T23:59:59",
            },
            "Every 2 days at 07:00 UTC, from 2027-01-04, until 2027-02-01",
        ),
        (
            {"rule": "FREQ=WEEKLY", "start": "2027-01-06T09:00:00", "timezone": "America/New_York", "count": 4},
            "Every Wednesday at 09:00 New York time, from 2027-01-06, 4 times",
        ),
        (
            {"rule": "FREQ=MONTHLY", "start": "2027-01-03T09:00:00", "timezone": "Africa/Kampala", "count": 12},
            "Every month on the 3rd at 09:00 Kampala time, from 2027-01-03, 12 times",
        ),
        (
            {
                "rule": "FREQ=MONTHLY;BYDAY=1MO",
                "start": "2027-01-04T09:00:00",
                "timezone": "Africa/Kampala",
                "count": 2,
            },
            "Every month on the first Monday at 09:00 Kampala time, from 2027-01-04, 2 times",
        ),
        (
            {
                "rule": "FREQ=HOURLY;BYHOUR=9,17",
                "start": "2027-01-04T09:00:00",
                "timezone": "Africa/Kampala",
                "count": 6,
            },
            "By the rule FREQ=HOURLY;BYHOUR=9,17, from 2027-01-04 09:00 Kampala time, 6 times",
        ),
    ],
)
def test_a_rule_in_words(recurrence, words):
    assert describe_recurrence(recurrence) == words


def test_zone_words():
    assert [zone_words(z) for z in ("Africa/Kampala", "America/Argentina/Buenos_Aires", "UTC")] == [
        "Kampala time", "Buenos Aires time", "UTC",
    ]  # fmt: skip


# --- Repeat: review and create ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_weekly_series_is_reviewed_in_words_with_its_next_runs_and_created_by_the_service(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        compose = web.get("/broadcasts/new/").content.decode()
        assert 'value="recurring"' in compose
        assert "At each recipient's local time" in compose
        assert 'name="repeat_timezone" list="time-zones" value="Africa/Kampala"' in compose  # the user's zone
        review = web.post("/broadcasts/new/", {**repeat_form(), "step": "review"})
        assert review.status_code == 200, review.content.decode()
        page = review.content.decode()
        assert "Every Monday and Thursday at 09:00 Kampala time, from 2026-11-24, 10 times" in page
        runs = page.split('data-testid="next-runs"')[1].split("</ol>")[0]
        assert runs.count("<li>") == 5
        assert "Thursday 2026-11-26 09:00 EAT" in runs
        assert "Thursday 2026-12-10 09:00 EAT" in runs
        assert "Cost of each run" in page
        assert "Nothing is reserved now" in page
        assert Broadcast.objects.count() == 0  # a review creates nothing

        sent = web.post("/broadcasts/new/", {**repeat_form(), "step": "send"})
    assert sent.status_code == 302, sent.content.decode()
    series = Broadcast.objects.get(name="Weekly deals")
    assert (series.schedule_mode, series.status, series.next_run_at, series.created_by_user) == (
        "recurring", "scheduled", utc(2026, 11, 26, 6, 0), web.user,
    )  # fmt: skip
    assert series.recurrence == {
        "rule": "FREQ=WEEKLY;BYDAY=MO,TH",
        "start": "2026-11-24T09:00:00",
        "timezone": "Africa/Kampala",
        "count": 10,
        "until": None,
    }
    assert Message.objects.count() == 0
    assert shop.refresh().reserved == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"repeat_days": []}, "Tick at least one day of the week."),
        ({"repeat_rule": "FREQ=MINUTELY;INTERVAL=5"}, "fires more often than every 15 minutes"),
        ({"repeat_timezone": "Mars/Olympus_Mons"}, "&#x27;Mars/Olympus_Mons&#x27; is not an IANA time zone"),
        ({"repeat_count": "2000"}, "at most 1,000 occurrences"),
        ({"repeat_count": ""}, "Give how many times it goes"),
        ({"repeat_start": "2026-01-01", "repeat_count": "3"}, "the rule never fires"),
        ({"repeat_time": ""}, "Give the time of day it goes"),
    ],
)
@pytest.mark.parametrize("step", ["review", "send"])
def test_a_bad_repeat_is_shown_on_its_fields_and_creates_nothing(login, shop, fields, said, step):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        response = web.post("/broadcasts/new/", {**repeat_form(**fields), "step": step})
    assert response.status_code == 400
    page = response.content.decode()
    errors = page.split('data-testid="repeat-errors"')[1].split("</ul>")[0]
    assert said in errors, page
    assert 'value="recurring" checked' in page  # the form as typed, Repeat still chosen
    assert Broadcast.objects.count() == 0


# --- local time: review and create -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_local_time_broadcast_shows_recipients_per_send_time_and_is_created(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        review = web.post("/broadcasts/new/", {**local_form(), "step": "review"})
        assert review.status_code == 200, review.content.decode()
        page = review.content.decode()
        assert "At 10:00 in each recipient&#x27;s time zone, on Wednesday 2026-11-25" in page
        assert "where that time has already passed: refuse the broadcast" in page
        table = page.split('data-testid="send-times"')[1].split("</table>")[0]
        # Kampala's 10:00 is 10:00 EAT for the user; New York's is 18:00 EAT; one recipient each.
        assert "Wednesday 2026-11-25 10:00 EAT" in table
        assert "Africa/Kampala" in table
        assert "Wednesday 2026-11-25 18:00 EAT" in table
        assert "America/New_York" in table
        sent = web.post("/broadcasts/new/", {**local_form(), "step": "send"})
        assert sent.status_code == 302, sent.content.decode()
        broadcast = Broadcast.objects.get(name="Good morning")
        assert (broadcast.schedule_mode, broadcast.status) == ("local_time", "scheduled")
        assert broadcast.local_time["date"] == "2026-11-25"
        assert broadcast.local_time["time"] == "10:00"
        assert sorted(Message.objects.filter(broadcast=broadcast).values_list("not_before", flat=True)) == [
            utc(2026, 11, 25, 7, 0), utc(2026, 11, 25, 15, 0),
        ]  # fmt: skip
        detail = web.get(f"/broadcasts/{broadcast.pk}/").content.decode()
    local = detail.split('data-testid="local-time"')[1].split("</div>")[0]
    assert "At 10:00 in each recipient&#x27;s time zone, on Wednesday 2026-11-25" in local
    assert "The first go Wednesday 2026-11-25 10:00 EAT, the last Wednesday 2026-11-25 18:00 EAT" in local


@pytest.mark.django_db
def test_a_local_time_already_passed_with_refuse_is_shown_on_the_form_and_creates_nothing(login, shop):
    # 14:00 on the day: passed in Kampala (it is 15:00 there), still ahead in New York.
    today = {"local_date": "2026-11-24", "local_clock": "14:00"}
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        for step in ("review", "send"):
            response = web.post("/broadcasts/new/", {**local_form(**today), "step": step})
            assert response.status_code == 400, step
            errors = response.content.decode().split('data-testid="local-time-errors"')[1].split("</ul>")[0]
            assert "has already passed" in errors
            assert "Africa/Kampala" in errors
        gone = web.post("/broadcasts/new/", {**local_form(local_date="2026-11-20"), "step": "review"})
        assert gone.status_code == 400
        assert "has already passed in every time zone" in gone.content.decode()
        assert Broadcast.objects.count() == 0
        skip = web.post("/broadcasts/new/", {**local_form(**today, local_if_passed="skip"), "step": "review"})
        assert skip.status_code == 200
        assert "where that time has already passed: skip them" in skip.content.decode()
        sent = web.post("/broadcasts/new/", {**local_form(**today, local_if_passed="skip"), "step": "send"})
    assert sent.status_code == 302
    broadcast = Broadcast.objects.get(name="Good morning")
    assert list(Message.objects.filter(broadcast=broadcast, status="skipped").values_list("urn", flat=True)) == [
        f"tel:{UG}"
    ]


# --- the series' page ------------------------------------------------------------------------------


def _series(shop: Any) -> Broadcast:
    """Daily at 10:00 Kampala from Monday 2027-01-04, five times; fired on the 4th (created), then on
    the 6th (the 5th missed, the 6th created); a failed one added as a 402 would record it."""
    body = {
        "name": "Daily tip",
        "recipients": [UG, KE],
        "schedule_mode": "recurring",
        "recurrence": {"rule": "FREQ=DAILY", "start": "2027-01-04T10:00", "timezone": "Africa/Kampala", "count": 5},
    }
    with time_machine.travel(utc(2027, 1, 4, 6, 0), tick=False):
        response = shop.create(**body)
    assert response.status_code == 201, response.content
    series = shop.broadcast(response)
    for moment in (utc(2027, 1, 4, 7, 0, 5), utc(2027, 1, 6, 7, 0, 5)):
        with time_machine.travel(moment, tick=False):
            series_fire_due()
    series.refresh_from_db()
    return series


@pytest.mark.django_db
def test_a_series_page_says_its_rule_next_run_and_occurrences_and_a_child_links_back(login, shop):
    series = _series(shop)
    assert sorted(Occurrence.objects.filter(series=series).values_list("status", flat=True)) == [
        "created", "created", "missed",
    ]  # fmt: skip
    with time_machine.travel(utc(2027, 1, 6, 8, 0), tick=False):
        web = login(R.MANAGER, shop.client)
        page = web.get(f"/broadcasts/{series.pk}/").content.decode()
        child = series.children.order_by("occurrence_at").first()
        assert child is not None
        child_page = web.get(f"/broadcasts/{child.pk}/").content.decode()
    assert "Every day at 10:00 Kampala time, from 2027-01-04, 5 times." in page
    assert 'data-testid="next-run">Thursday 2027-01-07 10:00 EAT<' in page
    upcoming = page.split('data-testid="upcoming"')[1].split("</ol>")[0]
    assert upcoming.count("<li>") == 2  # the 7th and the 8th: five in all
    table = page.split('data-testid="occurrences"')[1].split("</table>")[0]
    assert table.index("Wednesday 2027-01-06") < table.index("Tuesday 2027-01-05") < table.index("Monday 2027-01-04")
    assert "Missed" in table
    assert f'href="/broadcasts/{child.pk}/"' in table
    assert 'data-testid="funnel-sent"' not in page  # a series sends nothing itself: no progress
    assert f'A run of the series <a href="/broadcasts/{series.pk}/">Daily tip</a>' in child_page
    assert "due Monday 2027-01-04 10:00 EAT" in child_page


@pytest.mark.django_db
def test_a_failed_run_says_why(login, shop):
    series = _series(shop)
    Occurrence.objects.create(
        series=series,
        occurrence_at=utc(2027, 1, 3, 7, 0),
        status="failed",
        error_code="insufficient_credit",
        error_message="This broadcast needs 0.02 USD; 0.00 USD is available.",
    )
    with time_machine.travel(utc(2027, 1, 6, 8, 0), tick=False):
        page = login(R.VIEWER, shop.client).get(f"/broadcasts/{series.pk}/").content.decode()
    assert "Failed: This broadcast needs 0.02 USD; 0.00 USD is available." in page


@pytest.mark.django_db
def test_pause_resume_and_cancel_a_series_from_its_page(login, shop):
    series = _series(shop)
    with time_machine.travel(utc(2027, 1, 6, 8, 0), tick=False):
        web = login(R.MANAGER, shop.client)
        actions = web.get(f"/broadcasts/{series.pk}/").content.decode().split('id="actions-title"')[1]
        assert 'id="action-pause"' in actions
        assert 'id="action-cancel"' in actions
        assert 'id="action-resume"' not in actions
        assert 'id="action-test"' not in actions
        confirm = web.get(f"/broadcasts/{series.pk}/pause/").content.decode()
        assert "Pause this series?" in confirm
        assert "Only a" not in confirm
        assert web.post(f"/broadcasts/{series.pk}/pause/").status_code == 302
        series.refresh_from_db()
        assert series.status == "paused"
        actions = web.get(f"/broadcasts/{series.pk}/").content.decode().split('id="actions-title"')[1]
        assert 'id="action-resume"' in actions
        assert 'id="action-pause"' not in actions
        assert web.post(f"/broadcasts/{series.pk}/resume/").status_code == 302
        series.refresh_from_db()
        assert (series.status, series.next_run_at) == ("scheduled", utc(2027, 1, 7, 7, 0))
        assert web.post(f"/broadcasts/{series.pk}/cancel/").status_code == 302
        series.refresh_from_db()
        assert (series.status, series.next_run_at) == ("cancelled", None)
        page = web.get(f"/broadcasts/{series.pk}/").content.decode()
    assert "No run to come: the series is cancelled." in page


# --- the edit of a series --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_edit_of_a_series_keeps_its_mode_and_changes_the_future_runs(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        assert web.post("/broadcasts/new/", {**repeat_form(), "step": "send"}).status_code == 302
        series = Broadcast.objects.get(name="Weekly deals")
        edit = web.get(f"/broadcasts/{series.pk}/edit/").content.decode()
        assert 'value="recurring" checked' in edit
        assert 'name="repeat_days" value="MO" checked' in edit
        assert 'name="repeat_days" value="TH" checked' in edit
        assert 'name="repeat_days" value="TU" checked' not in edit
        assert 'name="repeat_time" value="09:00"' in edit
        assert 'name="repeat_count" value="10"' in edit
        assert 'name="repeat_start" value="2026-11-24"' in edit

        # The text alone changes: the rule, and so the next run, stay.
        form = {**repeat_form(text="New deals"), "edit_of": str(series.pk)}
        review = web.post("/broadcasts/new/", {**form, "step": "review"})
        assert review.status_code == 200
        assert "Save changes" in review.content.decode()
        assert web.post("/broadcasts/new/", {**form, "step": "send"}).status_code == 302
        series.refresh_from_db()
        assert (series.text, series.schedule_mode, series.next_run_at) == (
            {"": "New deals"}, "recurring", utc(2026, 11, 26, 6, 0),
        )  # fmt: skip

        # Tuesdays only, three times: the future runs follow.
        form = {**repeat_form(repeat_days=["TU"], repeat_count="3"), "edit_of": str(series.pk)}
        assert web.post("/broadcasts/new/", {**form, "step": "send"}).status_code == 302
    series.refresh_from_db()
    assert (series.recurrence["rule"], series.recurrence["count"], series.next_run_at) == (
        "FREQ=WEEKLY;BYDAY=TU", 3, utc(2026, 12, 1, 6, 0),
    )  # fmt: skip
    assert Broadcast.objects.count() == 1


@pytest.mark.django_db
def test_the_edit_of_a_local_time_broadcast_keeps_its_mode(login, shop):
    with time_machine.travel(TUESDAY, tick=False):
        web = login(R.MANAGER, shop.client)
        assert web.post("/broadcasts/new/", {**local_form(local_if_passed="skip"), "step": "send"}).status_code == 302
        broadcast = Broadcast.objects.get(name="Good morning")
        edit = web.get(f"/broadcasts/{broadcast.pk}/edit/").content.decode()
        assert 'value="local_time" checked' in edit
        assert 'name="local_date" value="2026-11-25"' in edit
        assert 'name="local_clock" value="10:00"' in edit
        assert 'name="local_if_passed" value="skip" checked' in edit
        form = {**local_form(local_clock="11:30", local_if_passed="skip"), "edit_of": str(broadcast.pk)}
        assert web.post("/broadcasts/new/", {**form, "step": "send"}).status_code == 302
    broadcast.refresh_from_db()
    assert (broadcast.schedule_mode, broadcast.local_time["time"]) == ("local_time", "11:30")
    assert sorted(Message.objects.filter(broadcast=broadcast).values_list("not_before", flat=True)) == [
        utc(2026, 11, 25, 8, 30),
        utc(2026, 11, 25, 16, 30),
    ]
