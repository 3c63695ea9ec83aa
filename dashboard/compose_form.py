"""The compose wizard's form, read into the API's create body (parsing only: the service validates).

The form's fields, beside the body's own: `uploaded_recipients` (a file's recipients, parsed once
and carried from page to page as text), `text_language` with `tr_language`/`tr_text` pairs (the
other languages' versions) and `base_version` (which version is the base: 0 the main text, 1… a
translation, by position, so renaming a language keeps the choice)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.http import QueryDict

from accounts.channels import Channel
from accounts.models import Client
from broadcasts.models import Broadcast
from contacts.validation import normalize_language
from dashboard.compose_ab import ab_body, ab_form_fields
from dashboard.compose_campaigns import campaign_fields, local_time_body, recurrence_body
from templates_app import encoding

LIST_FIELDS = ("contact_lists", "exclude_lists")
BOOL_FIELDS = ("optimize_text", "transliterate", "track_links")

# The short list offered for a translation (ISO 639-3); any other code may be typed, the service
# checks it. Names come from pycountry, already a dependency (wallets, contacts).
COMMON_LANGUAGES = (
    "eng", "fra", "spa", "por", "ara", "swa", "amh", "hau", "yor", "ibo", "zul", "xho", "lug", "kin",
    "som", "orm", "wol", "lin", "hin", "ben", "urd", "zho", "ind", "rus", "deu", "ita", "tur",
)  # fmt: skip


@lru_cache(maxsize=1)
def language_choices() -> tuple[tuple[str, str], ...]:
    import pycountry

    choices = []
    for code in COMMON_LANGUAGES:
        language = pycountry.languages.get(alpha_3=code)
        choices.append((code, str(language.name) if language else code))
    return tuple(sorted(choices, key=lambda choice: choice[1]))


def counter(text: str) -> dict[str, Any]:
    """What the counter shows, all from `templates_app.encoding`: encoding, parts, characters left
    in the current part, the characters that force UCS-2, the smart-encoded text if it helps, and the
    transliterated text (letters changed: ç → c) if only that makes the text GSM."""
    info = encoding.analyze(text)
    parts = encoding.split_segments(text)
    if info.encoding == encoding.GSM7:
        limit = encoding.GSM_SINGLE_LIMIT if info.segments <= 1 else encoding.GSM_PART_LIMIT
    else:
        limit = encoding.UCS2_SINGLE_LIMIT if info.segments <= 1 else encoding.UCS2_PART_LIMIT
    used = encoding.analyze(parts[-1]).length if parts else 0
    optimized = encoding.optimize_text(text)
    transliterated = encoding.optimize_text(text, transliterate=True) if optimized == text else optimized
    return {
        "info": info,
        "encoding_label": "GSM-7" if info.encoding == encoding.GSM7 else "UCS-2",
        "left": limit - used,
        "optimized": optimized if optimized != text else "",
        "optimized_info": encoding.analyze(optimized) if optimized != text else None,
        "transliterated": transliterated if transliterated != optimized else "",
        "transliterated_info": encoding.analyze(transliterated) if transliterated != optimized else None,
    }


@dataclass(frozen=True)
class Version:
    """One language's text in the form: index 0 is the main text, 1… the translations."""

    index: int
    language: str
    text: str

    @property
    def counter(self) -> dict[str, Any]:
        return counter(self.text)


def versions(form: QueryDict) -> list[Version]:
    main = Version(0, form.get("text_language", "").strip(), form.get("text", ""))
    pairs = zip(form.getlist("tr_language"), form.getlist("tr_text"), strict=False)
    return [main, *(Version(i, lang.strip(), text) for i, (lang, text) in enumerate(pairs, start=1))]


def version_text(form: QueryDict, index: int) -> str:
    """The text of the version being edited (what its counter counts)."""
    found = [v.text for v in versions(form) if v.index == index]
    return found[0] if found else ""


def with_version_text(form: QueryDict, index: int, text: str) -> QueryDict:
    """A copy of the form with one version's text replaced (the smart switch of that version)."""
    form = form.copy()
    if index == 0:
        form["text"] = text
    else:
        texts = form.getlist("tr_text")
        if 0 < index <= len(texts):
            texts[index - 1] = text
            form.setlist("tr_text", texts)
    return form


def without_version(form: QueryDict, index: int) -> QueryDict:
    form = form.copy()
    languages, texts = form.getlist("tr_language"), form.getlist("tr_text")
    if 0 < index <= len(texts):
        del languages[index - 1 : index]
        del texts[index - 1 : index]
        form.setlist("tr_language", languages)
        form.setlist("tr_text", texts)
        base = int(form.get("base_version", "0")) if form.get("base_version", "0").isdigit() else 0
        form["base_version"] = str(0 if base == index else base - 1 if base > index else base)
    return form


def with_new_version(form: QueryDict) -> QueryDict:
    form = form.copy()
    form.setlist("tr_language", [*form.getlist("tr_language"), ""])
    form.setlist("tr_text", [*form.getlist("tr_text"), ""])
    return form


def language_code(value: str) -> str:
    """`eng` from `eng`, `en` or `English`; anything else as typed, for the service to refuse."""
    try:
        return normalize_language(value)
    except ValueError:
        return value.strip().lower()


