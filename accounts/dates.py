"""ISO 8601 date-times from integrators, parsed once the same way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime


def parse_iso_datetime(value: object) -> datetime | None:
    """An aware datetime (no offset means UTC), or None when `value` is not one.

    Django's parse_datetime answers None for text that does not look like a date-time but raises
    ValueError for one that does and cannot exist (`2027-02-30T10:00:00Z`, `T25:00`); both are None
    here, so callers answer 400 rather than 500.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        return parsed.replace(tzinfo=UTC)
    # In UTC: PostgreSQL keeps offsets only up to ±15:59, and `+18:11` is valid ISO 8601.
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # past year 9999 (or before year 1) once in UTC
        return None
