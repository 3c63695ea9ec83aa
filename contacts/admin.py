"""Support staff's view of contacts, lists and imports. Every change goes through contacts.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from accounts.exceptions import ConflictError

from .imports import contact_import_enqueue
from .models import (
    Contact,
    ContactField,
    ContactImport,
    ContactList,
    ContactListMembership,
    ContactTombstone,
    OptOutSource,
)
from .selectors import contact_search
from .services import (
    contact_clean,
    contact_create,
    contact_delete,
    contact_list_create,
    contact_list_delete,
    contact_list_recount,
    contact_list_update,
    contact_opt_in,
    contact_opt_out,
    contact_update,
)

IMPORT_FIELDS = (
    "id",
    "client",
    "status",
    "progress",
    "file_name",
    "file_format",
    "contact_list",
    "update_existing",
    "total_rows",
    "processed_rows",
    "created",
    "updated",
    "invalid",
    "duplicates",
    "row_errors",
    "failure_reason",
    "created_at",
    "started_at",
    "finished_at",
)
EDITABLE = ("phone", "telegram_chat_id", "first_name", "last_name", "language", "timezone", "fields")


class ContactAdminForm(forms.ModelForm[Contact]):
    class Meta:
        model = Contact
        fields = ["client", *EDITABLE]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        client = data.get("client") or (self.instance.client if self.instance.pk else None)
        if client is None:
            return data
        try:
            values = contact_clean(
                client=client,
                data={name: data.get(name) for name in EDITABLE},
                contact=self.instance if self.instance.pk else None,
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                self.add_error(name.split(".")[0] if name.split(".")[0] in self.fields else None, errors)
            return data
        except ConflictError as exc:
            for name, errors in exc.fields.items():
                self.add_error(name, errors)
            return data
        data.update({k: v for k, v in values.items() if k in EDITABLE})
        data["fields"] = {k: v for k, v in data.get("fields", {}).items() if v is not None}
        data["first_name"] = data.get("first_name") or ""
        data["last_name"] = data.get("last_name") or ""
        data["timezone"] = data.get("timezone") or ""
        return data


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    form = ContactAdminForm
    list_display = ["__str__", "phone", "telegram_chat_id", "language", "opted_out", "client", "created_at"]
    list_filter = ["opted_out", "language", "opted_out_source"]
    search_fields = ["phone", "first_name", "last_name"]
    search_help_text = "Names, or a phone (E.164 or national digits)."
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    readonly_fields = [
        "id",
        "opted_out",
        "opted_out_at",
        "opted_out_source",
        "opt_out_changed_at",
        "opt_out_requested_at",
        "urn_schemes",
        "list_names",
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False  # a client may have millions
    actions = ["opt_out_contacts", "opt_in_contacts", "delete_contacts"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        if not search_term.strip():
            return queryset, False
        return contact_search(queryset, search_term), False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # the stock one skips the lists' counts
        return actions

    @admin.display(description="lists")
    def list_names(self, obj: Contact) -> str:
        return ", ".join(obj.lists.order_by("name").values_list("name", flat=True)) or "—"

    def save_model(self, request: HttpRequest, obj: Contact, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data.get(name) for name in EDITABLE}
        if change:
            contact_update(contact=Contact.objects.get(pk=obj.pk), data=values, replace_fields=True)
        else:
            obj.pk = contact_create(client=form.cleaned_data["client"], **values).pk

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        contact_delete(contact=obj)

    @admin.action(description="Opt selected contacts out")
    def opt_out_contacts(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset:
            contact_opt_out(contact=contact, source=OptOutSource.ADMIN)
        self.message_user(request, f"Opted out {queryset.count()} contact(s).", messages.SUCCESS)

    @admin.action(description="Opt selected contacts back in")
    def opt_in_contacts(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset:
            contact_opt_in(contact=contact, source=OptOutSource.ADMIN)
        self.message_user(request, f"Opted in {queryset.count()} contact(s).", messages.SUCCESS)

    @admin.action(description="Delete selected contacts", permissions=["delete"])
    def delete_contacts(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        done = 0
        for contact in queryset:
            contact_delete(contact=contact)
            done += 1
        self.message_user(request, f"Deleted {done} contact(s).", messages.SUCCESS)


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin[ContactList]):
    list_display = ["name", "number", "client", "contact_count", "created_at"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["name", "client__name", "=number"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    fields = ["id", "client", "name", "number", "contact_count", "created_at", "updated_at"]
    readonly_fields = ["id", "contact_count", "created_at", "updated_at"]
    actions = ["recount"]

    def get_readonly_fields(self, request: HttpRequest, obj: ContactList | None = None) -> Any:
        return [*self.readonly_fields, "client", "number"] if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ContactList, form: Any, change: bool) -> None:
        try:
            if change:
                contact_list_update(contact_list=obj, name=form.cleaned_data["name"])
            else:
                created = contact_list_create(
                    client=form.cleaned_data["client"],
                    name=form.cleaned_data["name"],
                    number=form.cleaned_data.get("number"),
                )
                obj.pk, obj.number = created.pk, created.number
        except ConflictError as exc:
            raise ValidationError(exc.message) from exc

    def delete_model(self, request: HttpRequest, obj: ContactList) -> None:
        contact_list_delete(contact_list=obj)

    @admin.action(description="Recount members of selected lists")
    def recount(self, request: HttpRequest, queryset: QuerySet[ContactList]) -> None:
        for contact_list in queryset:
            contact_list_recount(contact_list=contact_list)
        self.message_user(request, f"Recounted {queryset.count()} list(s).", messages.SUCCESS)


@admin.register(ContactListMembership)
class ContactListMembershipAdmin(admin.ModelAdmin[ContactListMembership]):
    """Read-only: members are added and removed through the API, the dashboard or an import."""

    list_display = ["contact", "contact_list", "created_at"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    # Exact matches only: a substring search over millions of memberships would scan them all.
    search_fields = ["=contact__phone", "=contact_list__name"]
    raw_id_fields = ["contact", "contact_list"]
    show_full_result_count = False
    list_select_related = ["contact", "contact_list"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin[ContactImport]):
    """Read-only progress and errors of imports."""

    list_display = [
        "id",
        "client",
        "status",
        "progress",
        "created",
        "updated",
        "invalid",
        "duplicates",
        "file_name",
        "created_at",
    ]
    list_filter = ["status", "file_format"]
    search_fields = ["=id", "file_name", "client__name"]
    list_select_related = ["client"]
    fields = IMPORT_FIELDS
    readonly_fields = IMPORT_FIELDS

    actions = ["run_again"]

    @admin.action(description="Queue selected pending or stalled imports again")
    def run_again(self, request: HttpRequest, queryset: QuerySet[ContactImport]) -> None:
        jobs = list(queryset.filter(status__in=[ContactImport.Status.PENDING, ContactImport.Status.PROCESSING]))
        for job in jobs:
            contact_import_enqueue(contact_import=job)  # a run while another holds the job does nothing
        self.message_user(request, f"Queued {len(jobs)} import(s).", messages.SUCCESS)

    @admin.display(description="progress")
    def progress(self, obj: ContactImport) -> str:
        if not obj.total_rows:
            return "—"
        return f"{obj.processed_rows:,} / {obj.total_rows:,} ({100 * obj.processed_rows // obj.total_rows}%)"

    @admin.display(description="errors (first 100)")
    def row_errors(self, obj: ContactImport) -> str:
        if not obj.errors:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.get("row") or "—", e.get("value") or "", e.get("reason") or "") for e in obj.errors),
        )
        return format_html("<table><tr><th>row</th><th>value</th><th>reason</th></tr>{}</table>", rows)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContactField)
class ContactFieldAdmin(admin.ModelAdmin[ContactField]):
    """The clients' registered contact fields (RapidPro's fields.json), read-only: the API writes them."""

    list_display = ["key", "name", "type", "client", "created_at"]
    list_filter = ["type"]
    search_fields = ["key", "name", "client__name"]
    list_select_related = ["client"]
    readonly_fields = ["client", "key", "name", "type", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContactTombstone)
class ContactTombstoneAdmin(admin.ModelAdmin[ContactTombstone]):
    """Deleted contacts' ids and when they went (RapidPro's contacts.json?deleted=true)."""

    list_display = ["contact_id", "client", "deleted_at"]
    list_filter = [("deleted_at", admin.DateFieldListFilter)]
    search_fields = ["=contact_id"]
    list_select_related = ["client"]
    readonly_fields = ["client", "contact_id", "contact_created_at", "deleted_at"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
