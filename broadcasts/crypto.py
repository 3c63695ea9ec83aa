"""Connector configs encrypted at rest, with the key of accounts/crypto.py."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from accounts.crypto import PREFIX, decrypt, encrypt


def encrypt_json(value: Any) -> str:
    return encrypt(json.dumps(value, sort_keys=True).encode())


def decrypt_json(token: str) -> Any:
    return json.loads(decrypt(token)) if token else {}


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
