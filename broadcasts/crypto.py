"""Connector secrets encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key is FIELD_ENCRYPTION_KEY (a Fernet key: 32 url-safe base64 bytes). Without it, a key is
derived from SECRET_KEY with HKDF, so development works out of the box; production should set
FIELD_ENCRYPTION_KEY so rotating SECRET_KEY does not make stored secrets unreadable.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(field_key: str, secret_key: str) -> Fernet:
    if field_key:
        return Fernet(field_key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"herald-field-encryption", info=b"v1").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt_json(value: Any) -> str:
    return PREFIX + fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> Any:
    if not token:
        return {}
    if not token.startswith(PREFIX):
        raise ValueError("value is not encrypted")
    try:
        return json.loads(fernet().decrypt(token[len(PREFIX) :].encode()))
    except InvalidToken:
        raise ValueError("cannot decrypt: FIELD_ENCRYPTION_KEY (or SECRET_KEY) changed") from None


class EncryptedJSONField(models.TextField[Any, Any]):
    """A JSON object stored encrypted; Python sees a dict, the database a Fernet token."""

    # How django-stubs learns the Python-side type of a custom field.
    _pyi_private_set_type: dict[str, Any]  # type: ignore[assignment]
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return decrypt_json(value) if value else {}

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt_json(value)
        return json.loads(value)

    def get_prep_value(self, value: Any) -> Any:
        return encrypt_json(value if value is not None else {})