def _text(form: QueryDict) -> tuple[str | dict[str, str], str | None]:
    """The body's `text` and `base_language`: a string alone, or {language: text} with a base."""
    found = versions(form)
    if len(found) == 1:
        return found[0].text, None
    texts: dict[str, str] = {}
    for version in found:
        code = language_code(version.language)
        if not code:
            field = "text_language" if version.index == 0 else f"translation {version.index}"
            raise ValidationError({field: ["Give the language of each version (an ISO 639-3 code such as eng)."]})
        if code in texts:
            raise ValidationError({f"text.{code}": [f"Two versions are in {code}: give each its own language."]})
        texts[code] = version.text
    raw = form.get("base_version", "0")
    base = int(raw) if raw.isdigit() and int(raw) < len(found) else 0
    return texts, language_code(found[base].language)


def recipients_of(form: QueryDict) -> list[str]:
    pasted = form.get("recipients", "").replace(",", "\n").splitlines()
    uploaded = form.get("uploaded_recipients", "").splitlines()
    return [line.strip() for line in [*pasted, *uploaded] if line.strip()]


def body_from(form: QueryDict, client: Client, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """The API's create body from the wizard's fields. Raises ValidationError only for what the
    form alone gets wrong (a version without a language); every rule of the body is the service's."""
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "channel": form.get("channel") or Channel.SMS,
        "purpose": form.get("purpose") or Broadcast.Purpose.MARKETING,
        "schedule_mode": form.get("schedule_mode") or Broadcast.ScheduleMode.NOW,
    }
    recipients = recipients_of(form)
    if recipients:
        body["recipients"] = recipients
    contacts = list(dict.fromkeys(form.getlist("contacts")))
    if contacts:
        body["contacts"] = contacts
    for field in LIST_FIELDS:
        values = form.getlist(field)
        if values:
            body[field] = values
    if form.get("content_mode") == "template":
        body["template"] = form.get("template", "")
    elif form.get("content_mode") == "ab":
        body.update(ab_body(form))  # A/B test: the texts are the variants' (compose_ab.py)
    else:
        body["text"], base_language = _text(form)
        if base_language is not None:
            body["base_language"] = base_language
    if form.get("sender"):
        body["sender"] = form["sender"]
    for field in BOOL_FIELDS:
        body[field] = form.get(field) == "on"
    if body["schedule_mode"] == Broadcast.ScheduleMode.SCHEDULED and form.get("scheduled_at"):
        # A datetime-local field has no zone: it is the user's local time, the zone every time on
        # the dashboard is shown in (their choice, else the client's: docs/dashboard.md).
        try:
            local = datetime.fromisoformat(form.get("scheduled_at", ""))
            where = zone or ZoneInfo(client.timezone or "UTC")
            body["scheduled_at"] = local.replace(tzinfo=where).isoformat()
        except ValueError:
            body["scheduled_at"] = form.get("scheduled_at", "")
    if body["schedule_mode"] == Broadcast.ScheduleMode.DRIP:
        raw = form.get("drip_rate", "")
        body["drip_rate"] = int(raw) if raw.strip().isdigit() else raw
    if body["schedule_mode"] == Broadcast.ScheduleMode.RECURRING:
        body["recurrence"] = recurrence_body(form, zone or ZoneInfo(client.timezone or "UTC"))
    if body["schedule_mode"] == Broadcast.ScheduleMode.LOCAL_TIME:
        body["local_time"] = local_time_body(form)
    return body


def form_from(body: Mapping[str, Any], zone: ZoneInfo) -> QueryDict:
    """The wizard's fields from a create body (body_from's inverse): what a duplicate or an edit of
    a broadcast opens with. A schedule is written in `zone`, as the form reads it back."""
    form = QueryDict(mutable=True)
    for field in ("name", "channel", "purpose", "schedule_mode", "sender", "template"):
        if body.get(field):
            form[field] = str(body[field])
    form["content_mode"] = "template" if body.get("template") else "text"
    addresses = [str(r) for r in body.get("recipients") or []]
    addresses += [str(r.get("phone") or r.get("urn") or "") for r in body.get("recipient_variables") or []]
    form["recipients"] = "\n".join(a for a in addresses if a)
    for field in ("contacts", *LIST_FIELDS):
        form.setlist(field, [str(v) for v in body.get(field) or []])
    text = body.get("text")
    if isinstance(text, Mapping):
        base = str(body.get("base_language") or next(iter(text), ""))
        form["text_language"], form["text"] = base, str(text.get(base, ""))
        others = [(language, str(value)) for language, value in text.items() if language != base]
        form.setlist("tr_language", [language for language, _ in others])
        form.setlist("tr_text", [value for _, value in others])
    elif text:
        form["text"] = str(text)
    for field in BOOL_FIELDS:
        if body.get(field):
            form[field] = "on"
    if body.get("scheduled_at"):
        at = datetime.fromisoformat(str(body["scheduled_at"]).replace("Z", "+00:00"))
        form["scheduled_at"] = at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    if body.get("drip_rate"):
        form["drip_rate"] = str(body["drip_rate"])
    campaign_fields(form, body)
    ab_form_fields(form, body)
    return form
