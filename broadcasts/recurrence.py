"""Recurring series' rules (SPEC §8 "Campaigns"): parse `recurrence: {rule, start, timezone, count |
until}` and compute its occurrences. Pure: no database.

`rule` is an RFC 5545 RRULE read by python-dateutil over wall-clock times in `timezone` (a naive
`start`); each wall time becomes one UTC instant here, in Python with zoneinfo (never in SQL:
PostgreSQL reads an ambiguous time as the later instant):

- a time that does not exist (spring forward) moves to the first valid instant after it: the
  moment the clocks jump (02:30 on 2027-03-14 in New York → 03:00 EDT);
- an ambiguous time (fall back) takes the first instant (fold=0, RFC 5545's choice);
- two wall times that land on the same instant fire once (instants strictly increase).

The occurrences are bounded (≤ MAX_OCCURRENCES, within MAX_SPAN of the start), so the whole list
is computed at once; it is cached per rule.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil.rrule import rrule, rrulestr
from django.core.exceptions import ValidationError

FIELD = "recurrence"
RECURRING = "recurring"  # Broadcast.ScheduleMode.RECURRING (this module stays free of models)
MAX_OCCURRENCES = 1000
MIN_PERIOD = timedelta(minutes=15)
MIN_FIRST_AHEAD = timedelta(minutes=1)
# dateutil looks for the next occurrence up to year 9999: a rule that never matches (BYMONTHDAY=30
# in February) would take seconds. Nothing is looked for past this span after the start.
MAX_SPAN_YEARS = 20
RULE_PARTS = (
    "FREQ", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO",
    "BYMONTH", "BYSETPOS", "WKST",
)  # fmt: skip
KEYS = frozenset({"rule", "start", "timezone", "count", "until"})
_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_zone(name: object) -> bool:
    return isinstance(name, str) and name in _zones()


@dataclass(frozen=True)
class Recurrence:
    rule: str  # canonical: FREQ first, no DTSTART/COUNT/UNTIL (those are start, count, until)
    start: datetime  # naive, wall-clock in `timezone`
    timezone: str
    count: int | None = None
    until: datetime | None = None  # naive, wall-clock, inclusive

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "start": self.start.isoformat(),
            "timezone": self.timezone,
            "count": self.count,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recurrence:
        """A stored (normalized) recurrence."""
        until = data.get("until")
        return cls(
            rule=data["rule"],
            start=datetime.fromisoformat(data["start"]),
            timezone=data["timezone"],
            count=data.get("count"),
            until=datetime.fromisoformat(until) if until else None,
        )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def instants(self) -> tuple[datetime, ...]:
        """Every occurrence, as UTC instants, strictly increasing (at most MAX_OCCURRENCES + 1, so
        a caller can tell a rule that has too many)."""
        return _instants(self)

    def first_from(self, moment: datetime) -> datetime | None:
        """The first occurrence at or after `moment`."""
        instants = self.instants()
        index = bisect.bisect_left(instants, moment)
        return instants[index] if index < len(instants) else None

    def after(self, moment: datetime, *, limit: int = 1) -> list[datetime]:
        """Up to `limit` occurrences strictly after `moment`."""
        instants = self.instants()
        index = bisect.bisect_right(instants, moment)
        return list(instants[index : index + limit])

    def period_of(self, occurrence: datetime) -> timedelta | None:
        """The series' period at `occurrence`: the gap to the next occurrence (the last one: the gap
        from the one before; None for a series of one)."""
        instants = self.instants()
        index = bisect.bisect_left(instants, occurrence)
        if index + 1 < len(instants):
            return instants[index + 1] - instants[index]
        if index >= 1:
            return instants[index] - instants[index - 1]
        return None


def wall_to_utc(local: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """A naive wall-clock time in `zone` as a UTC instant: fold=0 for an ambiguous time (the first),
    the end of the gap for one that does not exist (the first valid instant after it)."""
    instant = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local:
        return instant
    # In a gap: fold=0 read it with the offset before the gap (an instant after the jump), fold=1
    # with the one after (an instant before it). The jump lies between: find it to the second.
    low = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = instant
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


@functools.lru_cache(maxsize=4096)
def _instants(recurrence: Recurrence) -> tuple[datetime, ...]:
    horizon = _add_years(recurrence.start, MAX_SPAN_YEARS)
    until = min(recurrence.until, horizon) if recurrence.until else horizon
    # dateutil stops looking at year 9999 whatever UNTIL says, and a rule that matches nothing
    # (BYMONTHDAY=30;BYMONTH=2) looks day by day until then: seconds. The Gregorian calendar
    # repeats exactly every 400 years, so the rule runs on dates moved as close to 9999 as that
    # allows (≤ 420 years to look through) and its dates are moved back.
    shift = 400 * max(0, (9999 - MAX_SPAN_YEARS - recurrence.start.year) // 400)
    start = recurrence.start.replace(year=recurrence.start.year + shift)
    rule = _rule(recurrence.rule, start).replace(until=until.replace(year=until.year + shift), count=None)
    wanted = min(recurrence.count or MAX_OCCURRENCES + 1, MAX_OCCURRENCES + 1)
    zone = recurrence.zone
    out: list[datetime] = []
    for shifted in rule:
        instant = wall_to_utc(shifted.replace(year=shifted.year - shift), zone)
        if out and instant <= out[-1]:
            continue  # two wall times on one instant (a gap): it fires once
        out.append(instant)
        if len(out) >= wanted:
            break
    return tuple(out)


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def _rule(text: str, start: datetime) -> rrule:
    parsed = rrulestr("RRULE:" + text, dtstart=start)
    if not isinstance(parsed, rrule):  # pragma: no cover - a single RRULE line is always an rrule
        raise ValueError("not a single rule")
    return parsed


def _error(message: str, code: str) -> ValidationError:
    return ValidationError({FIELD: [ValidationError(message, code=code)]})


def _canonical_rule(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error("recurrence.rule is required: an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO,TH.", "invalid_rule")
    text = value.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if not _PART.match(part):
            raise _error(f"recurrence.rule: '{part}' is not a rule part (NAME=VALUE).", "invalid_rule")
        name, _, setting = part.partition("=")
        if name in ("COUNT", "UNTIL", "DTSTART"):
            raise _error(
                f"recurrence.rule: give {name} as recurrence.{'start' if name == 'DTSTART' else name.lower()}.",
                "invalid_rule",
            )
        if name not in RULE_PARTS:
            raise _error(f"recurrence.rule: '{name}' is not an RRULE part.", "invalid_rule")
        if name in parts:
            raise _error(f"recurrence.rule: {name} is given twice.", "invalid_rule")
        parts[name] = setting
    if "FREQ" not in parts:
        raise _error("recurrence.rule needs FREQ (e.g. FREQ=WEEKLY;BYDAY=MO,TH).", "invalid_rule")
    ordered = {"FREQ": parts.pop("FREQ"), **parts}
    return ";".join(f"{name}={setting}" for name, setting in ordered.items())


def _local(value: object, name: str, *, date_ok: bool = False) -> datetime:
    """A naive wall-clock date-time (`until` may be a date: through the end of that day)."""
    example = "2027-03-01T09:00"
    if not isinstance(value, str) or not value.strip():
        raise _error(f"recurrence.{name} is required: a local date and time such as {example}.", f"invalid_{name}")
    text = value.strip()
    if date_ok and len(text) == 10:
        try:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59))
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or len(text) <= 10:
        raise _error(f"recurrence.{name}: use a local date and time such as {example}.", f"invalid_{name}")
    if parsed.tzinfo is not None:
        raise _error(
            f"recurrence.{name} is a wall-clock time in recurrence.timezone: give it without an offset ({example}).",
            f"invalid_{name}",
        )
    return parsed.replace(microsecond=0)


def parse_recurrence(value: object, *, default_timezone: str, now: datetime) -> Recurrence:
    """The `recurrence` of a create or an edit, checked: a ValidationError on `recurrence` (SPEC §8:
    a malformed rule, an unknown zone, count and until both, a rule that never fires from a minute
    ahead, one firing more often than every 15 minutes or more than 1,000 times)."""
    if not isinstance(value, dict):
        raise _error("recurrence is an object: {rule, start, timezone, count | until}.", "invalid")
    unknown = sorted(set(value) - KEYS)
    if unknown:
        names = ", ".join(unknown)
        raise _error(f"recurrence: unknown field {names} (takes rule, start, timezone, count, until).", "invalid")
    rule = _canonical_rule(value.get("rule"))
    start = _local(value.get("start"), "start")
    zone = value.get("timezone")
    if zone in (None, ""):
        zone = default_timezone if is_zone(default_timezone) else "UTC"
    elif not is_zone(zone):
        raise _error(f"recurrence.timezone: '{zone}' is not an IANA time zone (e.g. Europe/Paris).", "invalid_timezone")
    count, until = value.get("count"), value.get("until")
    if count is not None and until is not None:
        raise _error("recurrence: give count or until, not both.", "count_and_until")
    if count is None and until is None:
        raise _error(
            f"recurrence needs count or until: a series has at most {MAX_OCCURRENCES:,} occurrences.",
            "too_many_occurrences",
        )
    end: datetime | None = None
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise _error("recurrence.count is a whole number of occurrences, at least 1.", "invalid_count")
        if count > MAX_OCCURRENCES:
            raise _error(f"recurrence.count: at most {MAX_OCCURRENCES:,} occurrences.", "too_many_occurrences")
    else:
        end = _local(until, "until", date_ok=True)
    try:
        _rule(rule, start)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _error(f"recurrence.rule is not a valid RRULE: {exc}.", "invalid_rule") from None
    recurrence = Recurrence(rule=rule, start=start, timezone=str(zone), count=count, until=end)
    check_recurrence(recurrence, now=now)
    return recurrence


def check_recurrence(recurrence: Recurrence, *, now: datetime) -> None:
    """What the rule gives, checked (see parse_recurrence)."""
    instants = recurrence.instants()
    if len(instants) > MAX_OCCURRENCES:
        raise _error(f"recurrence: the rule has more than {MAX_OCCURRENCES:,} occurrences.", "too_many_occurrences")
    if recurrence.count and len(instants) < recurrence.count and instants:
        raise _error(
            f"recurrence: only {len(instants)} of the {recurrence.count} occurrences fall within "
            f"{MAX_SPAN_YEARS} years of the start.",
            "too_long",
        )
    gaps = [b - a for a, b in itertools.pairwise(instants)]
    if gaps and min(gaps) < MIN_PERIOD:
        raise _error("recurrence: the rule fires more often than every 15 minutes.", "too_frequent")
    if recurrence.first_from(now + MIN_FIRST_AHEAD) is None:
        raise _error("recurrence: the rule never fires (no occurrence from a minute from now on).", "never_fires")


def recurrence_of(
    data: dict[str, Any], *, mode: str, now: datetime, default_timezone: str
) -> tuple[Recurrence | None, list[tuple[str, str, str]]]:
    """The `recurrence` of a create body (validation.py) and its problems as (field, message, code).
    A series sends nothing itself: it is no draft, and saves no list (each occurrence would make the
    same list again)."""
    raw = data.get(FIELD)
    if mode != RECURRING:
        unexpected = (FIELD, "recurrence is only for schedule_mode 'recurring'.", "unexpected")
        return None, [unexpected] if raw is not None else []
    problems: list[tuple[str, str, str]] = []
    if data.get("status") == "draft":
        problems.append(("status", "A recurring series cannot be a draft: it sends nothing itself.", "invalid"))
    if data.get("list_name"):
        problems.append(("list_name", "list_name is not for a recurring series.", "unexpected"))
    if raw is None:
        problems.append(
            (FIELD, "A recurring broadcast needs recurrence: {rule, start, timezone, count | until}.", "required")
        )
        return None, problems
    try:
        return parse_recurrence(raw, default_timezone=default_timezone, now=now), problems
    except ValidationError as exc:
        problems.extend((FIELD, str(e.message), e.code or "invalid") for e in exc.error_dict[FIELD])
        return None, problems
