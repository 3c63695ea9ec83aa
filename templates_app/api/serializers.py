from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.channels import Channel
from templates_app.models import Template


class TemplateSerializer(serializers.ModelSerializer[Template]):
    encoding = serializers.ChoiceField(
        choices=Template.Encoding.choices, allow_null=True, read_only=True, help_text="SMS only; null otherwise."
    )
    segments = serializers.IntegerField(
        allow_null=True, read_only=True, help_text="SMS parts of the content as written; null for other channels."
    )
    variables = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Template
        fields = [
            "id",
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
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TemplateCreateSerializer(serializers.Serializer[Any]):
    """Shapes only; the rules (lengths, language codes, limits, uniqueness) live in the services."""

    name = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="1–512 characters.")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.SMS)
    language = serializers.CharField(default="eng", help_text="ISO 639-3, e.g. eng, fra.")
    category = serializers.ChoiceField(choices=Template.Category.choices, default=Template.Category.MARKETING)
    content = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text="Limits: SMS 1224, WhatsApp 1024, Telegram 4096, RCS 2500 characters.",
    )


class TemplateUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, help_text="Cannot be changed.")
    language = serializers.CharField(required=False)
    category = serializers.ChoiceField(choices=Template.Category.choices, required=False)
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
