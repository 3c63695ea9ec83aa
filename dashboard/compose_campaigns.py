"""Compose's campaign modes (SPEC §8 "Campaigns"): the Repeat and "at each recipient's local time"
fields of the wizard, read into the create body's `recurrence` and `local_time` (and back, for an
edit), and what the review and detail pages say of them in words.

Parsing and wording only: every rule (a rule too frequent, an unknown zone, a time already passed)
is the service's (broadcasts/recurrence.py, broadcasts/local_time.py). The form refuses only what it
alone gets wrong: a weekly series with no day, a missing time of day, a count that is no number.

The form's fields: `repeat_frequency` (daily, weekly, monthly), `repeat_days` (MO…SU, weekly),
`repeat_time` (HH:MM), `repeat_start` (a date; today when empty), `repeat_ends` (count or until) with
`repeat_count` / `repeat_until`, `repeat_timezone` (IANA; the user's zone when empty) and
`repeat_rule` (advanced: an RFC 5545 RRULE, used instead of the frequency and days); `local_date`,
`local_clock` and `local_if_passed` ("" refuse, send_now, skip)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from broadcasts.recurrence import MIN_FIRST_AHEAD, parse_recurrence

FREQUENCIES = (("daily", "Every day"), ("weekly", "Every week, on the days ticked"), ("monthly", "Every month"))
FREQ = {"daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY"}
WEEKDAYS = (
    ("MO", "Monday"), ("TU", "Tuesday"), ("WE", "Wednesday"), ("TH", "Thursday"), ("FR", "Friday"),
    ("SA", "Saturday"), ("SU", "Sunday"),
)  # fmt: skip
DAY_NAMES = dict(WEEKDAYS)
IF_PASSED_CHOICES = (
    ("", "Refuse the broadcast (nothing is sent; pick a later date)"),
    ("send_now", "Send to them at once"),
    ("skip", "Skip them"),
)
IF_PASSED_WORDS = {
    "": "refuse the broadcast",
    "send_now": "send to them at once",
    "skip": "skip them",
}
NEXT_RUNS = 5
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}


def _form_error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code="invalid")]})


def recurrence_body(form: QueryDict, zone: ZoneInfo) -> dict[str, Any]:
    """The body's `recurrence` from the Repeat fields (`zone`: the user's, the default)."""
    advanced = form.get("repeat_rule", "").strip()
    frequency = form.get("repeat_frequency", "weekly")
    if advanced:
        rule = advanced
    elif frequency not in FREQ:
        raise _form_error("repeat_frequency", "Choose how often: every day, every week or every month.")
    else:
        rule = f"FREQ={FREQ[frequency]}"
        if frequency == "weekly":
            days = [day for day, _name in WEEKDAYS if day in form.getlist("repeat_days")]
            if not days:
                raise _form_error("repeat_days", "Tick at least one day of the week.")
            rule += ";BYDAY=" + ",".join(days)
    clock = form.get("repeat_time", "").strip()
    if not clock:
        raise _form_error("repeat_time", "Give the time of day it goes (HH:MM).")
    where = form.get("repeat_timezone", "").strip() or str(zone)
    start = form.get("repeat_start", "").strip()
    if not start:
        try:
            start = timezone.now().astimezone(ZoneInfo(where)).date().isoformat()
        except (ValueError, KeyError):  # an unknown zone: the service names it
            start = timezone.now().date().isoformat()
    recurrence: dict[str, Any] = {"rule": rule, "start": f"{start}T{clock}", "timezone": where}
    if form.get("repeat_ends", "count") == "until":
        until = form.get("repeat_until", "").strip()
        if not until:
            raise _form_error("repeat_until", "Give the last day it may go.")
        recurrence["until"] = until
    else:
        count = form.get("repeat_count", "").strip()
        if not count.isdigit() or int(count) < 1:
            raise _form_error("repeat_count", "Give how many times it goes (a whole number, at least 1).")
        recurrence["count"] = int(count)
    return recurrence


def local_time_body(form: QueryDict) -> dict[str, Any]:
    """The body's `local_time` from the local-time fields."""
    local: dict[str, Any] = {"date": form.get("local_date", "").strip(), "time": form.get("local_clock", "").strip()}
    if form.get("local_if_passed") in ("send_now", "skip"):
        local["if_passed"] = form["local_if_passed"]
    return local


