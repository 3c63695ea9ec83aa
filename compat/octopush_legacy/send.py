"""`POST /octopush-legacy/api/sms` (COMPAT.md §3.2), the form the `octopush` package's `SMS.send()`
posts, translated field by field into the native create body and created through API v1's
`create_once` (its request_id dedupe included), so every rule is the native one.

Decisions (docs/compat.md, "Octopush legacy API"):
- `sms_recipients` and the per-recipient columns (`recipients_first_names`, `recipients_last_names`,
  `sms_fields_1..3`) are comma-joined and aligned by position; a column that is sent must have one
  value per recipient (else 115). The values fill Octopush's legacy placeholders `{prenom}`, `{nom}`,
  `{ch1}`…`{ch3}`, and the first and last names Herald's `{first_name}`, `{last_name}` too.
- `sms_type` `XXX` → low cost, `FR` and `WWW` → premium; anything else (or none) → 112.
- `sms_sender`: Octopush ignores it for `XXX`, so there Herald keeps it only if it is registered
  for the client; the package's own default `CampagneSMS`, never chosen by its user, is kept only
  if registered too. Otherwise the native rules apply (unregistered or malformed → 106).
- `request_keys` + `request_sha1`: the SHA-1 of the fields named by the key letters, concatenated
  as the package computes it (its letter → field table; a letter whose field was not sent adds
  nothing): missing → 123, different → 124.
- `request_mode` `simu` → a simulation (nothing stored, sent or charged); `real` or none → sent;
  anything else → 125 rather than sending what may have been meant as a test.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.throttles import COMPAT_SEND
from accounts.models import Client, Scope
from broadcasts.models import Broadcast, Message
from broadcasts.services import (
    SKIP_INVALID,
    SKIP_OPTED_OUT,
    SKIP_UNROUTABLE,
    Accepted,
    normalize_sender,
    planned_rows,
    sender_is_registered,
)
from broadcasts.validation import parse_broadcast_request
from compat.jsonnum import decimal_number
from compat.octopush.base import (
    COUNTRY_NOT_SERVED,
    NO_COUNTRY,
    NO_RECIPIENT_LIST,
    NO_RECIPIENTS,
    NO_TEXT,
    NO_VALID_NUMBER,
    UNDEFINED,
)
from compat.octopush.send import NAME_TEXT, SEND_NOW_MARGIN, create_once, flag, no_valid_number
from wallets.numbering import region_for_digits
from webhooks.formats import sms_ticket

from .base import (
    NO_QUALITY,
    PARAMETER_COUNT,
    RECIPIENT_NOT_ALLOWED,
    SHA1_MISMATCH,
    SHA1_MISSING,
    TEXT_TOO_LONG,
    LegacyError,
    LegacyView,
    add,
    form_field,
    octopush_root,
    refusal,
    xml_document,
)

TIERS = {"XXX": Broadcast.Tier.LOW_COST, "FR": Broadcast.Tier.PREMIUM, "WWW": Broadcast.Tier.PREMIUM}
PACKAGE_DEFAULT_SENDER = "CampagneSMS"  # octopush.SMS.__init__
# Each per-recipient column and the variables its values fill.
COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("recipients_first_names", ("prenom", "first_name")),
    ("recipients_last_names", ("nom", "last_name")),
    ("sms_fields_1", ("ch1",)),
    ("sms_fields_2", ("ch2",)),
    ("sms_fields_3", ("ch3",)),
)
# The package's `_get_request_sha1_string` table, letter for letter (`D` names `sms_date`, a field
# it never sends: it adds nothing there, nor here).
SHA1_FIELDS = {
    "T": "sms_text",
    "R": "sms_recipients",
    "M": "sms_mode",
    "Y": "sms_type",
    "S": "sms_sender",
    "D": "sms_date",
    "a": "recipients_first_names",
    "b": "recipients_last_names",
    "c": "sms_fields_1",
    "d": "sms_fields_2",
    "e": "sms_fields_3",
    "W": "with_replies",
    "N": "transactional",
    "Q": "request_id",
}
INSTANT, DEFERRED = "1", "2"
REAL, SIMULATION = "real", "simu"


def check_request_sha1(form: Any) -> None:
    keys = form_field(form, "request_keys") or ""
    if not keys:
        return
    given = (form_field(form, "request_sha1") or "").strip().lower()
    if not given:
        raise LegacyError(SHA1_MISSING)
    signed = "".join(form_field(form, SHA1_FIELDS[letter]) or "" for letter in keys if letter in SHA1_FIELDS)
    expected = hashlib.sha1(signed.encode(), usedforsecurity=False).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise LegacyError(SHA1_MISMATCH, f"request_sha1 is not the SHA-1 of the fields {keys!r}.")


def recipient_variables(form: Any) -> list[dict[str, str]]:
    raw = form_field(form, "sms_recipients")
    if raw is None:
        raise LegacyError(NO_RECIPIENT_LIST)
    numbers = [number.strip() for number in raw.split(",")]
    if not any(numbers):
        raise LegacyError(NO_RECIPIENTS)
    columns: list[tuple[tuple[str, ...], list[str]]] = []
    for name, names in COLUMNS:
        joined = form_field(form, name) or ""
        if not joined:
            continue
        split = joined.split(",")
        if len(split) != len(numbers):
            raise LegacyError(PARAMETER_COUNT, f"{name} has {len(split)} values for {len(numbers)} recipients.")
        columns.append((names, [value.strip() for value in split]))
    out: list[dict[str, str]] = []
    for index, number in enumerate(numbers):
        if not number:
            continue  # an empty position ("+336…,,+337…") and its column values are skipped
        entry = {"phone": number}
        for variables, values in columns:
            if values[index]:
                entry.update(dict.fromkeys(variables, values[index]))
        out.append(entry)
    return out


def _sending_date(form: Any, now: datetime) -> datetime | None:
    """None: now (`sms_mode` 1, or a deferred date already passed); else the time to schedule."""
    mode = (form_field(form, "sms_mode") or "").strip() or INSTANT
    if mode == INSTANT:
        return None
    if mode != DEFERRED:
        raise LegacyError(UNDEFINED, "sms_mode must be 1 (instant) or 2 (deferred).")
    try:
        moment = datetime.fromtimestamp(int((form_field(form, "sending_date") or "").strip()), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise LegacyError(UNDEFINED, "sms_mode 2 needs sending_date, a Unix time in seconds.") from None
    return None if moment <= now + SEND_NOW_MARGIN else moment


def _simulate(form: Any) -> bool:
    mode = (form_field(form, "request_mode") or "").strip().lower() or REAL
    if mode not in (REAL, SIMULATION):
        raise LegacyError(UNDEFINED, "request_mode must be real or simu.")
    return mode == SIMULATION


def _sender(raw: str | None, tier: str, client: Client) -> str | None:
    sender = (raw or "").strip()
    if not sender:
        return None
    if tier != Broadcast.Tier.LOW_COST and sender != PACKAGE_DEFAULT_SENDER:
        return sender  # the native create checks it (106)
    try:
        normalized = normalize_sender(sender)
    except DjangoValidationError:
        return None
    return normalized if sender_is_registered(client=client, sender=normalized, channel="sms") else None


def native_request(form: Any, *, client: Client, now: datetime) -> tuple[dict[str, Any], str | None]:
    """(the native create body, the request_id or None)."""
    text = form_field(form, "sms_text")
    if text is None or not text.strip():
        raise LegacyError(NO_TEXT)
    recipients = recipient_variables(form)
    tier = TIERS.get((form_field(form, "sms_type") or "").strip().upper())
    if tier is None:
        raise LegacyError(NO_QUALITY)
    transactional = flag(form_field(form, "transactional"), False)
    data: dict[str, Any] = {
        "name": f"Octopush legacy: {' '.join(text.split())[:NAME_TEXT]}",
        "channel": "sms",
        "recipient_variables": recipients,
        "text": text,
        "purpose": Broadcast.Purpose.TRANSACTIONAL if transactional else Broadcast.Purpose.MARKETING,
        "tier": tier,
        "with_replies": flag(form_field(form, "with_replies"), False),
        "simulate": _simulate(form),
    }
    sender = _sender(form_field(form, "sms_sender"), tier, client)
    if sender is not None:
        data["sender"] = sender
    send_at = _sending_date(form, now)
    if send_at is not None:
        data["schedule_mode"] = Broadcast.ScheduleMode.SCHEDULED
        data["scheduled_at"] = send_at.isoformat()
    request_id = (form_field(form, "request_id") or "").strip()
    return data, request_id or None


# (urn, country_code, cost, segments, status, skip reason) of each recipient, in the request's order.
Line = tuple[str, str, Decimal, int, str, str]


def _lines(accepted: Accepted, data: dict[str, Any], client: Client, now: datetime) -> Iterable[Line]:
    if not accepted.simulated:
        return (
            Message.objects.filter(broadcast_id=accepted.broadcast.pk)
            .order_by("pk")
            .values_list("urn", "country_code", "cost", "segments", "status", "error_code")
            .iterator()
        )
    # A simulation stores nothing: the same plan the create priced, recipient by recipient.
    request = parse_broadcast_request(data, now=now, min_schedule_ahead=timedelta(0))
    return (
        (row.urn, row.country_code, row.cost, row.segments, row.status, row.error_code)
        for row in planned_rows(client=client, request=request, now=now)
    )


def failure_code(urn: str, reason: str) -> int:
    if reason == SKIP_OPTED_OUT:
        return RECIPIENT_NOT_ALLOWED
    if reason == SKIP_UNROUTABLE:
        return NO_COUNTRY if region_for_digits(urn.rpartition(":")[2].lstrip("+")) is None else COUNTRY_NOT_SERVED
    return NO_VALID_NUMBER if reason == SKIP_INVALID else UNDEFINED


def answer(accepted: Accepted, lines: Iterable[Line], *, now: datetime) -> str:
    broadcast = accepted.broadcast
    root = octopush_root()
    add(root, "cost", decimal_number(broadcast.estimated_cost))
    add(root, "balance", decimal_number(accepted.residual_credit))
    add(root, "ticket", sms_ticket(broadcast.pk))
    add(root, "sending_date", int((broadcast.scheduled_at or now).timestamp()))
    add(root, "number_of_sendings", broadcast.total_segments)
    add(root, "currency_code", broadcast.currency)
    successes, failures = add(root, "successs"), add(root, "failures")  # Octopush's triple s
    for urn, country_code, cost, segments, status, reason in lines:
        recipient = urn.partition(":")[2]
        if status == Message.Status.SKIPPED:
            failure = add(failures, "failure")
            add(failure, "recipient", recipient)
            add(failure, "error_code", f"{failure_code(urn, reason):03d}")
            continue
        success = add(successes, "success")
        add(success, "recipient", recipient)
        add(success, "country_code", country_code)
        add(success, "cost", decimal_number(cost))
        add(success, "sms_needed", segments)
    return xml_document(root)


class LegacySmsView(LegacyView):
    write_scope = Scope.SEND_SMS.value

    def get_throttle_scope(self, request: Request) -> str:
        return COMPAT_SEND

    def post(self, request: Request) -> Response:
        form = request.data
        check_request_sha1(form)
        now = timezone.now()
        data, request_id = native_request(form, client=self.client, now=now)
        try:
            accepted = create_once(
                client=self.client, principal=self.principal, data=data, request_id=request_id, now=now
            )
        except DjangoValidationError as exc:
            refused = refusal(exc)
            if refused.legacy_code == NO_VALID_NUMBER:
                octopush = no_valid_number(client=self.client, data=data)
                refused = LegacyError(octopush.octopush_code, octopush.octopush_message)
            elif refused.legacy_code == NO_TEXT:  # the text is there (checked above): too long
                refused = LegacyError(TEXT_TOO_LONG, str(refused.detail))
            raise refused from exc
        # (A used request_id is create_once's OctopushError 120, answered as it is by the handler.)
        return Response(answer(accepted, _lines(accepted, data, self.client, now), now=now))
