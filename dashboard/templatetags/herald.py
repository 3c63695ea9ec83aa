"""The dashboard's display filters: one status name per state, money in its currency's own minor
units (issue 21: "99.707440" beside "98.958040" read as two different figures)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from django import template

from broadcasts.states import UI_STATUS

register = template.Library()

PRICE_PLACES = 6  # a price per part: the ledger's own precision


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def ui_status(status: str) -> str:
    """A broadcast status as every page names it (SPEC §8 `ui_status`)."""
    return UI_STATUS.get(status, status)


@register.filter
def money(value: object, currency: str) -> str:
    """An amount in the currency's minor units (2 for USD, 0 for UGX, 3 for KWD), grouped, with its
    code: `98.96 USD`, `7,000 UGX`. Half-up, as a person rounds."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    places = get_currency_precision(currency or "")
    shown = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{shown:,.{places}f} {currency}".strip()


@register.filter
def exact_money(value: object, currency: str) -> str:
    """A price per part (or one message's cost): as many places as it has, up to six, never fewer
    than the currency's own: `0.0094 USD`, `35 UGX`, `0.065 EUR`."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    exponent = amount.normalize().as_tuple().exponent
    needed = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = min(PRICE_PLACES, max(get_currency_precision(currency or ""), needed))
    shown = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{shown:,.{places}f} {currency}".strip()
