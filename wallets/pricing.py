"""The quote engine: which route each message takes and what it costs. Pure — no database access —
so it is fast and can be tested exhaustively; `selectors.quote_for_wallet` loads its inputs.

Matching (per message, among the routes of the channel and tier — or of the forced route code):
  1. the longest route prefix that the number's E.164 digits start with;
  2. else the route of the number's country (empty prefix), the country as phonenumbers sees it;
  3. else the channel's catch-all route (country ZZ), if any; also the only route for addresses
     that are not phone numbers (Telegram chat ids).
Several routes for the same prefix or country (different route codes): the cheapest in the wallet's
currency wins, then the lowest route code.

Money: route cost = price per segment × segments (× 1 message for non-SMS channels), exact in the
route's currency; wallet cost = route cost × exchange rate, rounded half-up to 6 places, per
message. Totals are sums of message costs, so what a broadcast reserves from a quote is exactly the
sum of what its batches capture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from typing import Any

import pycountry
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

from accounts.channels import Channel

from .models import CATCH_ALL_COUNTRY, Tier
from .numbering import region_for_digits

Q6 = Decimal("0.000001")
ZERO = Decimal("0")
ONE = Decimal("1")
UNROUTABLE_SAMPLE = 20
PRECISION = 60  # enough digits that no product or sum is ever rounded before we say so

INVALID_NUMBER = "invalid_number"
NO_ROUTE = "no_route"
NO_EXCHANGE_RATE = "no_exchange_rate"

# Channels whose recipients are phone numbers; Telegram may also address a chat id.
PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.RCS})


@dataclass(frozen=True, slots=True)
class PriceRoute:
    """A route as one client sees it: `currency` and `price_per_segment` with its override applied."""

    route_id: int
    channel: str
    tier: str
    country_code: str
    prefix: str
    route_code: str
    connector: str
    currency: str
    price_per_segment: Decimal
    overridden: bool = False
    own: bool = False  # through the client's own connector (SPEC §10): preferred to a platform route


@dataclass(frozen=True, slots=True, eq=False)
class PricedMessage:
    """How one message goes and what it costs. Shared by every message of the same route and segments."""

    route_id: int
    route_code: str
    connector: str
    country_code: str
    currency: str
    price_per_segment: Decimal
    segments: int
    route_cost: Decimal  # in `currency`
    wallet_cost: Decimal  # in the wallet's currency, 6 places


@dataclass(slots=True)
class BreakdownLine:
    country_code: str
    country_name: str
    currency: str
    route_code: str
    price_per_segment: Decimal
    contacts: int = 0
    segments: int = 0
    route_cost: Decimal = ZERO
    wallet_cost: Decimal = ZERO

    def as_dict(self) -> dict[str, Any]:
        return {
            "country_code": self.country_code,
            "country_name": self.country_name,
            "currency": self.currency,
            "route_code": self.route_code,
            "contacts": self.contacts,
            "segments": self.segments,
            "route_cost": money(self.route_cost),
            "wallet_cost": money(self.wallet_cost),
            "price_per_segment": money(self.price_per_segment),
        }


@dataclass(frozen=True)
class Quote:
    channel: str
    wallet_currency: str
    messages: list[PricedMessage | None]  # aligned with the recipients given; None = unroutable
    breakdown: list[BreakdownLine]
    total_contacts: int
    total_segments: int
    total_cost: Decimal
    unroutable_count: int
    unroutable: list[str]  # the first UNROUTABLE_SAMPLE unroutable addresses, in the order given
    unroutable_reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def countries(self) -> int:
        return len({line.country_code for line in self.breakdown})

    def pricing(self, *, balance: Decimal, available: Decimal) -> dict[str, Any]:
        """The pricing part of SPEC §8's precheck response, money as strings with 6 places."""
        return {
            "total_contacts": self.total_contacts,
            "total_segments": self.total_segments,
            "total_cost": money(self.total_cost),
            "wallet_currency": self.wallet_currency,
            "wallet_balance": money(balance),
            "wallet_available": money(available),
            "balance_after": money(available - self.total_cost),
            "sufficient_balance": self.total_cost <= available,
            "countries": self.countries,
            "breakdown": [line.as_dict() for line in self.breakdown],
            "unroutable_count": self.unroutable_count,
            "unroutable": list(self.unroutable),
        }


