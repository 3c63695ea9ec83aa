"""Sending at each recipient's local time (SPEC §8 "Campaigns": `schedule_mode: local_time`).

`local_time: {date, time, if_passed}` is a wall-clock time read in each recipient's own zone:

1. a `timezone` in the recipient's `recipient_variables` (the request speaks for this send, as its
   variables outrank the contact's fields when rendering, SPEC §6);
2. else the contact's `timezone` (IANA);
3. else the zone of the phone number, when phonenumbers' time-zone data gives exactly one;
4. else the client's time zone.

A wall time that does not exist (spring forward) becomes the first valid instant after it, the end of
the gap (02:30 in New York on 2027-03-14 → 03:00 EDT); an ambiguous one (fall back) is the first of
the two (fold=0, daylight time). Where the instant is already past, or less than `MIN_AHEAD` away,
when the broadcast is created, `if_passed` decides: absent → the create is refused (400 naming
`local_time` and the earliest such zone), `send_now` → those recipients get it at once, `skip` →
skipped with `error_code` `local_time_passed`. "Past" is measured against the create's clock
(`LocalTime.decided_at`), so a large audience prepared in the background later gets the same times
and the same skips as a small one; a time that passes while it is being prepared goes at once.

Each message carries its own `not_before` (wait reason `scheduled`); quiet hours are applied on top
by the planner, as for any marketing message. Everything here is pure (no database) and cached per
zone, so the planner pays a few dictionary lookups per recipient.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from contacts.validation import normalize_timezone

from .models import Broadcast
from .quiet_hours import phone_zones
from .recurrence import wall_to_utc

SEND_NOW = "send_now"
SKIP = "skip"
IF_PASSED = (SEND_NOW, SKIP)
SKIP_LOCAL_TIME_PASSED = "local_time_passed"
# SPEC §8: "already passed (or under a minute ahead)".
MIN_AHEAD = timedelta(minutes=1)
# Like `scheduled_at`: at most 90 days ahead, counted from the first zone to reach the time.
MAX_AHEAD = timedelta(days=90)
# A wall time comes first at UTC+14 (Pacific/Kiritimati) and last at UTC−12.
FIRST_OFFSET = timedelta(hours=14)
LAST_OFFSET = timedelta(hours=-12)
KEYS = frozenset({"date", "time", "if_passed"})
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLOCK = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")


class LocalTimeError(ValueError):
    """Problems of a `local_time` object: (field, message, code) each."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(message for _field, message, _code in problems))
        self.problems = problems


@dataclass(frozen=True)
class LocalTime:
    day: date
    clock: time
    if_passed: str  # "" (refuse), send_now or skip
    decided_at: datetime  # the create's clock: what "already passed" is measured against

    def as_json(self) -> dict[str, Any]:
        clock = self.clock.strftime("%H:%M:%S" if self.clock.second else "%H:%M")
        return {"date": self.day.isoformat(), "time": clock, "if_passed": self.if_passed or None}

    def describe(self) -> str:
        return f"{self.clock.strftime('%H:%M')} on {self.day.isoformat()}"


