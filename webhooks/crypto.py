"""Endpoint secrets encrypted at rest, with the same key as connector configs.

Fernet keyed by FIELD_ENCRYPTION_KEY, else derived from SECRET_KEY with HKDF exactly as
`broadcasts/crypto.py` derives it, so one key protects every secret Herald stores. It is not imported
from there because webhooks sits below broadcasts in the dependency order (DESIGN.md: nothing points
back up); both could move to accounts in one change.
"""

from __future__ import annotations

import base64
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


def encrypt_text(value: str) -> str:
    return PREFIX + _fernet(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY).encrypt(value.encode()).decode()


@lru_cache(maxsize=4096)
def _decrypt(token: str, field_key: str, secret_key: str) -> str:
    # Cached: a delivery batch decrypts each endpoint's secret once, not once per request.
    try:
        return _fernet(field_key, secret_key).decrypt(token[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError("cannot decrypt: FIELD_ENCRYPTION_KEY (or SECRET_KEY) changed") from None


def decrypt_text(token: str) -> str:
    if not token:
        return ""
    if not token.startswith(PREFIX):
        raise ValueError("value is not encrypted")
    return _decrypt(token, settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


class EncryptedTextField(models.TextField[Any, Any]):
    """A string stored encrypted; Python sees the plain text, the database a Fernet token."""

    _pyi_private_set_type: str
    _pyi_private_get_type: str

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str:
        return decrypt_text(value) if value else ""

    def to_python(self, value: Any) -> str:
        if not value:
            return ""
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt_text(value)
        return str(value)

    def get_prep_value(self, value: Any) -> Any:
        return encrypt_text(str(value)) if value else ""
