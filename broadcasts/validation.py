"""The create/precheck body of SPEC §8, checked in one fast pass (no database).

10,000 recipient_variables must validate in milliseconds, so this is plain Python rather than nested
DRF serializers. Every problem is collected and reported at once, each under its field name
(`recipients.3`, `scheduled_at`, …). Rules that need the database — a sender registered for the
client, a template approved, list ids of this client — are checked by the services.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.channels import Channel
from accounts.dates import parse_iso_datetime

from .ab_fields import ABSpec, ab_of, first_variant
from .local_time import LocalTime, local_time_fields
from .models import Broadcast
from .recurrence import Recurrence, recurrence_of
from .sender_ids import normalize_sender

MAX_RECIPIENTS = 10_000
MAX_SMS_TEXT = 1224
MAX_TEXT: dict[str, int] = {
    Channel.SMS: MAX_SMS_TEXT,
    Channel.WHATSAPP: 4096,
    Channel.TELEGRAM: 4096,
    Channel.RCS: 2500,
}
MIN_SCHEDULE_AHEAD = timedelta(minutes=10)
MAX_SCHEDULE_AHEAD = timedelta(days=90)
LANGUAGE = re.compile(r"^[a-z]{3}$")
URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)

FIELDS = {
    "name", "channel", "recipients", "recipient_variables", "contacts", "contact_lists", "exclude_lists",
    "template", "text", "base_language", "attachments", "sender", "purpose", "schedule_mode", "scheduled_at",
    "drip_rate", "route", "tier", "track_links", "optimize_text", "transliterate", "skip_opted_out",
    "with_replies", "simulate", "list_name", "status",
    "local_time", "variants", "ab_test",
    "recurrence",
}  # fmt: skip
BOOLEAN_DEFAULTS = {
    "track_links": False,
    "optimize_text": True,
    "transliterate": False,
    "skip_opted_out": True,
    "with_replies": False,
    "simulate": False,
}


# The schedule modes a create accepts; SPEC §8's campaign modes (recurring, local_time) join as they
# are built (issue 22).
SCHEDULE_MODES: list[str] = [Broadcast.ScheduleMode.NOW, Broadcast.ScheduleMode.SCHEDULED, Broadcast.ScheduleMode.DRIP]
SCHEDULE_MODES.append(Broadcast.ScheduleMode.LOCAL_TIME)  # recipient local time (local_time.py)
SCHEDULE_MODES.append(Broadcast.ScheduleMode.RECURRING)  # a series of child broadcasts (recurrence.py)


@dataclass
class RecipientInput:
    address: str  # phone, or URN (tel:/whatsapp:/telegram:)
    variables: dict[str, str] = field(default_factory=dict)
    index: int = 0


@dataclass
class BroadcastRequest:
    name: str
    channel: str = Channel.SMS
    recipients: list[RecipientInput] = field(default_factory=list)
    contact_ids: list[uuid.UUID] = field(default_factory=list)
    list_ids: list[uuid.UUID] = field(default_factory=list)
    exclude_list_ids: list[uuid.UUID] = field(default_factory=list)
    template: str | None = None
    text: dict[str, str] | None = None
    base_language: str = ""
    attachments: list[str] = field(default_factory=list)
    sender: str = ""
    purpose: str = Broadcast.Purpose.MARKETING
    schedule_mode: str = Broadcast.ScheduleMode.NOW
    scheduled_at: datetime | None = None
    drip_rate: int | None = None
    route: str = ""
    tier: str = Broadcast.Tier.PREMIUM
    track_links: bool = False
    optimize_text: bool = True
    transliterate: bool = False  # letters outside GSM → closest GSM letters (SPEC §6); implies smart encoding
    skip_opted_out: bool = True
    with_replies: bool = False
    simulate: bool = False
    list_name: str = ""
    draft: bool = False
    local_time: LocalTime | None = None  # schedule_mode local_time (local_time.py)
    recurrence: Recurrence | None = None  # schedule_mode recurring (recurrence.py)
    ab: ABSpec | None = None  # A/B test (ab_fields.py); text/template are then the first variant's

    def audience_json(self) -> dict[str, Any]:
        """What is kept on the broadcast to plan it again later (drafts, edits)."""
        return {
            "recipients": [{"address": r.address, "variables": r.variables} for r in self.recipients],
            "contacts": [str(i) for i in self.contact_ids],
            "contact_lists": [str(i) for i in self.list_ids],
            "exclude_lists": [str(i) for i in self.exclude_list_ids],
        }


class _Errors:
    def __init__(self) -> None:
        self.items: dict[str, list[ValidationError]] = {}

    def add(self, name: str, message: str, code: str = "invalid") -> None:
        self.items.setdefault(name, []).append(ValidationError(message, code=code))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def _string(errors: _Errors, data: dict[str, Any], name: str, *, max_length: int, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors.add(name, "This field is required.", "required")
        return ""
    if not isinstance(value, str):
        errors.add(name, "Must be a string.")
        return ""
    value = value.strip()
    if required and not value:
        errors.add(name, "This field may not be blank.", "blank")
    if len(value) > max_length:
        errors.add(name, f"Ensure this field has no more than {max_length} characters.", "max_length")
    return value


def _choice(errors: _Errors, data: dict[str, Any], name: str, choices: list[str], default: str) -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if value not in choices:
        errors.add(name, f"'{value}' is not one of: {', '.join(choices)}.", "invalid_choice")
        return default
    return str(value)


def _uuids(errors: _Errors, data: dict[str, Any], name: str, *, limit: int | None = None) -> list[uuid.UUID]:
    values = data.get(name) or []
    if not isinstance(values, list):
        errors.add(name, "Must be a list of ids.", "not_a_list")
        return []
    if limit is not None and len(values) > limit:
        errors.add(name, f"At most {limit:,} ids per broadcast.", "too_many")
        return []
    parsed: list[uuid.UUID] = []
    for index, value in enumerate(values):
        try:
            parsed.append(uuid.UUID(str(value)))
        except ValueError:
            errors.add(f"{name}.{index}", f"'{value}' is not a valid id.", "invalid_id")
    return list(dict.fromkeys(parsed))


def _recipients(errors: _Errors, data: dict[str, Any]) -> list[RecipientInput]:
    plain, rich = data.get("recipients"), data.get("recipient_variables")
    if plain and rich:
        errors.add("recipient_variables", "Give recipients or recipient_variables, not both.", "exclusive")
        return []
    out: list[RecipientInput] = []
    if plain:
        if not isinstance(plain, list):
            errors.add("recipients", "Must be a list of phone numbers or URNs.", "not_a_list")
            return []
        if len(plain) > MAX_RECIPIENTS:
            errors.add("recipients", f"At most {MAX_RECIPIENTS:,} recipients per request.", "too_many")
            return []
        for index, value in enumerate(plain):
            if not isinstance(value, str) or not value.strip():
                errors.add(f"recipients.{index}", "Each recipient must be a phone number or URN string.")
                continue
            out.append(RecipientInput(value.strip(), {}, index))
    elif rich:
        if not isinstance(rich, list):
            errors.add("recipient_variables", "Must be a list of objects.", "not_a_list")
            return []
        if len(rich) > MAX_RECIPIENTS:
            errors.add("recipient_variables", f"At most {MAX_RECIPIENTS:,} recipients per request.", "too_many")
            return []
        for index, item in enumerate(rich):
            name = f"recipient_variables.{index}"
            if not isinstance(item, dict):
                errors.add(name, "Each item must be an object with phone or urn.")
                continue
            address = item.get("urn") or item.get("phone")
            if not isinstance(address, str) or not address.strip():
                errors.add(name, "Each item needs a phone or urn.", "required")
                continue
            variables: dict[str, str] = {}
            for key, value in item.items():
                if key in ("phone", "urn"):
                    continue
                if isinstance(value, bool) or (value is not None and not isinstance(value, str | int | float)):
                    errors.add(f"{name}.{key}", "Variable values must be strings or numbers.")
                    continue
                variables[str(key)] = "" if value is None else str(value)
            out.append(RecipientInput(address.strip(), variables, index))
    return out


def _content(errors: _Errors, data: dict[str, Any], channel: str) -> tuple[str | None, dict[str, str] | None, str]:
    template, text = data.get("template"), data.get("text")
    base_language = _string(errors, data, "base_language", max_length=3).lower()
    if base_language and not LANGUAGE.match(base_language):
        errors.add("base_language", "Use an ISO 639-3 code such as 'eng'.", "invalid_language")
    if (template is None or template == "") == (text is None or text == ""):
        errors.add("template", "Give exactly one of template (a template name) or text.", "template_or_text")
        return None, None, base_language
    if template:
        if not isinstance(template, str) or not 1 <= len(template.strip()) <= 512:
            errors.add("template", "A template name is 1–512 characters.")
            return None, None, base_language
        return template.strip(), None, base_language
    limit = MAX_TEXT.get(channel, MAX_SMS_TEXT)
    texts: dict[str, str] = {}
    if isinstance(text, str):
        texts = {"": text}  # one text for every language
    elif isinstance(text, dict) and text:
        if not base_language:
            errors.add("base_language", "Translations need a base_language (one of the text's keys).", "required")
        elif base_language not in text:
            errors.add("base_language", f"'{base_language}' is not one of the text's languages.", "invalid_language")
        for language, value in text.items():
            if not LANGUAGE.match(str(language)):
                errors.add(f"text.{language}", "Languages are ISO 639-3 codes such as 'eng'.", "invalid_language")
            elif not isinstance(value, str) or not value.strip():
                errors.add(f"text.{language}", "Each translation must be non-empty text.", "blank")
            else:
                texts[str(language)] = value
    else:
        errors.add("text", "Text must be a string, or an object of {language: text}.")
        return None, None, base_language
    for language, value in texts.items():
        if len(value) > limit:
            name = f"text.{language}" if language and isinstance(text, dict) else "text"
            errors.add(name, f"The text is {len(value)} characters; {channel.upper()} allows {limit}.", "text_too_long")
        elif not value.strip():
            errors.add("text", "The text may not be blank.", "blank")
    return None, texts, base_language


def _schedule(
    errors: _Errors, data: dict[str, Any], now: datetime, min_ahead: timedelta
) -> tuple[str, datetime | None, int | None]:
    mode = _choice(errors, data, "schedule_mode", SCHEDULE_MODES, Broadcast.ScheduleMode.NOW)
    raw_at, raw_rate = data.get("scheduled_at"), data.get("drip_rate")
    scheduled_at: datetime | None = None
    if raw_at not in (None, ""):
        scheduled_at = parse_iso_datetime(raw_at)
        if scheduled_at is None:
            errors.add("scheduled_at", "Use an ISO 8601 date and time, e.g. 2026-12-01T09:00:00Z.", "invalid_datetime")
    drip_rate: int | None = None
    if raw_rate is not None:
        if isinstance(raw_rate, bool) or not isinstance(raw_rate, int):
            errors.add("drip_rate", "drip_rate must be a whole number of messages a minute (1–600).", "invalid")
        else:
            drip_rate = raw_rate
    if mode == Broadcast.ScheduleMode.SCHEDULED:
        if raw_at in (None, ""):
            errors.add("scheduled_at", "A scheduled broadcast needs scheduled_at.", "required")
        elif scheduled_at is not None:
            ahead = scheduled_at - now
            if ahead < min_ahead or ahead <= timedelta(0):
                soon = f"at least {min_ahead // timedelta(minutes=1)} minutes ahead" if min_ahead else "in the future"
                errors.add("scheduled_at", f"scheduled_at must be {soon}.", "too_soon")
            elif ahead > MAX_SCHEDULE_AHEAD:
                errors.add("scheduled_at", "scheduled_at must be at most 90 days ahead.", "too_far")
    elif raw_at not in (None, ""):
        errors.add("scheduled_at", "scheduled_at is only for schedule_mode 'scheduled'.", "unexpected")
    if mode == Broadcast.ScheduleMode.DRIP:
        if raw_rate is None:
            errors.add("drip_rate", "A drip broadcast needs drip_rate (messages a minute, 1–600).", "required")
        elif drip_rate is not None and not 1 <= drip_rate <= 600:
            errors.add("drip_rate", "drip_rate must be from 1 to 600 messages a minute.", "out_of_range")
    elif raw_rate is not None:
        errors.add("drip_rate", "drip_rate is only for schedule_mode 'drip'.", "unexpected")
    return mode, scheduled_at, drip_rate


def parse_broadcast_request(
    data: Any,
    *,
    now: datetime | None = None,
    min_schedule_ahead: timedelta = MIN_SCHEDULE_AHEAD,
    default_timezone: str = "UTC",
) -> BroadcastRequest:
    """`min_schedule_ahead`: SPEC §8's 10 minutes, or less for a compat API (SPEC §14: Octopush's send_at).
    `default_timezone`: a recurring series' zone when its recurrence names none (the client's)."""
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", code="invalid")
    now = now or timezone.now()
    errors = _Errors()
    for unknown in sorted(set(data) - FIELDS):
        errors.add(unknown, f"Unknown field '{unknown}'.", "unknown_field")
    name = _string(errors, data, "name", max_length=255, required=True)
    channel = _choice(errors, data, "channel", Channel.values, Channel.SMS)
    recipients = _recipients(errors, data)
    contact_ids = _uuids(errors, data, "contacts", limit=MAX_RECIPIENTS)
    list_ids = _uuids(errors, data, "contact_lists")
    exclude_ids = _uuids(errors, data, "exclude_lists")
    if not (
        data.get("recipients") or data.get("recipient_variables") or data.get("contacts") or data.get("contact_lists")
    ):
        errors.add(
            "recipients",
            "Give at least one recipient: recipients, recipient_variables, contacts or contact_lists.",
            "no_recipients",
        )
    scratch = _Errors() if data.get("variants") else errors  # variants: ab_of names their own problems
    template, text, base_language = _content(scratch, first_variant(data), channel)
    attachments = data.get("attachments") or []
    if attachments:
        if channel == Channel.SMS:
            errors.add("attachments", "SMS cannot carry attachments.", "attachments_not_supported")
        elif not isinstance(attachments, list) or not all(isinstance(a, str) and URL.match(a) for a in attachments):
            errors.add("attachments", "Attachments are a list of http(s) media URLs.", "invalid_url")
    sender = ""
    raw_sender = data.get("sender")
    if raw_sender not in (None, ""):
        if not isinstance(raw_sender, str):
            errors.add("sender", "Must be a string.")
        else:
            try:
                sender = normalize_sender(raw_sender)
            except ValidationError as exc:
                errors.add("sender", exc.messages[0], "invalid_sender")
    purpose = _choice(errors, data, "purpose", Broadcast.Purpose.values, Broadcast.Purpose.MARKETING)
    mode, scheduled_at, drip_rate = _schedule(errors, data, now, min_schedule_ahead)
    local_time = local_time_fields(errors, data, mode, recipients, now)
    recurrence, problems = recurrence_of(data, mode=mode, now=now, default_timezone=default_timezone)
    ab, ab_problems = ab_of(data, mode=mode, text_limit=MAX_TEXT.get(channel, MAX_SMS_TEXT))
    for problem in problems + ab_problems:
        errors.add(*problem)
    route = _string(errors, data, "route", max_length=64)
    tier = _choice(errors, data, "tier", Broadcast.Tier.values, Broadcast.Tier.PREMIUM)
    flags: dict[str, bool] = {}
    for key, default in BOOLEAN_DEFAULTS.items():
        value = data.get(key, default)
        if value is None:
            value = default
        if not isinstance(value, bool):
            errors.add(key, "Must be true or false.", "invalid_boolean")
            value = default
        flags[key] = value
    if flags["track_links"] and channel == Channel.WHATSAPP and template:
        errors.add(
            "track_links",
            "WhatsApp templates are rendered by Meta: their links cannot be rewritten (free text's can).",
            "track_links_unsupported",
        )
    if not flags["skip_opted_out"] and purpose != Broadcast.Purpose.TRANSACTIONAL:
        errors.add(
            "skip_opted_out", "Opted-out contacts can only be messaged for transactional purposes.", "opt_out_required"
        )
    list_name = _string(errors, data, "list_name", max_length=255)
    status = data.get("status")
    if status not in (None, "", Broadcast.Status.DRAFT):
        errors.add("status", "The only status you can set is 'draft'.", "invalid_choice")
    errors.raise_if_any()
    return BroadcastRequest(
        name=name,
        channel=channel,
        recipients=recipients,
        contact_ids=contact_ids,
        list_ids=list_ids,
        exclude_list_ids=exclude_ids,
        template=template,
        text=text,
        base_language=base_language,
        attachments=list(attachments),
        sender=sender,
        purpose=purpose,
        schedule_mode=mode,
        scheduled_at=scheduled_at,
        drip_rate=drip_rate,
        route=route,
        tier=tier,
        list_name=list_name,
        draft=status == Broadcast.Status.DRAFT,
        local_time=local_time,
        recurrence=recurrence,
        ab=ab,
        **flags,
    )
