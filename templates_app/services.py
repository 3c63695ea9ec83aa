"""Writes for templates: create, update, delete, and the WhatsApp approval workflow.

The API, the dashboard, the admin and seed_demo all come through here. State changes are
conditional updates (`filter(status=…).update(…)`), so two concurrent submits or reviews cannot
both win.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone

from accounts.channels import Channel
from accounts.exceptions import ConflictError
from accounts.models import Client, User

from .encoding import analyze
from .models import Template
from .rendering import extract_variables
from .validators import validate_category, validate_channel, validate_content, validate_language, validate_name

log = structlog.get_logger(__name__)

EDITABLE_FIELDS = ("name", "language", "category", "content")
_UNSET: Any = object()


def _collect(checks: dict[str, Callable[[], object]]) -> dict[str, Any]:
    """Run each field's check; raise one ValidationError naming every bad field, else return the values."""
    values: dict[str, Any] = {}
    errors: dict[str, list[ValidationError]] = {}
    for name, check in checks.items():
        try:
            values[name] = check()
        except ValidationError as exc:
            errors[name] = exc.error_list
    if errors:
        raise ValidationError(errors)
    return values


def _derive(template: Template) -> None:
    """Set the fields computed from content: variables always, encoding and segments for SMS."""
    template.variables = extract_variables(template.content)
    if template.channel == Channel.SMS:
        info = analyze(template.content)
        template.encoding, template.segments = info.encoding, info.segments
    else:
        template.encoding, template.segments = None, None


def _duplicate_error() -> ValidationError:
    return ValidationError(
        {
            "name": [
                ValidationError(
                    "A template with this name already exists for this channel and language.", code="duplicate"
                )
            ]
        }
    )


def _is_duplicate(template: Template) -> bool:
    return (
        Template.objects.filter(
            client_id=template.client_id,
            channel=template.channel,
            name=template.name,
            language=template.language,
        )
        .exclude(pk=template.pk)
        .exists()
    )


def _save(template: Template, *, update_fields: list[str] | None = None) -> None:
    """Save, turning the unique constraint's race into the same 400 as the pre-check."""
    if _is_duplicate(template):
        raise _duplicate_error()
    try:
        with transaction.atomic():
            template.save(update_fields=update_fields)
    except IntegrityError as exc:
        if "template_unique_client_channel_name_language" in str(exc):
            raise _duplicate_error() from None
        raise


def template_create(
    *,
    client: Client,
    name: str,
    content: str,
    channel: str = Channel.SMS,
    language: str = "eng",
    category: str = Template.Category.MARKETING,
) -> Template:
    """A new template: approved at once, except WhatsApp ones, which start as drafts to submit."""
    values = _collect(
        {
            "name": lambda: validate_name(name),
            "channel": lambda: validate_channel(channel),
            "language": lambda: validate_language(language),
            "category": lambda: validate_category(category),
            # an unknown channel has no limit: the content is still checked for blankness
            "content": lambda: validate_content(content, channel=channel),
        }
    )
    template = Template(client=client, **values)
    template.status = Template.Status.DRAFT if template.needs_approval else Template.Status.APPROVED
    _derive(template)
    _save(template)
    log.info("template.created", client_id=str(client.pk), template_id=str(template.pk), channel=template.channel)
    return template


