"""Query-parameter filters of /api/v1/url-tracking/ (django-filter). Bad values answer 400 naming them."""

from __future__ import annotations

import django_filters

from accounts.api.filters import IsoDateTimeFilter
from tracking.models import TrackedLink


class TrackedLinkFilter(django_filters.FilterSet):
    broadcast = django_filters.UUIDFilter(field_name="broadcast_id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = TrackedLink
        fields = ["broadcast", "created_after", "created_before"]
