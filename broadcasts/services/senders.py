"""Sender IDs and connectors: registration services (used by commands, admin and seed_demo)."""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import ValidationError

from accounts.channels import Channel
from accounts.models import Client

from ..connectors import connector_class
from ..models import Connector, Sender
from ..validation import normalize_sender

log = structlog.get_logger(__name__)


def sender_create(*, client: Client, sender: str, channel: str = Channel.SMS) -> Sender:
    errors: dict[str, list[ValidationError]] = {}
    try:
        normalized = normalize_sender(sender)
    except ValidationError as exc:
        errors["sender"] = exc.error_list
    if channel not in Channel.values:
        errors["channel"] = [ValidationError(f"Channel must be one of {', '.join(Channel.values)}.")]
    if errors:
        raise ValidationError(errors)
    if Sender.objects.filter(client=client, channel=channel, sender=normalized).exists():
        raise ValidationError({"sender": [f"'{normalized}' is already registered for {channel}."]}, code="duplicate")
    created = Sender.objects.create(client=client, channel=channel, sender=normalized)
    log.info("sender.created", client_id=str(client.pk), sender_id=str(created.pk))
    return created


def sender_is_registered(*, client: Client, sender: str, channel: str) -> bool:
    return Sender.objects.filter(client=client, channel=channel, sender=sender).exists()


def connector_create(
    *,
    name: str,
    channel: str,
    backend: str,
    config: dict[str, Any] | None = None,
    tps: int | None = None,
    active: bool = True,
    client: Client | None = None,
) -> Connector:
    """A provider connector: platform-wide, or `client`'s own (SPEC §10: only that client's
    broadcasts are routed through it, and inbound from unknown senders belongs to that client)."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 64:
        errors["name"] = ["The name must be 1–64 characters."]
    elif Connector.objects.filter(name=name).exists():
        errors["name"] = [f"A connector named '{name}' already exists."]
    if channel not in Channel.values:
        errors["channel"] = [f"Channel must be one of {', '.join(Channel.values)}."]
    if backend not in Connector.Backend.values:
        errors["backend"] = [f"Backend must be one of {', '.join(Connector.Backend.values)}."]
    if tps is None and backend == Connector.Backend.SMPP:
        errors["tps"] = ["tps is required for the smpp backend: the rate your SMSC account allows."]
    elif backend == Connector.Backend.SMPP and channel != Channel.SMS:
        errors["channel"] = ["The smpp backend sends SMS only."]
    tps = 50 if tps is None else tps
    if not isinstance(tps, int) or isinstance(tps, bool) or not 1 <= tps <= 100_000:
        errors["tps"] = ["tps must be a whole number from 1 to 100000."]
    normalized: dict[str, Any] = {}
    if "backend" not in errors:
        try:
            normalized = connector_class(backend).validate_config(config or {})
        except LookupError:
            errors["backend"] = [f"The '{backend}' backend is not available yet."]
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    connector = Connector.objects.create(
        name=name, channel=channel, backend=backend, config=normalized, tps=tps, active=active, client=client
    )
    log.info("connector.created", connector_id=str(connector.pk), backend=backend, client_id=str(client and client.pk))
    return connector