def template_update(
    *,
    template: Template,
    name: str = _UNSET,
    language: str = _UNSET,
    category: str = _UNSET,
    content: str = _UNSET,
    channel: str = _UNSET,
) -> Template:
    """Change name, language, category or content. The channel is fixed once created.

    A WhatsApp template under review (pending) cannot be edited. Editing an approved or rejected
    one sends it back to draft: Meta reviews every change, so it must be submitted again.
    """
    checks: dict[str, Callable[[], object]] = {}
    if channel is not _UNSET and channel != template.channel:

        def refuse_channel() -> object:
            raise ValidationError(
                "The channel of a template cannot be changed; create a new template.", code="immutable"
            )

        checks["channel"] = refuse_channel
    if name is not _UNSET:
        checks["name"] = lambda: validate_name(name)
    if language is not _UNSET:
        checks["language"] = lambda: validate_language(language)
    if category is not _UNSET:
        checks["category"] = lambda: validate_category(category)
    if content is not _UNSET:
        checks["content"] = lambda: validate_content(content, channel=template.channel)
    values = _collect(checks)
    changed = {field: value for field, value in values.items() if getattr(template, field) != value}
    if not changed:
        return template
    if template.needs_approval and template.status == Template.Status.PENDING:
        raise ConflictError("This template is waiting for approval and cannot be edited now.", code="conflict")
    with transaction.atomic():
        # Lock the row so a concurrent review cannot approve content it never saw.
        current = Template.objects.select_for_update().get(pk=template.pk)
        if current.needs_approval and current.status == Template.Status.PENDING:
            raise ConflictError("This template is waiting for approval and cannot be edited now.", code="conflict")
        for field, value in changed.items():
            setattr(current, field, value)
        fields = [*changed, "variables", "encoding", "segments", "updated_at"]
        if current.needs_approval and current.status in (Template.Status.APPROVED, Template.Status.REJECTED):
            current.status = Template.Status.DRAFT
            current.reviewed_at, current.reviewed_by = None, None
            fields += ["status", "reviewed_at", "reviewed_by"]
        _derive(current)
        _save(current, update_fields=fields)
    log.info("template.updated", client_id=str(current.client_id), template_id=str(current.pk), status=current.status)
    return current


def template_delete(*, template: Template) -> None:
    template_id = str(template.pk)
    try:
        with transaction.atomic():
            template.delete()
    except (ProtectedError, RestrictedError):
        raise ConflictError("This template is in use and cannot be deleted.", code="conflict") from None
    log.info("template.deleted", client_id=str(template.client_id), template_id=template_id)


def _transition(*, template: Template, sources: tuple[str, ...], message: str, **changes: Any) -> Template:
    now = timezone.now()
    updated = Template.objects.filter(pk=template.pk, status__in=sources).update(**changes, updated_at=now)
    if not updated:
        raise ConflictError(message, code="conflict")
    template.refresh_from_db()
    return template


def template_submit(*, template: Template) -> Template:
    """Send a WhatsApp draft (or a rejected template, corrected) for approval: → pending."""
    if not template.needs_approval:
        raise ConflictError(
            f"{Channel(template.channel).label} templates are approved on creation; only WhatsApp templates are "
            "submitted for approval.",
            code="conflict",
        )
    template = _transition(
        template=template,
        sources=(Template.Status.DRAFT, Template.Status.REJECTED),
        message="Only a draft or rejected template can be submitted.",
        status=Template.Status.PENDING,
        rejection_reason="",
        submitted_at=timezone.now(),
    )
    log.info("template.submitted", client_id=str(template.client_id), template_id=str(template.pk))
    return template


def template_approve(*, template: Template, reviewer: User | None) -> Template:
    """Staff approval of a pending template (mirrors Meta's decision)."""
    template = _transition(
        template=template,
        sources=(Template.Status.PENDING,),
        message="Only a pending template can be approved.",
        status=Template.Status.APPROVED,
        rejection_reason="",
        reviewed_at=timezone.now(),
        reviewed_by=reviewer,
    )
    log.info("template.approved", client_id=str(template.client_id), template_id=str(template.pk))
    return template


def template_reject(*, template: Template, reviewer: User | None, reason: str) -> Template:
    """Staff rejection of a pending template, with the reason the client will see."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"rejection_reason": [ValidationError("Give the reason for rejecting.", code="blank")]})
    template = _transition(
        template=template,
        sources=(Template.Status.PENDING,),
        message="Only a pending template can be rejected.",
        status=Template.Status.REJECTED,
        rejection_reason=reason,
        reviewed_at=timezone.now(),
        reviewed_by=reviewer,
    )
    log.info("template.rejected", client_id=str(template.client_id), template_id=str(template.pk))
    return template
