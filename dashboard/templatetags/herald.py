"""The dashboard's display filters: one status name per state, money in its currency's own minor
units (issue 21: "99.707440" beside "98.958040" read as two different figures)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision
from django import template

from broadcasts.models import Message
from broadcasts.selectors import message_wait
from broadcasts.states import (
    UI_STATUS,
    WAIT_AB_TEST,
    WAIT_DRIP,
    WAIT_INSUFFICIENT_CREDIT,
    WAIT_QUIET_HOURS,
    WAIT_RETRY,
    WAIT_SCHEDULED,
)
from wallets.pricing import country_name

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


WAIT_LABELS = {
    WAIT_SCHEDULED: "waiting for the scheduled time",
    WAIT_DRIP: "waiting for their drip slot",
    WAIT_QUIET_HOURS: "in quiet hours in the recipient's country",
    WAIT_RETRY: "waiting to be retried",
    WAIT_INSUFFICIENT_CREDIT: "waiting for credit",
    WAIT_AB_TEST: "waiting for the A/B test's winner",
}


ADDRESS_LABELS = {"tel": "", "whatsapp": "WhatsApp ", "telegram": "Telegram "}


@register.filter
def address(urn: str) -> str:
    """A recipient as a person reads it: the phone number alone for SMS (`tel:` is a URN scheme,
    not something a campaign manager types), WhatsApp or Telegram named."""
    scheme, sep, path = (urn or "").partition(":")
    if not sep or scheme not in ADDRESS_LABELS:
        return urn
    return f"{ADDRESS_LABELS[scheme]}{path}"


@register.filter
def country(code: str) -> str:
    """A country by its name, with the code a price list is keyed by: `Uganda (UG)`."""
    return f"{country_name(code)} ({code})" if code else "—"


@register.filter
def wait_label(reason: str) -> str:
    """A SPEC §10 wait_reason in words."""
    return WAIT_LABELS.get(reason, reason)


@register.filter
def waiting(message: Message) -> dict[str, Any] | None:
    """{"reason", "label", "until"} while the message waits (broadcasts.selectors.message_wait);
    `until` is None when no time is known (waiting for credit)."""
    until, reason = message_wait(message)
    if reason is None:
        return None
    return {"reason": reason, "label": WAIT_LABELS.get(reason, reason), "until": until}


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
