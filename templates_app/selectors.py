"""Reads for templates, including the one the broadcasts app calls to pick a template to send."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.channels import Channel
from accounts.models import Client

from .models import Template


def template_list(*, client: Client) -> QuerySet[Template]:
    """This client's templates, newest first."""
    return Template.objects.filter(client=client).order_by("-created_at", "-id")


def template_get(*, client: Client, template_id: UUID | str) -> Template | None:
    """One of this client's templates, or None (also for a malformed id)."""
    try:
        return Template.objects.filter(client=client, pk=template_id).first()
    except (ValueError, TypeError, ValidationError):
        return None


def templates_for_use(*, client: Client, name: str, channel: str) -> dict[str, Template]:
    """The approved templates called `name` on `channel`, by language (ISO 639-3).

    The caller picks each recipient's language and falls back to its base language. Raises a
    ValidationError on the `template` field: code `template_not_found` when this client has no
    template of that name on that channel, `template_not_approved` when it has some but none is
    approved (e.g. a WhatsApp template still in draft, pending or rejected).
    """
    templates = list(Template.objects.filter(client=client, name=name, channel=channel).order_by("language"))
    if not templates:
        label = Channel(channel).label if channel in Channel.values else channel
        raise ValidationError(
            {"template": [ValidationError(f"There is no {label} template named '{name}'.", code="template_not_found")]}
        )
    approved = {t.language: t for t in templates if t.status == Template.Status.APPROVED}
    if not approved:
        statuses = ", ".join(sorted({f"{t.language}: {t.status}" for t in templates}))
        raise ValidationError(
            {
                "template": [
                    ValidationError(
                        f"The template '{name}' is not approved yet ({statuses}); it can be used once approved.",
                        code="template_not_approved",
                    )
                ]
            }
        )
    return approved
