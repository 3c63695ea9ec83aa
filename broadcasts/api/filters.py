from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django_filters.fields import ChoiceField
from rest_framework.exceptions import ValidationError

from accounts.api.filters import BatchIdFilter, IsoDateTimeFilter
from accounts.channels import Channel
from broadcasts.models import Broadcast, Message, Reply
from contacts import phones


class BroadcastFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Broadcast.Status.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    parent = django_filters.UUIDFilter(
        field_name="parent_id", help_text="The occurrences of a recurring series, or the follow-ups of a broadcast."
    )

    class Meta:
        model = Broadcast
        fields = ["status", "channel", "name", "created_after", "created_before", "parent"]


class StrippedChoiceField(ChoiceField):
    def to_python(self, value: Any) -> Any:
        return super().to_python(value.strip() if isinstance(value, str) else value)


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """One choice or several separated by commas (`?status=delivered,read`), each checked: an unknown
    one is 400 `invalid_choice` naming it, and the filter matches any of them. Spaces around an item
    are ignored (`delivered, read`); empty items are left out (`delivered,` is `delivered`; `,`
    filters nothing, as an empty `status=` does)."""

    field_class = StrippedChoiceField

    def filter(self, qs: Any, value: Any) -> Any:
        return super().filter(qs, [item for item in value or [] if item])


class MessageFilter(django_filters.FilterSet):
    broadcast = django_filters.UUIDFilter(field_name="broadcast_id")
    batch_id = BatchIdFilter(field_name="broadcast_id", help_text="batch-<broadcast id>, as eSMS names it.")
    # A read message was delivered first but has status `read` (a message has its latest status only),
    # so "everything delivered" is `delivered,read` (issue 21).
    status = ChoiceInFilter(
        choices=Message.Status.choices,
        help_text=(
            "One status, or several separated by commas: any of them matches. A message read was delivered "
            "first but has status `read`, so every delivered message is `status=delivered,read`."
        ),
    )
    urn = django_filters.CharFilter(method="filter_urn")
    phone = django_filters.CharFilter(method="filter_phone")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Message
        fields = ["broadcast", "status", "urn", "phone", "created_after", "created_before"]

    def _country(self) -> str | None:
        return self.request.user.client.country if self.request is not None else None

    def filter_urn(self, queryset: QuerySet[Message], name: str, value: str) -> QuerySet[Message]:
        # An unencoded '+' in a query string arrives as a space; a URN never holds one.
        text = value.strip().replace(" ", "+")
        try:
            urn = phones.parse_urn(text, self._country())
        except phones.AddressError as exc:
            raise ValidationError({"urn": [exc.message]}, code=exc.code) from None
        return queryset.filter(urn=f"{urn.scheme}:{urn.path}")

    def filter_phone(self, queryset: QuerySet[Message], name: str, value: str) -> QuerySet[Message]:
        text = value.strip().replace(" ", "+")
        try:
            e164 = phones.parse_phone(text, self._country())
        except phones.AddressError as exc:
            raise ValidationError({"phone": [exc.message]}, code=exc.code) from None
        return queryset.filter(Q(urn=f"tel:{e164}") | Q(urn=f"whatsapp:{e164}"))


class ReplyFilter(django_filters.FilterSet):
    broadcast = django_filters.UUIDFilter(field_name="broadcast_id")
    contact = django_filters.UUIDFilter(field_name="contact_id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Reply
        fields = ["broadcast", "contact", "created_after", "created_before"]