def campaign_fields(form: QueryDict, body: Mapping[str, Any]) -> None:
    """The Repeat and local-time fields from a body (form_from's part, for an edit or a copy)."""
    recurrence = body.get("recurrence")
    if isinstance(recurrence, Mapping) and recurrence.get("rule"):
        parts = rule_parts(str(recurrence["rule"]))
        frequency = {value: key for key, value in FREQ.items()}.get(parts.get("FREQ", ""))
        simple = frequency is not None and set(parts) <= ({"FREQ", "BYDAY"} if frequency == "weekly" else {"FREQ"})
        if simple and frequency == "weekly" and not _plain_days(parts.get("BYDAY", "")):
            simple = False
        if simple and frequency is not None:
            form["repeat_frequency"] = frequency
            form.setlist("repeat_days", parts.get("BYDAY", "").split(",") if parts.get("BYDAY") else [])
        else:
            form["repeat_rule"] = str(recurrence["rule"])
        start = datetime.fromisoformat(str(recurrence["start"]))
        form["repeat_start"], form["repeat_time"] = start.date().isoformat(), start.strftime("%H:%M")
        form["repeat_timezone"] = str(recurrence.get("timezone") or "")
        if recurrence.get("until"):
            form["repeat_ends"], form["repeat_until"] = "until", str(recurrence["until"])[:10]
        else:
            form["repeat_ends"], form["repeat_count"] = "count", str(recurrence.get("count") or "")
    local = body.get("local_time")
    if isinstance(local, Mapping):
        form["local_date"] = str(local.get("date") or "")
        form["local_clock"] = str(local.get("time") or "")[:5]
        form["local_if_passed"] = str(local.get("if_passed") or "")


def recurrence_changed(stored: Mapping[str, Any] | None, new: Mapping[str, Any], *, default_timezone: str) -> bool:
    """Whether the form's recurrence differs from a series' own (read by the service's parser): an
    edit that leaves the rule alone keeps the series' next run."""
    if not stored:
        return True
    try:
        parsed = parse_recurrence(dict(new), default_timezone=default_timezone, now=timezone.now())
    except ValidationError:
        return True  # the service names what is wrong
    return parsed.as_json() != dict(stored)


# --- in words ------------------------------------------------------------------------------------


def rule_parts(rule: str) -> dict[str, str]:
    text = rule.strip().upper().removeprefix("RRULE:")
    return dict(part.partition("=")[::2] for part in text.split(";") if "=" in part)


