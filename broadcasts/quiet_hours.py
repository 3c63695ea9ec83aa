"""Quiet hours for marketing messages, in each recipient's local time (SPEC §8). Pure functions.

The rule table is the product's documented policy (docs/broadcasts.md repeats it). A country not in
the table has no quiet hours. A number's local time comes from `phonenumbers`' time-zone data; when a
number could be in several zones (some US area codes), it is quiet when it is quiet in any of them,
so nobody is woken up. Public holidays come from the `holidays` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX


@dataclass(frozen=True)
class QuietRule:
    """No marketing between `start` and `end` local time (overnight when end <= start)."""

    start: time
    end: time
    sundays: bool = False
    public_holidays: bool = False
    basis: str = ""


QUIET_RULES: dict[str, QuietRule] = {
    # France: no commercial SMS 22:00–08:00, nor on Sundays and public holidays (CNIL / FFT code of
    # conduct for SMS marketing).
    "FR": QuietRule(time(22, 0), time(8, 0), sundays=True, public_holidays=True, basis="CNIL / FFT SMS code"),
    # United States: TCPA allows telephone solicitations only 08:00–21:00 at the called party's location.
    "US": QuietRule(time(21, 0), time(8, 0), basis="TCPA 47 CFR 64.1200(c)(1)"),
}

MAX_STEPS = 30


@lru_cache(maxsize=64)
def _holiday_calendar(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def _is_day_off(rule: QuietRule, country: str, day: date) -> bool:
    if rule.sundays and day.weekday() == 6:
        return True
    return rule.public_holidays and day in _holiday_calendar(country, day.year)


def _quiet_until(rule: QuietRule, country: str, local: datetime) -> datetime | None:
    """If `local` is in quiet hours, the local moment they end (may itself be quiet: loop); else None."""
    if _is_day_off(rule, country, local.date()):
        return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=local.tzinfo)
    clock = local.time()
    overnight = rule.end <= rule.start
    if overnight:
        if clock >= rule.start:
            return datetime.combine(local.date() + timedelta(days=1), rule.end, tzinfo=local.tzinfo)
        if clock < rule.end:
            return datetime.combine(local.date(), rule.end, tzinfo=local.tzinfo)
        return None
    if rule.start <= clock < rule.end:
        return datetime.combine(local.date(), rule.end, tzinfo=local.tzinfo)
    return None


def next_allowed(country: str, zones: Sequence[str], at: datetime) -> datetime:
    """The first instant at or after `at` (aware) when a marketing message may go out."""
    rule = QUIET_RULES.get(country)
    if rule is None or not zones:
        return at
    moment = at
    for _ in range(MAX_STEPS):
        latest: datetime | None = None
        for zone in zones:
            local = moment.astimezone(ZoneInfo(zone))
            until = _quiet_until(rule, country, local)
            if until is not None:
                # Re-normalize through UTC: wall-clock arithmetic across a DST change.
                candidate = until.astimezone(ZoneInfo("UTC"))
                latest = candidate if latest is None or candidate > latest else latest
        if latest is None:
            return moment
        moment = latest
    return moment


def is_quiet(country: str, zones: Sequence[str], at: datetime) -> bool:
    return next_allowed(country, zones, at) != at


# Time-zone data is keyed by number prefixes (country code + area code); the first 7 digits pin the
# zone, so a number is parsed only the first time its prefix is seen.
ZONE_PREFIX_DIGITS = 7
_zones_by_prefix: dict[str, tuple[str, ...]] = {}


def _parse_zones(e164: str) -> tuple[str, ...] | None:
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    return tuple(z for z in phone_timezone.time_zones_for_number(number) if z != phone_timezone.UNKNOWN_TIMEZONE)


def number_zones(e164: str, country: str) -> tuple[str, ...]:
    """Time zones a number may be in; () when its country has no quiet rule (no need to know)."""
    if country not in QUIET_RULES:
        return ()
    prefix = e164[: ZONE_PREFIX_DIGITS + 1]
    zones = _zones_by_prefix.get(prefix)
    if zones is None:
        zones = _parse_zones(e164)
        if zones is None:
            return ()
        _zones_by_prefix[prefix] = zones
    return zones


# Any country (sends at the recipient's local time, local_time.py): the longest prefix phonenumbers'
# time-zone data is keyed by (up to 9 digits, e.g. Brazilian area codes) decides; numbers sharing it
# are parsed once.
_any_zones_by_prefix: dict[str, tuple[str, ...]] = {}
MAX_CACHED_PREFIXES = 200_000


def phone_zones(e164: str) -> tuple[str, ...]:
    """Time zones an E.164 number may be in, in any country; () when phonenumbers knows none."""
    prefix = e164[: TIMEZONE_LONGEST_PREFIX + 1]
    zones = _any_zones_by_prefix.get(prefix)
    if zones is None:
        zones = _parse_zones(e164) or ()
        if len(_any_zones_by_prefix) >= MAX_CACHED_PREFIXES:
            _any_zones_by_prefix.clear()
        _any_zones_by_prefix[prefix] = zones
    return zones
