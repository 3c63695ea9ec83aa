"""Support staff review WhatsApp templates here: approve, or reject with a reason. Both go through
templates_app.services; staff do not author templates, so every field is read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.exceptions import ConflictError, describe_validation_error
from accounts.models import User

from .models import Template
from .services import template_approve, template_delete, template_reject


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        max_length=2000,
        help_text="Shown to the client, e.g. Meta's reason.",
    )


def _reviewer(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin[Template]):
    list_display = ["name", "client", "channel", "language", "category", "status", "segments", "updated_at"]
    list_filter = ["status", "channel", "language", "category"]
    search_fields = ["name", "content", "client__name"]
    list_select_related = ["client"]
    actions = ["approve_templates", "reject_templates"]
    readonly_fields = (
        "id",
        "client",
        "name",
        "channel",
        "language",
        "category",
        "content",
        "status",
        "rejection_reason",
        "variables",
        "encoding",
        "segments",
        "submitted_at",
        "reviewed_at",
        "reviewed_by",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # clients author templates (API, dashboard); staff review them

    def delete_model(self, request: HttpRequest, obj: Template) -> None:
        template_delete(template=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Template]) -> None:
        for template in queryset:
            template_delete(template=template)

    @admin.action(description="Approve selected pending templates")
    def approve_templates(self, request: HttpRequest, queryset: QuerySet[Template]) -> None:
        done, skipped = 0, 0
        for template in queryset:
            try:
                template_approve(template=template, reviewer=_reviewer(request))
                done += 1
            except ConflictError:
                skipped += 1
        self.message_user(request, f"Approved {done} template(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Skipped {skipped} template(s) that were not pending.", messages.WARNING)

    @admin.action(description="Reject selected pending templates…")
    def reject_templates(self, request: HttpRequest, queryset: QuerySet[Template]) -> HttpResponse | None:
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done, skipped = 0, 0
            for template in queryset:
                try:
                    template_reject(template=template, reviewer=_reviewer(request), reason=form.cleaned_data["reason"])
                    done += 1
                except ConflictError:
                    skipped += 1
                except ValidationError as exc:
                    self.message_user(request, describe_validation_error(exc), messages.ERROR)
                    return None
            self.message_user(request, f"Rejected {done} template(s).", messages.SUCCESS)
            if skipped:
                self.message_user(request, f"Skipped {skipped} template(s) that were not pending.", messages.WARNING)
            return None
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Reject templates",
            "opts": self.model._meta,
            "form": form,
            "templates": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/templates_app/template/reject_templates.html", context)
