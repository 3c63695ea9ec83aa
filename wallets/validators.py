"""Validation of money amounts, currencies and route fields, shared by services, commands and the admin."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import phonenumbers
import pycountry
from django.core.exceptions import ValidationError

from accounts.channels import Channel

from .models import CATCH_ALL_COUNTRY, Tier

QUANTUM = Decimal("0.000001")
RATE_PLACES = 12
MAX_AMOUNT = Decimal("10") ** 14  # MoneyField: 20 digits, 6 of them decimals
MAX_RATE = Decimal("10") ** 12
ROUTE_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def validate_currency(value: str) -> str:
    code = (value or "").strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValidationError(f"'{value}' is not an ISO 4217 currency code (e.g. USD).", code="invalid_currency")
    return code


def _to_decimal(value: object, *, field: str) -> Decimal:
    if isinstance(value, float):  # a float already lost the exact amount the caller meant
        raise ValidationError({field: [f"'{value}' must be given as a Decimal or a string, not a float."]})
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [f"'{value}' is not a number."]}, code="invalid_amount") from None
    if not amount.is_finite():
        raise ValidationError({field: [f"'{value}' is not a number."]}, code="invalid_amount")
    return amount


def parse_amount(
    value: object, *, field: str = "amount", allow_negative: bool = False, allow_zero: bool = True
) -> Decimal:
    """A money amount with at most 6 decimal places (never rounded silently)."""
    amount = _to_decimal(value, field=field)
    if amount != amount.quantize(QUANTUM):
        raise ValidationError({field: [f"'{value}' has more than 6 decimal places."]}, code="invalid_amount")
    if amount < 0 and not allow_negative:
        raise ValidationError({field: [f"'{value}' must be a positive amount."]}, code="invalid_amount")
    if amount == 0 and not allow_zero:
        raise ValidationError({field: [f"'{value}' must not be zero."]}, code="invalid_amount")
    if abs(amount) >= MAX_AMOUNT:
        raise ValidationError({field: [f"'{value}' is too large."]}, code="invalid_amount")
    return amount.quantize(QUANTUM)


def parse_positive_amount(value: object, *, field: str = "amount") -> Decimal:
    """More than 0, at most 6 decimal places: what every money movement takes."""
    amount = _to_decimal(value, field=field)
    if amount <= 0:
        raise ValidationError({field: [f"'{value}' must be more than 0."]}, code="invalid_amount")
    return parse_amount(amount, field=field)


def parse_rate(value: object, *, field: str = "rate") -> Decimal:
    rate = _to_decimal(value, field=field)
    if rate <= 0:
        raise ValidationError({field: [f"'{value}' must be more than 0."]}, code="invalid_rate")
    if rate != rate.quantize(Decimal(1).scaleb(-RATE_PLACES)):
        raise ValidationError({field: [f"'{value}' has more than {RATE_PLACES} decimal places."]}, code="invalid_rate")
    if rate >= MAX_RATE:
        raise ValidationError({field: [f"'{value}' is too large."]}, code="invalid_rate")
    return rate


def validate_channel(value: str) -> str:
    channel = (value or "").strip().lower()
    if channel not in Channel.values:
        raise ValidationError(f"'{value}' is not a channel ({', '.join(Channel.values)}).", code="invalid_channel")
    return channel


def validate_tier(value: str) -> str:
    tier = (value or "").strip().lower()
    if tier not in Tier.values:
        raise ValidationError(f"'{value}' is not a tier ({', '.join(Tier.values)}).", code="invalid_tier")
    return tier


def validate_route_country(value: str) -> str:
    code = (value or "").strip().upper()
    if code != CATCH_ALL_COUNTRY and code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            f"'{value}' is not a country code (ISO 3166-1 alpha-2, e.g. UG; ZZ for any destination).",
            code="invalid_country",
        )
    return code


def validate_prefix(value: str, *, country_code: str) -> str:
    """E.164 digits without '+', starting with the country's calling code; '' for the whole country."""
    prefix = (value or "").strip().removeprefix("+")
    if prefix == "":
        return prefix
    if not prefix.isascii() or not prefix.isdigit() or len(prefix) > 15:
        raise ValidationError(
            f"'{value}' is not a number prefix (up to 15 digits of an E.164 number, e.g. 25677).", code="invalid_prefix"
        )
    if country_code == CATCH_ALL_COUNTRY:
        raise ValidationError("A ZZ (any destination) route cannot have a prefix.", code="invalid_prefix")
    calling_code = str(phonenumbers.country_code_for_region(country_code))
    if not prefix.startswith(calling_code):
        raise ValidationError(
            f"'{value}' does not start with {country_code}'s calling code {calling_code}.", code="invalid_prefix"
        )
    return prefix


def validate_route_code(value: str) -> str:
    code = (value or "").strip()
    if not ROUTE_CODE_RE.match(code):
        raise ValidationError(
            f"'{value}' is not a route code (1–64 letters, digits, '_', '-' or '.').", code="invalid_route_code"
        )
    return code


def validate_connector_name(value: str) -> str:
    name = (value or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("The connector's name must be 1–100 characters.", code="invalid_connector")
    return name


def clean_route_fields(
    *,
    channel: str,
    country_code: str,
    prefix: str,
    route_code: str,
    connector: str,
    currency: str,
    price_per_segment: object,
    tier: str,
) -> dict[str, object]:
    """Every field of a route checked at once: one ValidationError naming each bad field."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, object] = {}

    def check(field: str, fn: object) -> None:
        try:
            cleaned[field] = fn()  # type: ignore[operator]
        except ValidationError as exc:
            errors[field] = list(exc.messages)

    check("channel", lambda: validate_channel(channel))
    check("country_code", lambda: validate_route_country(country_code))
    if "country_code" in cleaned:
        check("prefix", lambda: validate_prefix(prefix, country_code=str(cleaned["country_code"])))
    check("route_code", lambda: validate_route_code(route_code))
    check("connector", lambda: validate_connector_name(connector))
    check("currency", lambda: validate_currency(currency))
    check("price_per_segment", lambda: parse_amount(price_per_segment, field="price_per_segment"))
    check("tier", lambda: validate_tier(tier or Tier.PREMIUM))
    if errors:
        raise ValidationError(errors)
    return cleaned