def money(value: Decimal) -> str:
    """SPEC §7: amounts are decimals with 6 places, serialized as strings."""
    return f"{value.quantize(Q6, rounding=ROUND_HALF_UP):f}"


def convert(amount: Decimal, rate: Decimal) -> Decimal:
    """`amount` × `rate`, rounded half-up to 6 places (one message's cost in the wallet's currency)."""
    with localcontext(prec=PRECISION):
        return (amount * rate).quantize(Q6, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=512)
def country_name(code: str) -> str:
    if code == CATCH_ALL_COUNTRY:
        return "Any destination"
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def rate_between(rates: Mapping[tuple[str, str], Decimal], source: str, target: str) -> Decimal | None:
    """1 `source` = rate `target`; 1 for the same currency; None when no direct rate is set."""
    return ONE if source == target else rates.get((source, target))


class _Slot:
    """A chosen route with its exchange rate and the priced message for each segment count seen."""

    __slots__ = ("by_segments", "rate", "route")

    def __init__(self, route: PriceRoute, rate: Decimal | None) -> None:
        self.route = route
        self.rate = rate
        self.by_segments: dict[int, PricedMessage] = {}

    def priced(self, segments: int) -> PricedMessage:
        route = self.route
        assert self.rate is not None  # noqa: S101 - callers check the rate first
        with localcontext(prec=PRECISION):
            route_cost = route.price_per_segment * segments
            message = PricedMessage(
                route_id=route.route_id,
                route_code=route.route_code,
                connector=route.connector,
                country_code=route.country_code,
                currency=route.currency,
                price_per_segment=route.price_per_segment,
                segments=segments,
                route_cost=route_cost,
                wallet_cost=(route_cost * self.rate).quantize(Q6, rounding=ROUND_HALF_UP),
            )
        self.by_segments[segments] = message
        return message


def _choose_routes(
    routes: Iterable[PriceRoute],
    *,
    channel: str,
    tier: str,
    route_code: str | None,
    wallet_currency: str,
    rates: Mapping[tuple[str, str], Decimal],
) -> tuple[dict[str, _Slot], dict[str, _Slot]]:
    """The route for each prefix and for each country: (by prefix, by country)."""
    pool = [r for r in routes if r.channel == channel]
    if route_code:
        pool = [r for r in pool if r.route_code == route_code]
        if not pool:
            raise ValidationError({"route": [f"There is no {channel} route with the code '{route_code}'."]})
    else:
        pool = [r for r in pool if r.tier == tier]

    def rank(route: PriceRoute) -> tuple[bool, bool, bool, Decimal, str, int]:
        rate = rate_between(rates, route.currency, wallet_currency)
        unit = route.price_per_segment * rate if rate is not None else ZERO
        # A forced route code may exist in both tiers: the requested one comes first. A client who
        # brought their own provider account sends through it before any platform route.
        return (rate is None, route.tier != tier, not route.own, unit, route.route_code, route.route_id)

    by_prefix: dict[str, _Slot] = {}
    by_country: dict[str, _Slot] = {}
    with localcontext(prec=PRECISION):
        ranked = sorted(pool, key=rank)
    for route in ranked:
        target = by_prefix if route.prefix else by_country
        key = route.prefix or route.country_code
        if key not in target:
            target[key] = _Slot(route, rate_between(rates, route.currency, wallet_currency))
    return by_prefix, by_country


def country_segment_cost(
    *,
    routes: Iterable[PriceRoute],
    country_code: str,
    channel: str,
    tier: str,
    wallet_currency: str,
    rates: Mapping[tuple[str, str], Decimal],
) -> Decimal | None:
    """What one segment to `country_code` costs in the wallet's currency (one message, for channels
    priced per message), on the route its numbers take when no longer prefix matches: the country's
    route, else the channel's catch-all. None when no route serves the country (or its exchange rate
    is missing). Rounded as a quoted message is, so it is what a one-segment message is charged."""
    _by_prefix, by_country = _choose_routes(
        routes, channel=channel, tier=tier, route_code=None, wallet_currency=wallet_currency, rates=rates
    )
    slot = by_country.get(country_code.upper()) or by_country.get(CATCH_ALL_COUNTRY)
    if slot is None or slot.rate is None:
        return None
    return slot.priced(1).wallet_cost