def _plain_days(value: str) -> list[str]:
    days = [day for day in value.split(",") if day]
    return days if days and all(day in DAY_NAMES for day in days) else []


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal_day(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def zone_words(name: str) -> str:
    """`Africa/Kampala` → `Kampala time`; `UTC` stays."""
    if name in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return "UTC"
    return name.rsplit("/", 1)[-1].replace("_", " ") + " time"


def _every(parts: dict[str, str], start: datetime) -> str | None:
    """How often, in words (`Every Monday and Thursday`), or None for a rule said only as a rule."""
    frequency, interval = parts.get("FREQ", ""), parts.get("INTERVAL", "1")
    if not interval.isdigit() or int(interval) < 1:
        return None
    step = int(interval)
    others = set(parts) - {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY"}
    if others:
        return None
    if frequency == "DAILY" and set(parts) <= {"FREQ", "INTERVAL"}:
        return "Every day" if step == 1 else f"Every {step} days"
    if frequency == "WEEKLY" and "BYMONTHDAY" not in parts:
        days = _plain_days(parts["BYDAY"]) if "BYDAY" in parts else [list(DAY_NAMES)[start.weekday()]]
        if not days:
            return None
        names = _joined([DAY_NAMES[day] for day in days])
        return f"Every {names}" if step == 1 else f"Every {step} weeks on {names}"
    if frequency == "MONTHLY":
        every = "Every month" if step == 1 else f"Every {step} months"
        if "BYDAY" in parts and "BYMONTHDAY" not in parts:
            day = parts["BYDAY"]
            number, name = day[:-2], day[-2:]
            if name in DAY_NAMES and number.lstrip("+-").isdigit() and int(number) in ORDINALS:
                return f"{every} on the {ORDINALS[int(number)]} {DAY_NAMES[name]}"
            return None
        if "BYDAY" in parts:
            return None
        raw = parts.get("BYMONTHDAY", str(start.day))
        if raw.isdigit() and 1 <= int(raw) <= 31:
            return f"{every} on the {_ordinal_day(int(raw))}"
        return "Every month on the last day" if raw == "-1" and step == 1 else None
    return None


def describe_recurrence(recurrence: Mapping[str, Any]) -> str:
    """A series' rule in words: "Every Monday and Thursday at 09:00 Kampala time, 10 times, from
    2027-01-04"; a rule the words do not cover is quoted."""
    rule = str(recurrence.get("rule") or "")
    start = datetime.fromisoformat(str(recurrence["start"]))
    zone = zone_words(str(recurrence.get("timezone") or "UTC"))
    every = _every(rule_parts(rule), start)
    if every is None:
        head = f"By the rule {rule}, from {start:%Y-%m-%d %H:%M} {zone}"
    else:
        head = f"{every} at {start:%H:%M} {zone}, from {start:%Y-%m-%d}"
    count, until = recurrence.get("count"), recurrence.get("until")
    if count:
        return f"{head}, {'once' if count == 1 else f'{count} times'}"
    if until:
        end = datetime.fromisoformat(str(until))
        last = end.date().isoformat() if end.strftime("%H:%M:%S") == "23:59:59" else f"{end:%Y-%m-%d %H:%M}"
        return f"{head}, until {last}"
    return head


def next_runs(recurrence: Mapping[str, Any], *, default_timezone: str, limit: int = NEXT_RUNS) -> list[datetime]:
    """The first runs a series of this recurrence would have if created now (as the create sets
    `next_run_at`: the first occurrence at least a minute ahead). Empty when the rule is refused."""
    try:
        parsed = parse_recurrence(dict(recurrence), default_timezone=default_timezone, now=timezone.now())
    except ValidationError:
        return []
    first = parsed.first_from(timezone.now() + MIN_FIRST_AHEAD)
    return [] if first is None else [first, *parsed.after(first, limit=limit - 1)]


def describe_local_time(local: Mapping[str, Any]) -> str:
    """In words: At 09:00 in each recipient's time zone, on Tuesday 2027-06-15."""
    day = date.fromisoformat(str(local["date"]))
    return f"At {str(local['time'])[:5]} in each recipient's time zone, on {day:%A %Y-%m-%d}"


def send_time_rows(send_times: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The precheck's recipients per send time, with datetimes for the page to show in the user's
    zone (`at` None: at once, their time had passed)."""
    rows = []
    for row in send_times:
        at = datetime.fromisoformat(row["at"].replace("Z", "+00:00")) if row.get("at") else None
        local = datetime.fromisoformat(row["local_at"]) if row.get("local_at") else None
        rows.append(
            {
                "at": at,
                "local_clock": local.strftime("%H:%M") if local else "",
                "timezone": row["timezone"],
                "zone_words": zone_words(row["timezone"]),
                "recipients": row["recipients"],
                "passed": row["passed"],
            }
        )
    return rows


def split_errors(field_errors: Mapping[str, list[str]]) -> dict[str, Any]:
    """The form's errors by fieldset: Repeat's (`repeat_…`, the service's `recurrence`), the local
    time's (`local_…`, `local_time…`) and the rest, each shown where its fields are."""
    repeat = {k: v for k, v in field_errors.items() if k.startswith(("repeat_", "recurrence"))}
    local = {k: v for k, v in field_errors.items() if k.startswith("local_")}
    rest = {k: v for k, v in field_errors.items() if k not in repeat and k not in local}
    return {
        "repeat_errors": [message for messages in repeat.values() for message in messages],
        "local_errors": [message for messages in local.values() for message in messages],
        "other_errors": rest,
    }
