"""Pure checks of contact values, shared by the services, the import and the admin form."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from django.core.exceptions import ValidationError

FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,35}")
# Keys a registered field may not take: words of RapidPro's query language and its system fields
# (a RapidPro user's flows and scripts would read them as those).
RESERVED_FIELD_KEYS: Final = frozenset({"has", "is", "fields", "urns", "created_on", "last_seen_on"})
FIELD_NAME = re.compile(r"[A-Za-z0-9\- ]+")
MAX_FIELD_NAME: Final = 36
MAX_FIELDS: Final = 100
MAX_FIELD_VALUE: Final = 640
MAX_NAME: Final = 128


@lru_cache(maxsize=1)
def _languages() -> tuple[frozenset[str], dict[str, str]]:
    import pycountry

    alpha_3 = frozenset(lang.alpha_3 for lang in pycountry.languages)
    alpha_2 = {lang.alpha_2: lang.alpha_3 for lang in pycountry.languages if hasattr(lang, "alpha_2")}
    return alpha_3, alpha_2


@lru_cache(maxsize=4096)
def normalize_language(value: str) -> str:
    """ISO 639-3 (`eng`) from a 639-3 code, a 639-1 code (`en`) or an English name (`English`).

    Raises ValueError with a message for people.
    """
    code = value.strip().lower()
    alpha_3, alpha_2 = _languages()
    if code in alpha_3:
        return code
    if code in alpha_2:
        return alpha_2[code]
    if len(code) > 3:
        import pycountry

        try:
            found = pycountry.languages.lookup(code)
        except LookupError:
            pass
        else:
            return str(found.alpha_3)
    raise ValueError(f"'{value[:40]}' is not an ISO 639-3 language code (e.g. eng, fra, swa).")


def field_error(field: str, message: str, code: str = "invalid") -> ValidationError:
    """A ValidationError naming `field`, whose code reaches the API's envelope."""
    return ValidationError({field: [ValidationError(message, code=code)]})


def validate_language(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValidationError("The language must be a string, e.g. eng.", code="invalid_language")
    try:
        return normalize_language(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_language") from None


@lru_cache(maxsize=1)
def _time_zones() -> dict[str, str]:
    """IANA zone names by their lower-case spelling (read from tzdata once: imports check a million rows)."""
    import zoneinfo

    return {name.lower(): name for name in zoneinfo.available_timezones()}


def normalize_timezone(value: str) -> str:
    """An IANA zone name as IANA spells it (`africa/kampala` → `Africa/Kampala`); "" for blank.

    Raises ValueError with a message for people.
    """
    text = value.strip()
    if not text:
        return ""
    name = _time_zones().get(text.lower())
    if name is None:
        raise ValueError(f"'{text[:64]}' is not an IANA time zone (e.g. Africa/Kampala, America/New_York).")
    return name


def validate_timezone(value: object) -> str:
    """A contact's `timezone`: an IANA name, or "" (unknown) for null or blank."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError("The time zone must be a string, e.g. Africa/Kampala.", code="invalid_timezone")
    try:
        return normalize_timezone(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_timezone") from None


def validate_name(value: object, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"The {label} must be a string.", code="invalid")
    value = value.strip()
    if len(value) > MAX_NAME:
        raise ValidationError(f"The {label} must be at most {MAX_NAME} characters.", code="max_length")
    return value


def field_value(value: object) -> str:
    """A field value as stored: a string. Numbers are accepted and kept as their text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("Field values must be strings.")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_FIELD_VALUE:
        raise ValueError(f"Field values must be at most {MAX_FIELD_VALUE} characters.")
    if "\x00" in text:  # PostgreSQL cannot store it (the admin's JSON editor lets one through)
        raise ValueError("Field values must not contain the NUL character (\\u0000).")
    return text


def validate_fields(value: object, *, allow_null_values: bool = False) -> dict[str, str | None]:
    """Check a `fields` object; a None value (allowed for PATCH) means "remove this field".

    Errors are keyed `fields.<key>`, so the API's envelope names each offending key.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise field_error("fields", "fields must be an object of string values.")
    if len(value) > MAX_FIELDS:
        raise field_error("fields", f"A contact has at most {MAX_FIELDS} fields.", "too_many_fields")
    errors: dict[str, list[ValidationError]] = {}
    clean: dict[str, str | None] = {}
    for key, raw in value.items():
        name = str(key)
        if not FIELD_KEY.fullmatch(name):
            errors[f"fields.{name}"] = [
                ValidationError(
                    f"'{name[:40]}' is not a valid field key: a lowercase letter, then up to 35 lowercase letters, "
                    "digits or underscores.",
                    code="invalid_field_key",
                )
            ]
            continue
        if raw is None and allow_null_values:
            clean[name] = None
            continue
        try:
            clean[name] = field_value(raw)
        except ValueError as exc:
            errors[f"fields.{name}"] = [ValidationError(str(exc), code="invalid_field_value")]
    if errors:
        raise ValidationError(errors)
    return clean


def normalize_field_key(header: str) -> str:
    """An import column header as a field key: `Param 1` → `param_1`, `Prénom` → `prenom`.

    Accents are dropped, anything else that is not a letter or digit becomes `_`, and a key that
    would start with a digit or underscore gets an `f_` prefix. Answers "" when nothing is left.
    """
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if not text:
        return ""
    if not text[0].isalpha():
        text = f"f_{text}"
    return text[:36].rstrip("_")


def make_field_key(name: str) -> str:
    """A registered field's key from its name, as RapidPro makes it: lower case, each run of other
    characters than a-z and 0-9 one `_`, none at either end (`Nick name` → `nick_name`)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def is_usable_field_key(key: str) -> bool:
    """A key a contact field may be registered under: Herald's key pattern, not a reserved word."""
    return bool(FIELD_KEY.fullmatch(key)) and key not in RESERVED_FIELD_KEYS


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
