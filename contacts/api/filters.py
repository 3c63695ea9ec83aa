"""Query-parameter filters of the contacts API (django-filter). Bad values answer 400 naming them."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from accounts.api.filters import IsoDateTimeFilter
from contacts.models import Contact, ContactImport, ContactList
from contacts.selectors import contact_search
from contacts.services import MAX_LIST_NUMBER, clean_phone
from contacts.validation import normalize_language

TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no"}


def _boolean(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ValidationError({name: ["Use true or false."]}, code="invalid")


class ContactFilter(django_filters.FilterSet):
    list = django_filters.UUIDFilter(field_name="memberships__contact_list_id", help_text="Members of this list.")
    phone = django_filters.CharFilter(method="filter_phone", help_text="Exact phone, E.164 or national.")
    telegram_chat_id = django_filters.CharFilter(field_name="telegram_chat_id")
    opted_out = django_filters.CharFilter(method="filter_opted_out", help_text="true or false.")
    language = django_filters.CharFilter(method="filter_language", help_text="ISO 639-3, e.g. eng.")
    search = django_filters.CharFilter(
        method="filter_search", help_text="Words matched in first name, last name and phone."
    )
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Contact
        fields = [
            "list",
            "phone",
            "telegram_chat_id",
            "opted_out",
            "language",
            "search",
            "created_after",
            "created_before",
        ]

    def filter_phone(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        client = self.request.user.client
        try:
            phone = clean_phone(value, client=client)
        except DjangoValidationError as exc:
            raise ValidationError({"phone": exc.messages[:1]}, code=exc.code or "invalid") from None
        return queryset.filter(phone=phone) if phone else queryset

    def filter_opted_out(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset.filter(opted_out=_boolean(name, value))

    def filter_language(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        try:
            return queryset.filter(language=normalize_language(value))
        except ValueError as exc:
            raise ValidationError({"language": [str(exc)]}, code="invalid_language") from None

    def filter_search(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return contact_search(queryset, value)


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ContactListFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Part of the name.")
    number = IntegerFilter(field_name="number", min_value=1, max_value=MAX_LIST_NUMBER, help_text="The list's number.")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ContactList
        fields = ["name", "number", "created_after", "created_before"]


class ContactImportFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ContactImport.Status.choices)
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ContactImport
        fields = ["status", "created_after", "created_before"]
