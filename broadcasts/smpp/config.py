"""The `smpp` connector's config: validated and normalized once (createconnector, the admin).

Every key has a type and a range; enums are checked; unknown keys are refused so a typo never
silently falls back to a default. `password` is the only secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

BINDS = ("trx", "tx_rx")
CHARSETS = ("gsm0338", "latin1", "ascii")
CONCATS = ("udh", "sar", "payload")
ID_FORMATS = ("same", "hex_to_dec", "dec_to_hex")

# key: (type, default, minimum, maximum); None bounds are unchecked. "auto" TON/NPI is None.
_INTS: dict[str, tuple[int | None, int, int]] = {
    "port": (2775, 1, 65535),
    "binds": (1, 1, 32),
    "window": (10, 1, 1000),
    "source_ton": (-1, 0, 6),
    "source_npi": (-1, 0, 18),
    "dest_ton": (1, 0, 6),
    "dest_npi": (1, 0, 18),
    "registered_delivery": (1, 0, 31),
}
_FLOATS: dict[str, tuple[float, float, float]] = {
    "enquire_link_interval": (30.0, 1.0, 3600.0),
    "response_timeout": (10.0, 0.1, 300.0),
}
_TEXTS: dict[str, tuple[str, int, bool]] = {  # default, max length, required
    "host": ("", 253, True),
    "system_id": ("", 15, True),
    "password": ("", 8, False),
    "system_type": ("", 12, False),
}
_ENUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bind": ("trx", BINDS),
    "gsm7_charset": ("gsm0338", CHARSETS),
    "concat": ("udh", CONCATS),
    "receipt_id_format": ("same", ID_FORMATS),
}
KNOWN = {*_INTS, *_FLOATS, *_TEXTS, *_ENUMS, "tls"}


@dataclass(frozen=True)
class SmppConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    bind: str
    binds: int
    window: int
    tls: bool
    enquire_link_interval: float
    response_timeout: float
    source_ton: int | None  # None: from the sender (alphanumeric 5/0, digits 1/1)
    source_npi: int | None
    dest_ton: int
    dest_npi: int
    registered_delivery: int
    gsm7_charset: str
    concat: str
    receipt_id_format: str

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> SmppConfig:
        data = validate(config)
        data["source_ton"] = None if data["source_ton"] < 0 else data["source_ton"]
        data["source_npi"] = None if data["source_npi"] < 0 else data["source_npi"]
        return cls(**data)


def validate(config: Any) -> dict[str, Any]:
    """The normalized config (defaults filled in), or ValidationError naming every bad key."""
    if not isinstance(config, dict):
        raise ValidationError({"config": ["The config must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for key in sorted(set(config) - KNOWN):
        errors[f"config.{key}"] = [f"Unknown smpp setting; known: {', '.join(sorted(KNOWN))}."]
    for key, (default_text, longest, required) in _TEXTS.items():
        value = config.get(key, default_text)
        if not isinstance(value, str):
            errors[f"config.{key}"] = [f"{key} must be a string."]
        elif required and not value.strip():
            errors[f"config.{key}"] = [f"{key} is required."]
        elif len(value) > longest or not value.isascii():
            errors[f"config.{key}"] = [f"{key} must be at most {longest} ASCII characters."]
        else:
            out[key] = value.strip() if key == "host" else value
    for key, (default_int, low, high) in _INTS.items():
        value = config.get(key, default_int)
        if key in ("source_ton", "source_npi") and value in ("auto", None):
            value = -1
        if value == -1 and key in ("source_ton", "source_npi"):
            out[key] = -1
        elif not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[f"config.{key}"] = [f"{key} must be a whole number from {low} to {high}."]
        else:
            out[key] = value
    for key, (default_float, flow, fhigh) in _FLOATS.items():
        value = config.get(key, default_float)
        if not isinstance(value, int | float) or isinstance(value, bool) or not flow <= value <= fhigh:
            errors[f"config.{key}"] = [f"{key} must be a number of seconds from {flow:g} to {fhigh:g}."]
        else:
            out[key] = float(value)
    for key, (default_enum, choices) in _ENUMS.items():
        value = config.get(key, default_enum)
        if value not in choices:
            errors[f"config.{key}"] = [f"{key} must be one of {', '.join(choices)}."]
        else:
            out[key] = value
    tls = config.get("tls", False)
    if not isinstance(tls, bool):
        errors["config.tls"] = ["tls must be true or false."]
    out["tls"] = tls
    if errors:
        raise ValidationError(errors)
    return out


def stored(config: dict[str, Any]) -> dict[str, Any]:
    """What is saved: the normalized config with `auto` TON/NPI kept as the word."""
    data = validate(config)
    for key in ("source_ton", "source_npi"):
        if data[key] < 0:
            data[key] = "auto"
    return data
