"""Messaging channels. Kept in accounts because API scopes are per channel (`send_<channel>`), and
every app above (templates, prices, broadcasts) speaks of the same four."""

from __future__ import annotations

from django.db import models


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    TELEGRAM = "telegram", "Telegram"
    RCS = "rcs", "RCS"


def send_scope(channel: str) -> str:
    """The API scope needed to send on `channel` (SPEC §4)."""
    return f"send_{channel}"
