"""JSON with money as exact numbers (SPEC §14): a Decimal is written with its own digits, never
through a float, so 0.0188 stays 0.0188 and 50.750000 is written 50.75."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rest_framework.renderers import BaseRenderer


def decimal_number(value: Decimal) -> str:
    """The Decimal as a JSON number: plain notation (no exponent), no trailing zeros."""
    if not value.is_finite():
        raise ValueError(f"{value} has no JSON number")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def dumps(value: Any) -> str:
    """Compact JSON of dicts, lists, strings, booleans, None, ints and Decimals (exactly)."""
    if isinstance(value, Decimal):
        return decimal_number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    # A float only comes back from a stored answer (an Idempotency-Key replay, stored as JSON): its
    # shortest repr gives back the digits of a decimal of up to 15 significant digits exactly.
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


class ExactJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # JSON is UTF-8 by definition (RFC 8259): no charset parameter

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return dumps(data).encode()