def parse_local_time(value: object, *, now: datetime) -> LocalTime:
    """`{date: "2027-03-28", time: "09:00", if_passed?: "send_now" | "skip"}`, checked; raises
    LocalTimeError naming each bad key. Refused too: a time already past (or under a minute
    ahead) in every zone on Earth, or more than 90 days ahead in the first."""
    if value is None or value == "":
        raise LocalTimeError([("local_time", "A local_time broadcast needs local_time: {date, time}.", "required")])
    if not isinstance(value, dict):
        raise LocalTimeError(
            [("local_time", 'local_time is an object: {"date": "2027-03-01", "time": "09:00"}.', "invalid")]
        )
    problems: list[tuple[str, str, str]] = [
        (f"local_time.{key}", f"Unknown field '{key}'.", "unknown_field") for key in sorted(set(value) - KEYS)
    ]
    day: date | None = None
    raw_day = value.get("date")
    if raw_day in (None, ""):
        problems.append(("local_time.date", "This field is required (YYYY-MM-DD).", "required"))
    else:
        try:
            if not isinstance(raw_day, str) or not DATE.match(raw_day):
                raise ValueError
            day = date.fromisoformat(raw_day)
        except ValueError:
            problems.append(("local_time.date", "Use a date as YYYY-MM-DD, e.g. 2027-03-01.", "invalid_date"))
    clock: time | None = None
    raw_clock = value.get("time")
    if raw_clock in (None, ""):
        problems.append(("local_time.time", "This field is required (HH:MM, the recipient's wall clock).", "required"))
    else:
        try:
            if not isinstance(raw_clock, str) or not CLOCK.match(raw_clock):
                raise ValueError
            clock = time.fromisoformat(raw_clock)
        except ValueError:
            problems.append(("local_time.time", "Use a time as HH:MM (24 hours, no zone), e.g. 09:00.", "invalid_time"))
    if_passed = value.get("if_passed")
    if if_passed is None:
        if_passed = ""
    elif if_passed not in IF_PASSED:
        problems.append(
            ("local_time.if_passed", f"'{if_passed}' is not one of: {', '.join(IF_PASSED)}.", "invalid_choice")
        )
        if_passed = ""
    if day is not None and clock is not None:
        wall = datetime.combine(day, clock, tzinfo=UTC)
        if wall - LAST_OFFSET < now + MIN_AHEAD:
            problems.append(
                (
                    "local_time",
                    f"{clock.strftime('%H:%M')} on {day.isoformat()} has already passed in every time zone.",
                    "local_time_passed",
                )
            )
        elif wall - FIRST_OFFSET > now + MAX_AHEAD:
            problems.append(("local_time", "local_time must be at most 90 days ahead.", "too_far"))
    if problems:
        raise LocalTimeError(problems)
    assert day is not None  # noqa: S101 - no problem: it parsed
    assert clock is not None  # noqa: S101
    return LocalTime(day=day, clock=clock, if_passed=str(if_passed), decided_at=now)


def zone_name(value: str) -> str:
    """An IANA name as IANA spells it, or "" when `value` is blank or not a zone."""
    try:
        return normalize_timezone(value)
    except ValueError:
        return ""


def wall_to_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) the wall clock of `zone` shows `clock` on `day`: the first of two (fall
    back), or the end of the gap when it never does (spring forward); recurrence.wall_to_utc, which
    recurring series use, so both modes read a wall time alike."""
    return wall_to_utc(datetime.combine(day, clock), zone)


@dataclass(frozen=True, slots=True)
class Slot:
    """One zone's answer: when the wall time happens there, whether that was already past (or under
    a minute ahead) when the broadcast was created, and when its messages may go before quiet hours."""

    zone: str
    send_at: datetime
    passed: bool
    start: datetime


class Recipient(Protocol):
    """What the zone of a recipient is read from (audience.Target)."""

    address: str
    timezone: str
    variables: dict[str, str]


@dataclass
class LocalTimeTally:
    """What a plan found, for the precheck, the create's status and its `skipped` count."""

    local: LocalTime
    # (when it goes — None: at once —, zone, passed) → recipients
    send_times: Counter[tuple[datetime | None, str, bool]] = field(default_factory=Counter)
    passed: Counter[Slot] = field(default_factory=Counter)  # recipients whose time had passed, by zone
    skipped: int = 0

    def passed_count(self) -> int:
        return sum(self.passed.values())

    def earliest_wait(self) -> datetime | None:
        """When the first message goes; None when some go at once (or none goes)."""
        times = [at for at, _zone, _passed in self.send_times]
        if not times or any(at is None for at in times):
            return None
        return min(at for at in times if at is not None)

    def refusal(self) -> str:
        """Why a create must be refused ("" when it need not be): the time already passed for some
        recipients and `if_passed` does not say what to do with them."""
        if self.local.if_passed or not self.passed:
            return ""
        earliest = min(self.passed, key=lambda slot: (slot.send_at, slot.zone))
        others = len({slot.zone for slot in self.passed}) - 1
        count = self.passed_count()
        more = f" and {others} other time zone{'s' if others != 1 else ''}" if others else ""
        return (
            f"{self.local.describe()} has already passed (or is less than a minute away) in {earliest.zone}{more}, "
            f"for {count} recipient{'s' if count != 1 else ''}. Set local_time.if_passed to 'send_now' or 'skip', "
            "or choose a later date."
        )

    def all_skipped(self) -> str:
        """The message when every recipient was skipped because their time had passed, else ""."""
        if not self.skipped:
            return ""
        return (
            f"{self.local.describe()} has already passed (or is less than a minute away) for every recipient "
            f"({self.skipped} skipped); choose a later date."
        )

    def send_times_json(self) -> list[dict[str, Any]]:
        rows = sorted(
            self.send_times.items(),
            key=lambda item: (item[0][0] is not None, item[0][0] or datetime.min.replace(tzinfo=UTC), item[0][1]),
        )
        return [
            {
                "at": None if at is None else _iso(at),
                "local_at": None if at is None else at.astimezone(ZoneInfo(zone)).isoformat(),
                "timezone": zone,
                "recipients": count,
                "passed": passed,
            }
            for (at, zone, passed), count in rows
        ]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class LocalTimePlan:
    """The planner's side of a local-time broadcast: each recipient's zone and time, tallied."""

    def __init__(self, local: LocalTime, *, client_zone: str, now: datetime) -> None:
        self.local = local
        self.client_zone = zone_name(client_zone) or "UTC"
        self.now = now
        self.tally = LocalTimeTally(local)
        self._slots: dict[str, Slot] = {}
        self._names: dict[str, str] = {}

    def _name(self, value: str) -> str:
        name = self._names.get(value)
        if name is None:
            name = self._names[value] = zone_name(value)
        return name

    def zone(self, recipient: Recipient) -> str:
        variable = recipient.variables.get("timezone") if recipient.variables else None
        if variable:
            name = self._name(variable)
            if name:
                return name
        if recipient.timezone:
            name = self._name(recipient.timezone)
            if name:
                return name
        if recipient.address.startswith("+"):
            zones = phone_zones(recipient.address)
            if len(zones) == 1:
                return zones[0]
        return self.client_zone

    def slot(self, recipient: Recipient) -> Slot:
        zone = self.zone(recipient)
        slot = self._slots.get(zone)
        if slot is None:
            local = self.local
            send_at = wall_to_instant(local.day, local.clock, ZoneInfo(zone))
            passed = send_at < local.decided_at + MIN_AHEAD
            slot = self._slots[zone] = Slot(zone, send_at, passed, self.now if passed else send_at)
        return slot

    def skips(self, recipient: Recipient, recipients: int = 1) -> bool:
        """True (and counted) when this recipient is skipped: its time passed and `if_passed` is skip."""
        if self.local.if_passed != SKIP:
            return False
        slot = self.slot(recipient)
        if not slot.passed:
            return False
        self.tally.skipped += recipients
        self.tally.passed[slot] += recipients
        return True

    def count(self, slot: Slot, due: datetime | None, recipients: int = 1) -> None:
        """A message planned to go at `due` (None: at once)."""
        self.tally.send_times[(due, slot.zone, slot.passed)] += recipients
        if slot.passed:
            self.tally.passed[slot] += recipients


