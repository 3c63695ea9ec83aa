"""Endpoint secrets encrypted at rest, with the key of accounts/crypto.py (the same key as connector
configs: one key protects every secret Herald stores)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import models

from accounts.crypto import PREFIX, decrypt, encrypt


def encrypt_text(value: str) -> str:
    return encrypt(value.encode())


@lru_cache(maxsize=4096)
def _decrypt(token: str, field_key: str, secret_key: str) -> str:
    # Cached: a delivery batch decrypts each endpoint's secret once, not once per request. The keys
    # are part of the cache's key, so a changed key never answers from the cache.
    return decrypt(token).decode()


def decrypt_text(token: str) -> str:
    if not token:
        return ""
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
