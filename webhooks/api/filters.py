"""Query-parameter filters of the webhooks API (django-filter). Bad values answer 400 naming them."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from accounts.api.filters import IsoDateTimeFilter
from webhooks.events import EVENT_TYPES, WEBHOOK_TEST
from webhooks.models import WebhookDelivery, WebhookEndpoint

D = WebhookDelivery.Status
OUTCOMES = (("pending", "pending"), ("succeeded", "succeeded"), ("failed", "failed"))


class WebhookEndpointFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter()
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookEndpoint
        fields = ["active", "created_after", "created_before"]


class WebhookDeliveryFilter(django_filters.FilterSet):
    event_type = django_filters.ChoiceFilter(choices=[(t, t) for t in (*EVENT_TYPES, WEBHOOK_TEST)])
    event_id = django_filters.CharFilter(field_name="event_id")
    outcome = django_filters.ChoiceFilter(choices=OUTCOMES, method="filter_outcome")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ["event_type", "event_id", "outcome", "created_after", "created_before"]

    def filter_outcome(self, queryset: QuerySet[WebhookDelivery], name: str, value: str) -> QuerySet[WebhookDelivery]:
        if value == "pending":
            return queryset.filter(status__in=[D.PENDING, D.SENDING])
        return queryset.filter(status=value)
