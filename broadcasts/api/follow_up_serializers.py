"""The follow-up body's documentation (SPEC §8 "Campaigns"): POST /broadcasts/{id}/follow-up/."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from accounts.channels import Channel
from broadcasts.services import FOLLOW_UP_AUDIENCES

from .serializers import BroadcastCreateSerializer


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Everyone who did not click",
            value={"audience": "not_clicked", "name": "Reminder", "text": "Last day: https://shop.example/sale"},
            request_only=True,
        )
    ]
)
class FollowUpSerializer(BroadcastCreateSerializer):
    """Documentation of the follow-up body (SPEC §8): the create's fields without its audience
    (recipients, recipient_variables, contacts, contact_lists, exclude_lists: each a 400), plus
    `audience`; validation is broadcasts/services/follow_up.py, then broadcasts/validation.py."""

    recipients = None  # type: ignore[assignment]
    recipient_variables = None  # type: ignore[assignment]
    contacts = None  # type: ignore[assignment]
    contact_lists = None  # type: ignore[assignment]
    exclude_lists = None  # type: ignore[assignment]
    audience = serializers.ChoiceField(
        choices=list(FOLLOW_UP_AUDIENCES),
        help_text="Which recipients of the original: not_clicked (sent, delivered or read, no click; needs "
        "track_links on the original), clicked, not_delivered (sent or failed, never delivered or read), failed, "
        "not_replied (sent, delivered or read, no reply; needs with_replies on the original), replied. Test "
        "messages never count.",
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, help_text="Default: the original broadcast's channel."
    )
