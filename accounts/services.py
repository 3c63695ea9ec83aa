"""Writes for tenants, memberships and API keys. The API, dashboard, admin and commands call these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .exceptions import ConflictError
from .keys import generate_key
from .models import ApiKey, Client, Heartbeat, Membership, User
from .validators import validate_country, validate_networks, validate_rate, validate_scopes, validate_timezone

log = structlog.get_logger(__name__)


def _collect(checks: dict[str, object]) -> None:
    """Run field validators, raising one ValidationError that names every bad field."""
    errors: dict[str, list[ValidationError]] = {}
    for field, check in checks.items():
        try:
            check()  # type: ignore[operator]
        except ValidationError as exc:
            errors[field] = exc.error_list
    if errors:
        raise ValidationError(errors)


def client_create(
    *,
    name: str,
    country: str,
    timezone_name: str = "UTC",
    send_rate_limit: str = "",
    api_rate_limit: str = "",
) -> Client:
    name = (name or "").strip()

    def check_name() -> None:
        if not name or len(name) > 200:
            raise ValidationError("The name must be 1–200 characters.", code="invalid_name")

    _collect(
        {
            "name": check_name,
            "country": lambda: validate_country(country),
            "timezone": lambda: validate_timezone(timezone_name),
            "send_rate_limit": lambda: validate_rate(send_rate_limit),
            "api_rate_limit": lambda: validate_rate(api_rate_limit),
        }
    )
    client = Client.objects.create(
        name=name,
        country=validate_country(country),
        timezone=timezone_name,
        send_rate_limit=send_rate_limit.strip(),
        api_rate_limit=api_rate_limit.strip(),
    )
    log.info("client.created", client_id=str(client.id))
    return client


def client_set_rate_limits(
    *, client: Client, send_rate_limit: str | None = None, api_rate_limit: str | None = None
) -> Client:
    """Set the client's own limits ('' goes back to the setting; None leaves one as it is)."""
    given = {"send_rate_limit": send_rate_limit, "api_rate_limit": api_rate_limit}
    _collect({name: partial(validate_rate, value) for name, value in given.items() if value is not None})
    changes = {name: value.strip() for name, value in given.items() if value is not None}
    if changes:
        for name, value in changes.items():
            setattr(client, name, value)
        client.save(update_fields=[*changes, "updated_at"])
        log.info("client.rate_limits_set", client_id=str(client.id), **changes)
    return client


def client_suspend(*, client: Client) -> Client:
    updated = Client.objects.filter(pk=client.pk, status=Client.Status.ACTIVE).update(
        status=Client.Status.SUSPENDED, suspended_at=timezone.now(), updated_at=timezone.now()
    )
    if not updated:
        raise ConflictError("The client is already suspended.")
    client.refresh_from_db()
    log.info("client.suspended", client_id=str(client.id))
    return client


def client_reactivate(*, client: Client) -> Client:
    updated = Client.objects.filter(pk=client.pk, status=Client.Status.SUSPENDED).update(
        status=Client.Status.ACTIVE, suspended_at=None, updated_at=timezone.now()
    )
    if not updated:
        raise ConflictError("The client is already active.")
    client.refresh_from_db()
    log.info("client.reactivated", client_id=str(client.id))
    return client


def membership_set(*, client: Client, user: User, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError({"role": [f"Role must be one of {', '.join(Membership.Role.values)}."]})
    membership, _ = Membership.objects.update_or_create(client=client, user=user, defaults={"role": role})
    return membership


def membership_set_timezone(*, membership: Membership, zone: str) -> Membership:
    """The zone the dashboard shows this member's times in: an IANA name, or "" for the client's."""
    zone = (zone or "").strip()
    if zone:
        _collect({"timezone": lambda: validate_timezone(zone)})
    membership.timezone = zone
    membership.save(update_fields=["timezone"])
    return membership


def api_key_create(
    *,
    client: Client,
    name: str,
    scopes: Iterable[str],
    allowed_ips: Iterable[str] = (),
    expires_at: datetime | None = None,
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the full secret, which is never retrievable again."""
    name = (name or "").strip() or "API key"
    scopes = list(scopes)
    allowed_ips = list(allowed_ips)

    def check_name() -> None:
        if len(name) > 100:
            raise ValidationError("The name must be at most 100 characters.", code="max_length")

    def check_expiry() -> None:
        if expires_at is not None and expires_at <= timezone.now():
            raise ValidationError("The expiry must be in the future.", code="invalid_expiry")

    _collect(
        {
            "name": check_name,
            "scopes": lambda: validate_scopes(scopes),
            "allowed_ips": lambda: validate_networks(allowed_ips),
            "expires_at": check_expiry,
        }
    )
    raw, prefix, secret_hash = generate_key()
    api_key = ApiKey.objects.create(
        client=client,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash,
        scopes=validate_scopes(scopes),
        allowed_ips=validate_networks(allowed_ips),
        expires_at=expires_at,
        created_by=created_by,
    )
    log.info("api_key.created", client_id=str(client.id), api_key_id=str(api_key.id), prefix=prefix)
    return api_key, raw


def api_key_rotate(*, api_key: ApiKey) -> str:
    """Give an existing key a new secret (used by seed_demo so its printed key always works)."""
    raw, prefix, secret_hash = generate_key()
    ApiKey.objects.filter(pk=api_key.pk).update(prefix=prefix, secret_hash=secret_hash, revoked_at=None)
    api_key.refresh_from_db()
    log.info("api_key.rotated", client_id=str(api_key.client_id), api_key_id=str(api_key.id), prefix=prefix)
    return raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not updated:
        raise ConflictError("The key is already revoked.", code="already_revoked")
    api_key.refresh_from_db()
    log.info("api_key.revoked", client_id=str(api_key.client_id), api_key_id=str(api_key.id))
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once per API_KEY_LAST_USED_RESOLUTION, so reads don't all become writes."""
    now = timezone.now()
    threshold = now - settings.API_KEY_LAST_USED_RESOLUTION
    ApiKey.objects.filter(pk=api_key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=threshold)).update(
        last_used_at=now
    )


@transaction.atomic
def heartbeat_record(*, name: str) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
    return heartbeat
