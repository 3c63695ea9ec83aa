"""Language codes of tenant settings (the models import this; validators.py imports the models)."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def validate_language_code(value: str) -> None:
    """An ISO 639-3 code (`eng`, `fra`, `swa`): a client's default language."""
    import pycountry

    if not value or pycountry.languages.get(alpha_3=value) is None:
        raise ValidationError(
            f"'{value}' is not an ISO 639-3 language code (e.g. eng, fra, swa).", code="invalid_language"
        )