def quote_messages(
    *,
    recipients: Iterable[tuple[str, int]],
    channel: str,
    wallet_currency: str,
    routes: Iterable[PriceRoute],
    rates: Mapping[tuple[str, str], Decimal],
    tier: str = Tier.PREMIUM,
    route_code: str | None = None,
) -> Quote:
    """Price each recipient: `(address, segments)` pairs, the address in E.164 ('+256…') or, for
    Telegram, a chat id. `segments` counts only for SMS; other channels cost one unit a message.

    Recipients are priced as given: deduplicate them first. A missing exchange rate for a route's
    currency makes its recipients unroutable (reason `no_exchange_rate`) with a warning.
    """
    if channel not in Channel.values:
        raise ValidationError({"channel": [f"'{channel}' is not a channel ({', '.join(Channel.values)})."]})
    if tier not in Tier.values:
        raise ValidationError({"tier": [f"'{tier}' is not a tier ({', '.join(Tier.values)})."]})
    by_prefix, by_country = _choose_routes(
        routes, channel=channel, tier=tier, route_code=route_code, wallet_currency=wallet_currency, rates=rates
    )
    prefix_lengths = sorted({len(p) for p in by_prefix}, reverse=True)
    catch_all = by_country.get(CATCH_ALL_COUNTRY)
    per_segment = channel == Channel.SMS
    phone_only = channel in PHONE_CHANNELS

    messages: list[PricedMessage | None] = []
    counts: dict[PricedMessage, int] = {}
    unroutable: list[str] = []
    reasons: dict[str, int] = {}
    missing_rates: dict[str, int] = {}

    for address, segments in recipients:
        if per_segment:
            if segments < 1:
                raise ValueError("Every SMS has at least one segment.")
            units = segments
        else:
            units = 1
        slot: _Slot | None = None
        reason = NO_ROUTE
        if address[:1] == "+":
            digits = address[1:]
            if not (2 <= len(digits) <= 15 and digits.isascii() and digits.isdigit()):
                reason = INVALID_NUMBER
            else:
                for length in prefix_lengths:
                    slot = by_prefix.get(digits[:length])
                    if slot is not None:
                        break
                else:
                    region = region_for_digits(digits)
                    slot = (by_country.get(region) if region else None) or catch_all
        elif phone_only:
            reason = INVALID_NUMBER
        else:
            slot = catch_all
        if slot is not None and slot.rate is None:
            missing_rates[slot.route.currency] = missing_rates.get(slot.route.currency, 0) + 1
            slot, reason = None, NO_EXCHANGE_RATE
        if slot is None:
            messages.append(None)
            reasons[reason] = reasons.get(reason, 0) + 1
            if len(unroutable) < UNROUTABLE_SAMPLE:
                unroutable.append(address)
            continue
        message = slot.by_segments.get(units) or slot.priced(units)
        messages.append(message)
        counts[message] = counts.get(message, 0) + 1

    lines: dict[tuple[str, str, str, Decimal], BreakdownLine] = {}
    with localcontext(prec=PRECISION):
        for message, count in counts.items():
            key = (message.country_code, message.route_code, message.currency, message.price_per_segment)
            line = lines.get(key)
            if line is None:
                line = lines[key] = BreakdownLine(
                    country_code=message.country_code,
                    country_name=country_name(message.country_code),
                    currency=message.currency,
                    route_code=message.route_code,
                    price_per_segment=message.price_per_segment,
                )
            line.contacts += count
            line.segments += count * message.segments
            line.route_cost += count * message.route_cost
            line.wallet_cost += count * message.wallet_cost
        breakdown = [lines[key] for key in sorted(lines)]
        total_cost = sum((line.wallet_cost for line in breakdown), ZERO)

    warnings = [
        ngettext(
            "No exchange rate from %(from)s to %(to)s: %(count)d recipient could not be priced.",
            "No exchange rate from %(from)s to %(to)s: %(count)d recipients could not be priced.",
            count,
        )
        % {"from": currency, "to": wallet_currency, "count": count}
        for currency, count in sorted(missing_rates.items())
    ]
    return Quote(
        channel=channel,
        wallet_currency=wallet_currency,
        messages=messages,
        breakdown=breakdown,
        total_contacts=sum(line.contacts for line in breakdown),
        total_segments=sum(line.segments for line in breakdown),
        total_cost=total_cost,
        unroutable_count=sum(reasons.values()),
        unroutable=unroutable,
        unroutable_reasons=reasons,
        warnings=warnings,
    )
