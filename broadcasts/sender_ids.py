"""Sender IDs (SPEC §8 `sender`): 3–11 letters and digits, or an E.164 number."""

from __future__ import annotations

import re

import phonenumbers
from django.core.exceptions import ValidationError

ALPHANUMERIC_SENDER = re.compile(r"^[A-Za-z0-9]{3,11}$")


def normalize_sender(value: str) -> str:
    """A sender ID (3–11 letters/digits, at least one letter or all digits) or an E.164 number."""
    text = (value or "").strip()
    if text.startswith("+"):
        try:
            number = phonenumbers.parse(text)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValidationError(f"'{value}' is not a valid E.164 number.", code="invalid_sender")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not ALPHANUMERIC_SENDER.match(text):
        raise ValidationError(
            f"'{value}' is not a sender ID: use 3–11 letters and digits, or an E.164 number.",
            code="invalid_sender",
        )
    return text
