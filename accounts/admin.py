"""Support staff's view of tenants, users and keys. Every change goes through accounts.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .exceptions import ConflictError
from .models import ApiKey, Client, Membership, Scope, User
from .services import api_key_create, api_key_revoke, client_reactivate, client_suspend


class MembershipInline(admin.TabularInline[Membership, Any]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "client"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin[Client]):
    list_display = ["name", "id", "country", "timezone", "status", "created_at"]
    list_filter = ["status", "country"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "status", "suspended_at", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["suspend_clients", "reactivate_clients"]

    @admin.action(description="Suspend selected clients")
    def suspend_clients(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        done = 0
        for client in queryset:
            try:
                client_suspend(client=client)
                done += 1
            except ConflictError:
                continue
        self.message_user(request, f"Suspended {done} client(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected clients")
    def reactivate_clients(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        done = 0
        for client in queryset:
            try:
                client_reactivate(client=client)
                done += 1
            except ConflictError:
                continue
        self.message_user(request, f"Reactivated {done} client(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "client", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "client__name"]
    autocomplete_fields = ["user", "client"]


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset


class ApiKeyAddForm(forms.ModelForm[ApiKey]):
    scope_choices = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, label="Scopes"
    )
    allowed_ips_text = forms.CharField(
        required=False, label="Allowed IPs", help_text="IPs or CIDRs separated by commas; empty allows any."
    )

    class Meta:
        model = ApiKey
        fields = ["client", "name", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ["name", "client", "prefix", "scope_list", "revoked_at", "expires_at", "last_used_at", "created_at"]
    list_filter = [ApiKeyStatusFilter]
    search_fields = ["name", "prefix", "client__name"]
    autocomplete_fields = ["client"]
    actions = ["revoke_keys"]
    # The secret is never stored, so nothing here can show it again.
    readonly_fields = [
        "id",
        "client",
        "prefix",
        "scopes",
        "allowed_ips",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_by",
        "created_at",
    ]
    fields = ["id", "client", "name", *readonly_fields[2:]]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ["client", "name", "scope_choices", "allowed_ips_text", "expires_at"]
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        ips = [part for part in (data.get("allowed_ips_text") or "").replace(" ", ",").split(",") if part]
        try:
            api_key, raw = api_key_create(
                client=data["client"],
                name=data["name"],
                scopes=data["scope_choices"],
                allowed_ips=ips,
                expires_at=data.get("expires_at"),
                created_by=request.user if isinstance(request.user, User) else None,
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        obj.pk = api_key.pk
        self.message_user(request, f"API key created. Copy it now, it will not be shown again: {raw}", messages.WARNING)

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        done = 0
        for api_key in queryset:
            try:
                api_key_revoke(api_key=api_key)
                done += 1
            except ConflictError:
                continue
        self.message_user(request, f"Revoked {done} key(s).", messages.SUCCESS)
