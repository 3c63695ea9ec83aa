"""Validation of template fields, shared by the services (and so by the API, dashboard and admin)."""

from __future__ import annotations

import re
from functools import lru_cache

from django.core.exceptions import ValidationError

from accounts.channels import Channel

from .models import Template

NAME_MAX_LENGTH = 512

# Characters (code points) of content as written, placeholders included.
CONTENT_LIMITS: dict[str, int] = {
    Channel.SMS: 1224,  # SPEC §6 (8 GSM-7 parts of 153)
    Channel.WHATSAPP: 1024,  # Meta's limit for a template body
    Channel.TELEGRAM: 4096,  # Bot API sendMessage text limit
    Channel.RCS: 2500,  # a rich-card/text message of common RBM providers; Google caps text at 3072 bytes
}

_LANGUAGE = re.compile(r"[a-z]{3}")


@lru_cache(maxsize=1024)
def _is_iso_639_3(code: str) -> bool:
    import pycountry

    return pycountry.languages.get(alpha_3=code) is not None


def validate_name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise ValidationError("The name must not be empty.", code="blank")
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(
            f"The name must be at most {NAME_MAX_LENGTH} characters (it has {len(name)}).", code="max_length"
        )
    return name


def validate_channel(value: str) -> str:
    if value not in Channel.values:
        raise ValidationError(
            f"'{value}' is not a channel; use one of {', '.join(Channel.values)}.", code="invalid_choice"
        )
    return value


def validate_category(value: str) -> str:
    if value not in Template.Category.values:
        raise ValidationError(
            f"'{value}' is not a category; use one of {', '.join(Template.Category.values)}.", code="invalid_choice"
        )
    return value


def validate_language(value: str) -> str:
    code = (value or "").strip().lower()
    if not _LANGUAGE.fullmatch(code) or not _is_iso_639_3(code):
        raise ValidationError(
            f"'{value}' is not an ISO 639-3 language code (three letters, e.g. eng, fra, swa).",
            code="invalid_language",
        )
    return code


def validate_content(value: str, *, channel: str) -> str:
    if not value or not value.strip():
        raise ValidationError("The content must not be empty.", code="blank")
    limit = CONTENT_LIMITS.get(channel)
    if limit is not None and len(value) > limit:
        label = Channel(channel).label
        raise ValidationError(
            f"{label} content must be at most {limit} characters (it has {len(value)}).", code="max_length"
        )
    return value
