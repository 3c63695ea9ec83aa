from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from accounts.api.filters import IsoDateTimeFilter
from accounts.channels import Channel
from wallets.models import LedgerEntry, Route


class LedgerEntryFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LedgerEntry.Kind.choices)
    broadcast = django_filters.UUIDFilter(field_name="broadcast_id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields = ["kind", "broadcast", "created_after", "created_before"]


class PriceFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    country_code = django_filters.CharFilter(method="filter_country", help_text="ISO 3166-1 alpha-2, e.g. UG.")
    country = django_filters.CharFilter(
        field_name="country_code", method="filter_country", help_text="The same as country_code."
    )

    class Meta:
        model = Route
        fields = ["channel", "country_code", "country"]

    def filter_country(self, queryset: QuerySet[Route], name: str, value: str) -> QuerySet[Route]:
        return queryset.filter(country_code=value.strip().upper())
