"""Response shapes of /api/v1/url-tracking/ (SPEC §12)."""

from __future__ import annotations

from rest_framework import serializers

from tracking.models import Click, TrackedLink
from tracking.selectors import link_ctr


class TrackedLinkSerializer(serializers.ModelSerializer[TrackedLink]):
    broadcast = serializers.UUIDField(source="broadcast_id", read_only=True)
    recipients = serializers.IntegerField(read_only=True, help_text="Messages the link was sent in.")
    clicks = serializers.IntegerField(read_only=True, help_text="Clicks by people (bots and link previews apart).")
    unique_clicks = serializers.IntegerField(read_only=True, help_text="Distinct recipients who clicked (people only).")
    bot_clicks = serializers.IntegerField(read_only=True, help_text="Fetches by bots and link previews.")
    ctr = serializers.SerializerMethodField(help_text="unique_clicks ÷ recipients (0 when sent to none).")
    first_click_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="A person's first click.")
    last_click_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="A person's latest click.")

    class Meta:
        model = TrackedLink
        fields = [
            "id",
            "url",
            "broadcast",
            "recipients",
            "clicks",
            "unique_clicks",
            "bot_clicks",
            "ctr",
            "first_click_at",
            "last_click_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_ctr(self, link: TrackedLink) -> float:
        return link_ctr(link)


class ClickSerializer(serializers.ModelSerializer[Click]):
    """A click as integrators see it. The IP hash is not shown: it is kept to tell repeated
    fetches apart inside Herald, and shown it would let one recipient be followed across links and
    broadcasts."""

    message = serializers.IntegerField(source="message_id", read_only=True, allow_null=True)
    is_bot = serializers.BooleanField(read_only=True, help_text="A bot or a link preview (WhatsApp, Slack, …).")

    class Meta:
        model = Click
        fields = ["id", "clicked_at", "is_bot", "user_agent", "message"]
        read_only_fields = fields
