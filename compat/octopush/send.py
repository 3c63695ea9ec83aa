"""`POST /octopush/v1/public/sms-campaign/send` (seed 001, COMPAT.md §3.1): the Octopush body read
leniently as Octopush says it reads it ("true"/"1" are booleans, an unknown `type` or `purpose` is
the default), translated field by field into the native create body, and created by
`broadcast_create` — so every rule (credit, STOP mention, opt-outs, quiet hours, senders) is the
native one. The answer is Octopush's, with money as JSON numbers from the exact Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.principal import Principal
from accounts.api.throttles import COMPAT_SEND
from accounts.dates import parse_iso_datetime
from accounts.exceptions import HeraldError
from accounts.models import Client, Scope
from broadcasts.models import Broadcast
from broadcasts.services import Accepted, broadcast_create, broadcast_precheck
from wallets.numbering import region_for_digits
from webhooks.formats import sms_ticket

from .base import (
    COUNTRY_NOT_SERVED,
    DUPLICATE_REQUEST,
    LOW_COST_UNAVAILABLE,
    NO_COUNTRY,
    NO_RECIPIENT_LIST,
    NO_RECIPIENTS,
    NO_TEXT,
    NO_VALID_NUMBER,
    UNDEFINED,
    OctopushError,
    OctopushView,
    validation_error,
)
from .dedupe import request_id_claim, request_id_link, request_id_used

TRUE = frozenset({"true", "1", "yes", "y", "on"})
FALSE = frozenset({"false", "0", "no", "n", "off"})
VARIABLES = ("first_name", "last_name", "param1", "param2", "param3", "param4", "param5")
TIERS = {"sms_premium": Broadcast.Tier.PREMIUM, "sms_low_cost": Broadcast.Tier.LOW_COST}
PURPOSES = {"alert": Broadcast.Purpose.TRANSACTIONAL, "wholesale": Broadcast.Purpose.MARKETING}
# A send_at this close is "now": the request would reach the scheduler after it anyway.
SEND_NOW_MARGIN = timedelta(seconds=5)
NAME_TEXT = 60


def flag(value: Any, default: bool) -> bool:
    """Octopush's booleans, read as it reads them: true/false, 1/0, "true"/"1"/"yes"…; anything
    else is the default."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
    return default