def precheck_fields(tally: LocalTimeTally) -> dict[str, Any]:
    """The precheck's additions for a local-time broadcast (SPEC §8: recipients per send time)."""
    return {
        "send_times": tally.send_times_json(),
        "local_time_passed_count": tally.passed_count(),
    }


def start(tally: LocalTimeTally | None, status: str) -> tuple[str, datetime | None]:
    """(status, scheduled_at) of a broadcast just planned: a local-time one whose messages all wait
    is `scheduled` until its first message's time (beat starts it then, like a scheduled broadcast);
    one with messages going at once keeps `status` (queued)."""
    if tally is None or status != Broadcast.Status.QUEUED:
        return status, None
    earliest = tally.earliest_wait()
    if earliest is None:
        return status, None
    return Broadcast.Status.SCHEDULED, earliest


class _AddsErrors(Protocol):
    def add(self, name: str, message: str, code: str) -> None: ...


class _Recipient(Protocol):
    """What local_time_fields reads of a request's recipient (validation.RecipientInput)."""

    @property
    def index(self) -> int: ...

    @property
    def variables(self) -> dict[str, str]: ...


def local_time_fields(
    errors: _AddsErrors, data: dict[str, Any], mode: str, recipients: Sequence[_Recipient], now: datetime
) -> LocalTime | None:
    """`local_time` of a local-time broadcast (local_time.py), and each recipient's `timezone`
    variable, which must then be an IANA zone (other modes keep it as a plain variable)."""
    raw = data.get("local_time")
    if mode != Broadcast.ScheduleMode.LOCAL_TIME:
        if raw is not None:
            errors.add("local_time", "local_time is only for schedule_mode 'local_time'.", "unexpected")
        return None
    for recipient in recipients:
        zone = recipient.variables.get("timezone")
        if zone and not zone_name(zone):
            errors.add(
                f"recipient_variables.{recipient.index}.timezone",
                f"'{zone[:64]}' is not an IANA time zone (e.g. Africa/Kampala).",
                "invalid_timezone",
            )
    try:
        return parse_local_time(raw, now=now)
    except LocalTimeError as exc:
        for name, message, code in exc.problems:
            errors.add(name, message, code)
        return None
