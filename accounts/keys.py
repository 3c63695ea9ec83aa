"""API key format and hashing (pure functions).

A key is `hk_<prefix>_<secret>`: the 10-character prefix is public and indexed, the 40-character
secret carries ~238 bits of randomness. A secret that random needs no slow hash: SHA-256 is enough
to make a stolen database useless, and it keeps authentication at one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

KEY_PREFIX = "hk"
PREFIX_LENGTH = 10
SECRET_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> tuple[str, str, str]:
    """Returns (full key, public prefix, secret hash)."""
    prefix = _random(PREFIX_LENGTH)
    secret = _random(SECRET_LENGTH)
    return f"{KEY_PREFIX}_{prefix}_{secret}", prefix, hash_secret(secret)


def split_key(raw: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    parts = raw.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    prefix, secret = parts[1], parts[2]
    if len(prefix) != PREFIX_LENGTH or len(secret) != SECRET_LENGTH:
        return None
    if not all(c in _ALPHABET for c in prefix + secret):
        return None
    return prefix, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
