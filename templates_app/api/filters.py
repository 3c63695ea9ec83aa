from __future__ import annotations

import django_filters

from accounts.api.filters import IsoDateTimeFilter
from accounts.channels import Channel
from templates_app.models import Template


class TemplateFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    status = django_filters.ChoiceFilter(choices=Template.Status.choices)
    category = django_filters.ChoiceFilter(choices=Template.Category.choices)
    language = django_filters.CharFilter(field_name="language", lookup_expr="iexact")
    name = django_filters.CharFilter(field_name="name", lookup_expr="exact", help_text="Exact name.")
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Part of the name, case-insensitive."
    )
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Template
        fields = ["channel", "status", "category", "language", "name", "search", "created_after", "created_before"]
