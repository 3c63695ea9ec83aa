"""Query-parameter filtering of every list: django-filter, and a 400 for a parameter it does not know.

A misspelt or unsupported filter (`?country_code=` where the list filters by `country`, `?foo=1`)
used to be ignored, answering the whole unfiltered list as if it were the answer. Now a list answers
400 `unknown_parameter` naming it; what it knows is its FilterSet's parameters, its paginator's
(`cursor`, `limit`) and DRF's `format`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any, Final

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.widgets import SuffixedMultiWidget
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accounts.models import ApiKey

UNKNOWN_CODE: Final = "unknown_parameter"


def refuse_unknown_params(request: Request, known: Collection[str]) -> None:
    """ValidationError (400 `unknown_parameter`) naming every query parameter not in `known` (DRF's
    `format` is always known)."""
    unknown = [name for name in request.query_params if name not in known and name != api_settings.URL_FORMAT_OVERRIDE]
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        message = f"Unknown query parameter; this endpoint takes: {takes}."
        raise ValidationError({name: [message] for name in unknown}, code=UNKNOWN_CODE)


def _query_names(name: str, widget: forms.Widget) -> list[str]:
    """The query parameters a filter reads: range filters read `<name>_min`/`_max` and the like."""
    if isinstance(widget, SuffixedMultiWidget):
        return [widget.suffixed(name, suffix) for suffix in widget.suffixes]
    return [name]


def filterset_params(filterset_class: type[django_filters.FilterSet] | None) -> set[str]:
    if filterset_class is None:
        return set()
    return {
        param
        for name, declared in filterset_class.base_filters.items()
        for param in _query_names(name, declared.field.widget)
    }


def _paginator_params(view: Any) -> Iterable[str]:
    paginator = getattr(view, "paginator", None)
    for attribute in ("cursor_query_param", "page_size_query_param", "page_query_param", "limit_query_param"):
        value = getattr(paginator, attribute, None)
        if value:
            yield value


class UTCIsoDateTimeField(IsoDateTimeField):
    """django-filter's ISO 8601 field, moved to UTC before it reaches a query.

    PostgreSQL keeps offsets only up to ±15:59, so a valid ISO 8601 `+18:11` reached the query as a
    500 (found by the schema fuzzer); in UTC any offset is fine, and a moment past year 9999 is invalid.
    """

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        if parsed is None or timezone.is_naive(parsed):
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class BatchIdField(forms.UUIDField):
    """A UUID written `batch-<uuid>` (eSMS's batch_id, SPEC §14); the bare UUID is accepted too."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower().startswith("batch-"):
            value = value.strip()[len("batch-") :]
        return super().to_python(value)


class BatchIdFilter(django_filters.UUIDFilter):
    field_class = BatchIdField


class HeraldFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend whose lists refuse unknown query parameters (400 naming them)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        # Only lists: a retrieve or an action reaches here through get_object() and takes no filters.
        if getattr(view, "action", None) == "list":
            known = filterset_params(self.get_filterset_class(view, queryset))
            known.update(_paginator_params(view))
            refuse_unknown_params(request, known)
        return super().filter_queryset(request, queryset, view)


class ApiKeyFilter(django_filters.FilterSet):
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ApiKey
        fields = ["created_after", "created_before"]
