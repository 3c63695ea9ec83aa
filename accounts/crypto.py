"""Secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256), one key for every secret Herald stores:
connector configs (broadcasts/crypto.py) and webhook endpoint secrets (webhooks/crypto.py).

The key is FIELD_ENCRYPTION_KEY (a Fernet key: 32 url-safe base64 bytes). Without it, a key is
derived from SECRET_KEY with HKDF, so development works out of the box; production should set
FIELD_ENCRYPTION_KEY so rotating SECRET_KEY does not make stored secrets unreadable.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

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


def encrypt(plain: bytes) -> str:
    """`fernet:` + the token."""
    return PREFIX + fernet().encrypt(plain).decode()


def is_encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def decrypt(token: str) -> bytes:
    """The plain bytes of a token made by `encrypt`; ValueError when it is not one or the key changed."""
    if not is_encrypted(token):
        raise ValueError("value is not encrypted")
    try:
        return fernet().decrypt(token[len(PREFIX) :].encode())
    except InvalidToken:
        raise ValueError("cannot decrypt: FIELD_ENCRYPTION_KEY (or SECRET_KEY) changed") from None
