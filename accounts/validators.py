"""Validation of tenant settings, shared by services, serializers and commands."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable

import phonenumbers
from django.core.exceptions import ValidationError

from .models import Scope
from .net import normalize_networks
from .ratelimit import validate_rate_limit


def validate_country(value: str) -> str:
    code = (value or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            f"'{value}' is not a country code phone numbers can be parsed for (ISO 3166-1 alpha-2, e.g. UG).",
            code="invalid_country",
        )
    return code


def validate_timezone(value: str) -> str:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not an IANA time zone (e.g. Africa/Kampala).", code="invalid_timezone")
    return value


def validate_rate(value: str) -> str:
    validate_rate_limit(value)
    return value.strip()


def validate_scopes(values: Iterable[str]) -> list[str]:
    scopes = [v.strip() for v in values if v and v.strip()]
    if not scopes:
        raise ValidationError("Give at least one scope.", code="required")
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown:
        raise ValidationError(
            f"Unknown scope(s): {', '.join(unknown)}. Valid scopes: {', '.join(Scope.values)}.",
            code="invalid_scope",
        )
    return list(dict.fromkeys(scopes))


def validate_networks(values: Iterable[str]) -> list[str]:
    try:
        return normalize_networks(v for v in values if v and v.strip())
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_cidr") from None
