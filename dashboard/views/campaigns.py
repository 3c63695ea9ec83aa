"""The campaign modes on the compose review and the detail page (SPEC §8 "Campaigns"): a recurring
series in words with its next runs and occurrences, a local-time broadcast's recipients per send
time; pause/resume/cancel of a series; the edit of a series. Reads and the services only: the
wording is dashboard/compose_campaigns.py's."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Client
from broadcasts import services
from broadcasts.models import Broadcast
from broadcasts.recurrence import parse_recurrence
from broadcasts.services.drafts import EDITABLE
from broadcasts.services.recurring_runs import SERIES_EDITABLE
from broadcasts.states import actions_allowed
from dashboard.access import Member
from dashboard.compose_campaigns import (
    IF_PASSED_WORDS,
    describe_local_time,
    describe_recurrence,
    next_runs,
    recurrence_changed,
    send_time_rows,
    zone_words,
)
from dashboard.selectors import local_time_bounds

RECURRING = Broadcast.ScheduleMode.RECURRING
LOCAL_TIME = Broadcast.ScheduleMode.LOCAL_TIME
PAST_SHOWN = 50  # a series' past occurrences on its page, newest first (the API pages them all)
# The dashboard's Pause and Resume of a series are the series' own actions (broadcasts.states).
SERIES_RULES = {"pause": "series_pause", "resume": "series_resume", "cancel": "cancel"}
SERIES_QUESTIONS = {
    "pause": "Pause this series? No run goes until you resume; of the runs due meanwhile only the latest "
    "is sent late on resume, and only if its next one has not come yet.",
    "resume": "Resume this series? Its next runs go at their times again.",
    "cancel": "Cancel this series? No more runs go; the broadcasts it already sent stay as they are. "
    "This cannot be undone.",
}


# --- the review ------------------------------------------------------------------------------------


def _run(at: datetime, zone: str, member: Member) -> dict[str, Any]:
    """A run: its instant (the page shows it in the user's zone, labelled) and, when the series is
    in another zone, its wall time there."""
    there = "" if zone == str(member.zone) else f"{at.astimezone(ZoneInfo(zone)):%H:%M} {zone_words(zone)}"
    return {"at": at, "there": there}


def review_context(body: dict[str, Any], precheck: dict[str, Any], member: Member) -> dict[str, Any]:
    """What the review says of a campaign mode: the series in words and its next runs, or the
    local time with the recipients per send time (precheck's `send_times`) and the if_passed choice."""
    mode = body.get("schedule_mode")
    client_zone = member.client.timezone or "UTC"
    if mode == RECURRING and isinstance(body.get("recurrence"), dict):
        try:
            recurrence = parse_recurrence(body["recurrence"], default_timezone=client_zone, now=timezone.now())
        except ValidationError:  # pragma: no cover - the precheck accepted it a moment ago
            return {}
        stored = recurrence.as_json()
        return {
            "series_words": describe_recurrence(stored),
            "next_runs": [
                _run(at, recurrence.timezone, member) for at in next_runs(stored, default_timezone=client_zone)
            ],
        }
    if mode == LOCAL_TIME and isinstance(body.get("local_time"), dict):
        local = body["local_time"]
        return {
            "local_words": describe_local_time(local),
            "if_passed_words": IF_PASSED_WORDS.get(local.get("if_passed") or "", ""),
            "send_times": send_time_rows(precheck.get("send_times") or []),
        }
    return {}


def local_time_refusal(body: dict[str, Any], precheck: dict[str, Any]) -> str:
    """The precheck's refusal of a local time already passed for some recipients while the form says
    "refuse" (`if_passed` absent): the form shows it on its field rather than a review without Send."""
    if body.get("schedule_mode") != LOCAL_TIME:
        return ""
    for warning in precheck.get("warnings") or []:
        if warning.get("code") == "local_time_passed":
            return str(warning["message"]).replace(" Create will refuse this broadcast.", "")
    return ""


# --- the edit --------------------------------------------------------------------------------------


def edit_patch(editing: Broadcast, body: dict[str, Any], client: Client) -> dict[str, Any]:
    """The PATCH an edit saves: the fields the service lets change (a series' own set); a series
    whose rule the form left alone keeps it (and its next run)."""
    if not services.is_series(editing):
        return {key: value for key, value in body.items() if key in EDITABLE}
    patch = {key: value for key, value in body.items() if key in SERIES_EDITABLE}
    if "recurrence" in patch and not recurrence_changed(
        editing.recurrence, patch["recurrence"], default_timezone=client.timezone or "UTC"
    ):
        patch.pop("recurrence")
    return patch


# --- the detail page -------------------------------------------------------------------------------


def series_actions(broadcast: Broadcast) -> frozenset[str]:
    """The rules (dashboard action names' `rule`) a series allows now: pause, resume and cancel only."""
    allowed = actions_allowed(broadcast.status)
    return frozenset(name for name, rule in SERIES_RULES.items() if rule in allowed)


def rule_for(rule: str, broadcast: Broadcast) -> str:
    """The broadcasts.states rule behind a dashboard action on this broadcast."""
    return SERIES_RULES.get(rule, rule) if services.is_series(broadcast) else rule


def series_question(action: str, broadcast: Broadcast) -> str:
    return SERIES_QUESTIONS.get(action, "") if services.is_series(broadcast) else ""


def detail_context(broadcast: Broadcast, member: Member) -> dict[str, Any]:
    """A series' rule in words, next run, past occurrences (newest first, each with its broadcast)
    and next ones; a local-time broadcast's time in words, its if_passed choice and when its first
    and last waiting messages go."""
    if services.is_series(broadcast) and broadcast.recurrence:
        zone = str(broadcast.recurrence.get("timezone") or "UTC")
        past = list(broadcast.occurrences.select_related("broadcast").order_by("-occurrence_at")[: PAST_SHOWN + 1])
        return {
            "series": {
                "words": describe_recurrence(broadcast.recurrence),
                "past": past[:PAST_SHOWN],
                "more_past": len(past) > PAST_SHOWN,
                "upcoming": [_run(at, zone, member) for at in services.series_upcoming(series=broadcast)],
            }
        }
    if broadcast.schedule_mode == LOCAL_TIME and broadcast.local_time:
        local = broadcast.local_time
        first, last = local_time_bounds(broadcast=broadcast)  # two index probes, even at a million
        return {
            "local": {
                "words": describe_local_time(local),
                "if_passed": IF_PASSED_WORDS.get(local.get("if_passed") or "", ""),
                "skipped": local.get("skipped") or 0,
                "first": first,
                "last": last,
            }
        }
    return {}