def _scalar(value: Any) -> str | None:
    """A string, or a number written as one (Octopush "casts"); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _choice(value: Any, choices: Mapping[str, str], default: str) -> str:
    text = _scalar(value)
    return choices.get(text.strip().lower(), default) if text is not None else default


def recipient_variables(raw: Any) -> list[dict[str, str]]:
    """`recipients` → the native `recipient_variables` (`phone_number` → `phone`, nulls dropped)."""
    if raw is None:
        raise OctopushError(NO_RECIPIENT_LIST)
    if isinstance(raw, Mapping):
        raw = [raw]  # one contact object, sent without its list
    elif isinstance(raw, str):
        raw = [number for number in raw.split(",") if number.strip()]  # "+336…,+337…"
    if not isinstance(raw, list):
        raise OctopushError(NO_RECIPIENTS, "recipients must be a list of contact objects.")
    if not raw:
        raise OctopushError(NO_RECIPIENTS)
    out: list[dict[str, str]] = []
    for index, item in enumerate(raw):
        contact = {"phone_number": item} if _scalar(item) is not None else item
        phone = _scalar(contact.get("phone_number")) if isinstance(contact, Mapping) else None
        if phone is None or not phone.strip():
            raise OctopushError(NO_RECIPIENTS, f"recipients.{index}: each recipient needs a phone_number.")
        entry = {"phone": phone.strip()}
        for name in VARIABLES:
            value = _scalar(contact.get(name))
            if value is not None:
                entry[name] = value
        out.append(entry)
    return out


def _text(raw: Any) -> str:
    text = _scalar(raw)
    if text is None or not text.strip():
        raise OctopushError(NO_TEXT)
    return text


def _send_at(raw: Any, now: datetime) -> datetime | None:
    """None: now (absent, or "as soon as the date has passed"); else the time to schedule."""
    if raw is None or raw == "":
        return None
    moment = parse_iso_datetime(raw)
    if moment is None:
        # Octopush would ignore an unreadable date and send at once; a campaign meant for later
        # going now is worse than a refusal.
        raise OctopushError(UNDEFINED, "send_at: use an ISO 8601 date and time, e.g. 2018-10-03T07:42:39-07:00.")
    return None if moment <= now + SEND_NOW_MARGIN else moment


def native_request(body: Mapping[str, Any], *, now: datetime) -> tuple[dict[str, Any], str | None]:
    """(the native create body, the request_id or None)."""
    recipients = recipient_variables(body.get("recipients"))
    text = _text(body.get("text"))
    purpose = _choice(body.get("purpose"), PURPOSES, Broadcast.Purpose.MARKETING)
    data: dict[str, Any] = {
        "name": f"Octopush API: {' '.join(text.split())[:NAME_TEXT]}",
        "channel": "sms",
        "recipient_variables": recipients,
        "text": text,
        "purpose": purpose,
        "tier": _choice(body.get("type"), TIERS, Broadcast.Tier.PREMIUM),
        "with_replies": flag(body.get("with_replies"), False),
        "simulate": flag(body.get("simulation_mode"), False),
        "optimize_text": flag(body.get("auto_optimize_text"), True),
        "track_links": flag(body.get("recipient_tracking"), False),
    }
    sender = body.get("sender")
    if sender not in (None, ""):
        written = _scalar(sender)
        data["sender"] = sender if written is None else written  # a wrong type is refused natively: 106
    send_at = _send_at(body.get("send_at"), now)
    if send_at is not None:
        data["schedule_mode"] = Broadcast.ScheduleMode.SCHEDULED
        data["scheduled_at"] = send_at.isoformat()
    # Opted-out contacts are always skipped for marketing (SPEC §8); a transactional campaign that
    # says it keeps them (false) sends to them, as Herald allows for transactional messages.
    keep_opted_out = not flag(body.get("auto_delete_optout_contacts"), True) or not flag(
        body.get("auto_remove_blacklisted_numbers"), True
    )
    if keep_opted_out and purpose == Broadcast.Purpose.TRANSACTIONAL:
        data["skip_opted_out"] = False
    list_name = _scalar(body.get("list_name"))
    if list_name and list_name.strip():
        data["list_name"] = list_name.strip()
    request_id = _scalar(body.get("request_id"))
    return data, (request_id.strip() or None) if request_id is not None else None


def create_once(
    *, client: Client, principal: Principal, data: dict[str, Any], request_id: str | None, now: datetime
) -> Accepted:
    """The native create, with the request_id taken in its transaction (a refusal frees it): a
    repeat within 24 h is OctopushError(120). Octopush sends at any future time: no 10-minute
    minimum here. Shared by API v1 and the legacy API (compat/octopush_legacy)."""

    def create() -> Accepted:
        return broadcast_create(
            client=client, data=data, api_key=principal.api_key, user=principal.user,
            min_schedule_ahead=timedelta(0),
        )  # fmt: skip

    if data.get("simulate"):  # nothing is sent: the request_id is checked, not taken
        if request_id and request_id_used(client=client, request_id=request_id, now=now):
            raise OctopushError(DUPLICATE_REQUEST)
        return create()
    if not request_id:
        return create()
    with transaction.atomic():
        claim = request_id_claim(client=client, request_id=request_id, now=now)
        if claim is None:
            raise OctopushError(DUPLICATE_REQUEST)
        accepted = create()
        request_id_link(claim=claim, broadcast_id=accepted.broadcast.pk)
    return accepted


def no_valid_number(*, client: Client, data: dict[str, Any]) -> OctopushError:
    """Which of Octopush's codes says why no recipient of `data` (a native create body) could be
    sent to: 151 (or 152, or 150) when every one was unroutable, else 117. Read from the native
    precheck."""
    probe = {k: v for k, v in data.items() if k not in ("schedule_mode", "scheduled_at", "list_name", "simulate")}
    try:
        report = broadcast_precheck(client=client, data=probe)
        if report["unroutable_count"] == 0 or report["invalid_count"] or report["opted_out_count"]:
            return OctopushError(NO_VALID_NUMBER)
        if probe["tier"] == Broadcast.Tier.LOW_COST:
            premium = broadcast_precheck(client=client, data={**probe, "tier": Broadcast.Tier.PREMIUM})
            if premium["total_contacts"]:
                return OctopushError(LOW_COST_UNAVAILABLE)
    except (DjangoValidationError, HeraldError):
        return OctopushError(NO_VALID_NUMBER)
    digits = [str(address).rpartition(":")[2].lstrip("+") for address in report["unroutable"]]
    if digits and all(region_for_digits(d) is None for d in digits):
        return OctopushError(NO_COUNTRY)
    return OctopushError(COUNTRY_NOT_SERVED)


class SmsCampaignSendView(OctopushView):
    write_scope = Scope.SEND_SMS.value

    def get_throttle_scope(self, request: Request) -> str:
        return COMPAT_SEND

    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, Mapping):
            raise OctopushError(UNDEFINED, "The body must be a JSON object.")
        now = timezone.now()
        data, request_id = native_request(body, now=now)
        try:
            accepted = create_once(
                client=self.client, principal=self.principal, data=data, request_id=request_id, now=now
            )
        except DjangoValidationError as exc:
            refusal = validation_error(exc)
            if refusal.octopush_code == NO_VALID_NUMBER:
                refusal = no_valid_number(client=self.client, data=data)
            raise refusal from exc
        broadcast = accepted.broadcast
        answer = {
            "sms_ticket": sms_ticket(broadcast.pk),
            "number_of_contacts": broadcast.total_recipients,
            "total_cost": broadcast.estimated_cost,
            "number_of_sms_needed": broadcast.total_segments,
            "residual_credit": accepted.residual_credit,
            "message": "",
        }
        return Response(answer, status=status.HTTP_201_CREATED)
