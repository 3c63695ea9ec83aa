"""Writes to the price list: routes (one at a time or a whole CSV), exchange rates, client overrides."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import structlog
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Client

from .models import ExchangeRate, PriceOverride, Route
from .validators import clean_route_fields, parse_amount, parse_rate, validate_currency

log = structlog.get_logger(__name__)

ROUTE_COLUMNS = (
    "channel",
    "country_code",
    "prefix",
    "route_code",
    "connector",
    "currency",
    "price_per_segment",
    "tier",
)
ROUTE_KEY = ("channel", "tier", "country_code", "prefix", "route_code")
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class RouteImportResult:
    routes: int  # rows in the file, each one route
    created: int
    updated: int


def _row_error(line: int, exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        detail = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
    else:
        detail = " ".join(exc.messages)
    return f"line {line}: {detail}"


def route_import_csv(*, lines: Iterable[str]) -> RouteImportResult:
    """Upsert routes from CSV text (SPEC §3 `importroutes`): every row is checked first, and either all
    rows are saved in one transaction or none is. Errors name their line (the header is line 1)."""
    reader = csv.DictReader(lines)
    header = [name.strip() for name in (reader.fieldnames or [])]
    if not header:
        raise ValidationError("line 1: the file is empty; expected the columns " + ",".join(ROUTE_COLUMNS) + ".")
    missing = [c for c in ROUTE_COLUMNS if c not in header]
    unknown = [c for c in header if c not in ROUTE_COLUMNS]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if missing or unknown or duplicated:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if duplicated:
            problems.append(f"repeated column(s) {', '.join(duplicated)}")
        raise ValidationError(f"line 1: {'; '.join(problems)}; expected {','.join(ROUTE_COLUMNS)}.")
    reader.fieldnames = header

    errors: list[str] = []
    rows: dict[tuple[object, ...], tuple[int, dict[str, object]]] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: more values than columns.")
            continue
        if any(row.get(k) is None for k in ROUTE_COLUMNS):
            errors.append(f"line {line}: fewer values than columns.")
            continue
        values = {k: str(row[k]).strip() for k in ROUTE_COLUMNS}
        if not any(values.values()):
            continue  # a line of empty values
        try:
            cleaned = clean_route_fields(**values)
        except ValidationError as exc:
            errors.append(_row_error(line, exc))
            continue
        key = tuple(cleaned[k] for k in ROUTE_KEY)
        if key in rows:
            errors.append(
                f"line {line}: the same route (channel, tier, country_code, prefix, route_code) as line {rows[key][0]}."
            )
            continue
        rows[key] = (line, cleaned)
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        shown = errors[:MAX_REPORTED_ERRORS] + ([f"… and {more} more."] if more > 0 else [])
        raise ValidationError(shown)
    if not rows:
        raise ValidationError("The file has a header but no routes.")

    routes = [Route(active=True, **cleaned) for _, cleaned in rows.values()]
    with transaction.atomic():
        before = Route.objects.count()
        Route.objects.bulk_create(
            routes,
            update_conflicts=True,
            unique_fields=list(ROUTE_KEY),
            update_fields=["connector", "currency", "price_per_segment", "active", "updated_at"],
        )
        created = Route.objects.count() - before
    result = RouteImportResult(routes=len(routes), created=created, updated=len(routes) - created)
    log.info("routes.imported", routes=result.routes, created=result.created, updated=result.updated)
    return result


def exchange_rate_set(*, from_currency: str, to_currency: str, rate: Decimal | str) -> ExchangeRate:
    """Set 1 FROM = RATE TO (SPEC §3 `setfxrate`), creating or replacing the pair."""
    errors: dict[str, list[str]] = {}
    codes: dict[str, str] = {}
    for name, value in (("from_currency", from_currency), ("to_currency", to_currency)):
        try:
            codes[name] = validate_currency(value)
        except ValidationError as exc:
            errors[name] = exc.messages
    try:
        parsed_rate = parse_rate(rate)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not errors and codes["from_currency"] == codes["to_currency"]:
        errors["to_currency"] = ["The two currencies must differ (1 USD is always 1 USD)."]
    if errors:
        raise ValidationError(errors)
    fx, _ = ExchangeRate.objects.update_or_create(
        from_currency=codes["from_currency"], to_currency=codes["to_currency"], defaults={"rate": parsed_rate}
    )
    log.info("fx.set", from_currency=fx.from_currency, to_currency=fx.to_currency)
    return fx


def price_override_set(
    *, client: Client, route: Route, price_per_segment: Decimal | str, currency: str = "", note: str = ""
) -> PriceOverride:
    """Give a client its own price for a route (blank currency: the route's)."""
    errors: dict[str, list[str]] = {}
    try:
        price = parse_amount(price_per_segment, field="price_per_segment")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if currency:
        try:
            currency = validate_currency(currency)
        except ValidationError as exc:
            errors["currency"] = exc.messages
    if errors:
        raise ValidationError(errors)
    override, _ = PriceOverride.objects.update_or_create(
        client=client, route=route, defaults={"price_per_segment": price, "currency": currency, "note": note[:500]}
    )
    log.info("price_override.set", client_id=str(client.pk), route_id=route.pk)
    return override
