"""Response shapes of SPEC §8–9. Requests are checked by broadcasts/validation.py (fast path)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts.channels import Channel
from broadcasts.models import Broadcast, Message, Reply
from broadcasts.selectors import BroadcastStats, broadcast_skips, message_wait
from broadcasts.states import UI_STATUS
from wallets.models import Tier
from wallets.pricing import money

from .ab_serializers import AB_FIELDS, ABBroadcastFields, ABCreateFields, ABPrecheckFields
from .recurring_serializers import RecurrenceSerializer


class LocalTimeSerializer(serializers.Serializer[Any]):
    """schedule_mode local_time (SPEC §8; docs/broadcasts.md, "Recipient local time")."""

    date = serializers.DateField(help_text="The day, in each recipient's own calendar.")
    time = serializers.CharField(help_text="HH:MM (or HH:MM:SS), the recipient's wall clock; no zone.")
    if_passed = serializers.ChoiceField(
        choices=["send_now", "skip"],
        required=False,
        allow_null=True,
        help_text="Where that time has already passed (or is under a minute ahead) at create: send_now (at once) "
        "or skip (skipped, error_code local_time_passed). Absent: such a create is refused (400 on local_time).",
    )


class SendTimeSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField(allow_null=True, help_text="When these messages go (UTC); null: at once.")
    local_at = serializers.CharField(allow_null=True, help_text="The same instant on the recipients' wall clock.")
    timezone = serializers.CharField(help_text="The recipients' zone (contact, recipient variable, number, client).")
    recipients = serializers.IntegerField()
    passed = serializers.BooleanField(help_text="The local time had already passed (or was under a minute ahead).")


class BroadcastSerializer(ABBroadcastFields, serializers.ModelSerializer[Broadcast]):
    """Context: `stats` ({id: BroadcastStats}) and `residual_credit` (Decimal)."""

    local_time = serializers.SerializerMethodField(
        help_text="schedule_mode local_time: {date, time, if_passed} as asked; null for other modes."
    )

    ui_status = serializers.SerializerMethodField()
    estimated_cost = serializers.SerializerMethodField()
    residual_credit = serializers.SerializerMethodField()
    skipped = serializers.SerializerMethodField()
    stats = serializers.SerializerMethodField()
    template = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField()
    contact_list = serializers.UUIDField(source="created_list_id", read_only=True, allow_null=True)
    preparing = serializers.BooleanField(
        read_only=True, help_text="A large audience's messages are still being prepared in the background."
    )
    preparation = serializers.SerializerMethodField(help_text="{processed, total} recipients while preparing.")
    # The metaclass moves declared fields into _declared_fields, so this never shadows Field.parent at runtime.
    parent = serializers.UUIDField(  # type: ignore[assignment]
        source="parent_id",
        read_only=True,
        allow_null=True,
        help_text="The broadcast this one follows up (POST /broadcasts/{id}/follow-up/), or the recurring series "
        "it is an occurrence of; null for others.",
    )
    recurrence = serializers.SerializerMethodField(
        help_text="A recurring series: {rule, start, timezone, count, until}, normalized; null for other broadcasts."
    )
    next_run_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="A recurring series: its next occurrence (UTC) while it runs or is paused; null once it ended.",
    )
    occurrence_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="An occurrence of a series: the instant it was planned for."
    )
    follow_up_audience = serializers.SerializerMethodField(
        help_text="A follow-up's audience of its parent: not_clicked, not_delivered, failed, not_replied, clicked "
        "or replied; null for other broadcasts."
    )

    class Meta:
        model = Broadcast
        fields = [
            "id",
            "name",
            "channel",
            "status",
            "ui_status",
            "schedule_mode",
            "scheduled_at",
            "drip_rate",
            "local_time",
            "recurrence",
            "next_run_at",
            "preparing",
            "preparation",
            "total_recipients",
            "total_segments",
            "estimated_cost",
            "currency",
            "residual_credit",
            "skipped",
            "stats",
            "purpose",
            "sender",
            "template",
            "text",
            "base_language",
            "attachments",
            "route_code",
            "tier",
            "track_links",
            "optimize_text",
            "transliterate",
            "skip_opted_out",
            "with_replies",
            "list_name",
            "contact_list",
            "pause_reason",
            "parent",
            "occurrence_at",
            "follow_up_audience",
            *AB_FIELDS,
            "started_at",
            "completed_at",
            "cancelled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RecurrenceSerializer(allow_null=True))
    def get_recurrence(self, obj: Broadcast) -> dict[str, Any] | None:
        return obj.recurrence if obj.schedule_mode == Broadcast.ScheduleMode.RECURRING else None

    def get_follow_up_audience(self, obj: Broadcast) -> str | None:
        return obj.follow_up_audience or None

    @extend_schema_field(LocalTimeSerializer(allow_null=True))
    def get_local_time(self, obj: Broadcast) -> dict[str, Any] | None:
        """schedule_mode local_time: {date, time, if_passed} as asked; null for other modes."""
        value = obj.local_time
        if not value or obj.schedule_mode != Broadcast.ScheduleMode.LOCAL_TIME:
            return None
        return {key: value.get(key) for key in ("date", "time", "if_passed")}

    def get_preparation(self, obj: Broadcast) -> dict[str, int] | None:
        if not obj.preparing and not obj.preparation_total:
            return None
        return {"processed": obj.preparation_processed, "total": obj.preparation_total}

    def get_ui_status(self, obj: Broadcast) -> str:
        return UI_STATUS.get(obj.status, obj.status)

    def get_template(self, obj: Broadcast) -> str | None:
        return obj.template_name or None

    def get_text(self, obj: Broadcast) -> str | dict[str, str] | None:
        """As it was given: one string, or {language: text}."""
        texts = obj.text
        if isinstance(texts, dict) and list(texts) == [""]:
            return str(texts[""])
        return texts

    def get_estimated_cost(self, obj: Broadcast) -> str:
        return money(obj.estimated_cost)

    def get_residual_credit(self, obj: Broadcast) -> str | None:
        value: Decimal | None = self.context.get("residual_credit")
        return money(value) if value is not None else None

    def get_skipped(self, obj: Broadcast) -> dict[str, int]:
        return broadcast_skips(obj)

    def get_stats(self, obj: Broadcast) -> dict[str, float]:
        stats: dict[Any, BroadcastStats] = self.context.get("stats") or {}
        return stats.get(obj.pk, BroadcastStats()).as_dict()


class SimulatedBroadcastSerializer(BroadcastSerializer):
    """`simulate: true`: the broadcast as it would be created; nothing was stored, sent or charged."""

    id = serializers.SerializerMethodField(help_text="Always null: nothing was stored.")
    simulated = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: nothing was stored.")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: nothing was stored.")

    class Meta(BroadcastSerializer.Meta):
        fields = [*BroadcastSerializer.Meta.fields, "simulated"]
        read_only_fields = fields

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_id(self, obj: Broadcast) -> None:
        return None

    def get_simulated(self, obj: Broadcast) -> bool:
        return True


class MessageSerializer(serializers.ModelSerializer[Message]):
    cost = serializers.SerializerMethodField()
    not_before = serializers.SerializerMethodField(help_text="While it waits for a time: when it may go.")
    wait_reason = serializers.SerializerMethodField(
        help_text="While it waits: scheduled, drip, quiet_hours or retry (SPEC §10); else null."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "broadcast",
            "contact",
            "urn",
            "channel",
            "text",
            "encoding",
            "segments",
            "cost",
            "route_code",
            "status",
            "error_code",
            "error_message",
            "attempts",
            "provider_message_id",
            "not_before",
            "wait_reason",
            "queued_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "clicked",
            "is_test",
            "created_at",
        ]
        read_only_fields = fields

    def get_cost(self, obj: Message) -> str:
        return money(obj.cost)

    def get_not_before(self, obj: Message) -> str | None:
        when, _reason = message_wait(obj)
        return None if when is None else serializers.DateTimeField().to_representation(when)

    def get_wait_reason(self, obj: Message) -> str | None:
        return message_wait(obj)[1]


class LinkTrackingSerializer(serializers.Serializer[Any]):
    links = serializers.IntegerField(help_text="Links replaced by short links, over all messages.")
    segments_saved = serializers.IntegerField(
        help_text="Parts the short links saved against the links as written (negative: parts they added)."
    )


class PrecheckSerializer(ABPrecheckFields, serializers.Serializer[Any]):
    """Documentation of the precheck response (SPEC §8)."""

    total_contacts = serializers.IntegerField()
    total_segments = serializers.IntegerField()
    total_cost = serializers.CharField()
    wallet_currency = serializers.CharField()
    wallet_balance = serializers.CharField()
    wallet_available = serializers.CharField()
    balance_after = serializers.CharField()
    sufficient_balance = serializers.BooleanField()
    countries = serializers.IntegerField()
    breakdown = serializers.ListField(child=serializers.DictField())
    unroutable_count = serializers.IntegerField()
    unroutable = serializers.ListField(child=serializers.CharField())
    invalid_count = serializers.IntegerField()
    invalid = serializers.ListField(child=serializers.DictField())
    opted_out_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    encoding = serializers.CharField()
    segments_per_message = serializers.IntegerField()
    non_gsm_characters = serializers.ListField(child=serializers.CharField())
    missing_variables = serializers.DictField(child=serializers.IntegerField())
    warnings = serializers.ListField(child=serializers.DictField())
    whatsapp_window_closed_count = serializers.IntegerField(
        required=False,
        help_text="WhatsApp free text only: recipients who did not write to the route's WhatsApp number in the "
        "last 24 hours, skipped with error_code whatsapp_window_closed.",
    )
    link_tracking = LinkTrackingSerializer(
        required=False, help_text="With track_links and links in the text: what the short links changed."
    )
    send_times = SendTimeSerializer(
        many=True,
        required=False,
        help_text="schedule_mode local_time: recipients per send time and zone (quiet hours applied), earliest first.",
    )
    local_time_passed_count = serializers.IntegerField(
        required=False,
        help_text="schedule_mode local_time: recipients whose local time had already passed (or was under a minute "
        "ahead): sent at once (if_passed send_now), skipped (skip), or the create is refused (absent).",
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Text to two numbers",
            value={
                "name": "Welcome",
                "recipients": ["+256772123456", "+254712345678"],
                "text": "Hello {{first_name|there}}, reply STOP to opt out.",
            },
            request_only=True,
        )
    ]
)
class BroadcastCreateSerializer(ABCreateFields, serializers.Serializer[Any]):
    """Documentation of the create/precheck body (SPEC §8); validation is broadcasts/validation.py."""

    refuses_unknown_fields = True  # validation.FIELDS: anything else is 400 unknown_field

    name = serializers.CharField(max_length=255)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.SMS)
    recipients = serializers.ListField(child=serializers.CharField(), required=False, max_length=10_000)
    recipient_variables = serializers.ListField(child=serializers.DictField(), required=False, max_length=10_000)
    contacts = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=10_000)
    contact_lists = serializers.ListField(child=serializers.UUIDField(), required=False)
    exclude_lists = serializers.ListField(child=serializers.UUIDField(), required=False)
    template = serializers.CharField(required=False, max_length=512)
    text = serializers.JSONField(required=False, help_text="A string, or {language: text} with base_language.")
    base_language = serializers.CharField(required=False, max_length=3)
    attachments = serializers.ListField(child=serializers.URLField(), required=False)
    sender = serializers.CharField(required=False)
    purpose = serializers.ChoiceField(choices=Broadcast.Purpose.choices, default=Broadcast.Purpose.MARKETING)
    schedule_mode = serializers.ChoiceField(choices=Broadcast.ScheduleMode.choices, default=Broadcast.ScheduleMode.NOW)
    scheduled_at = serializers.DateTimeField(required=False)
    drip_rate = serializers.IntegerField(required=False, min_value=1, max_value=600)
    recurrence = RecurrenceSerializer(
        required=False,
        help_text="schedule_mode recurring: a series that sends nothing itself; each occurrence is a child broadcast "
        "(its `parent`) created at its time through this same create.",
    )
    local_time = LocalTimeSerializer(
        required=False,
        help_text="schedule_mode local_time: each recipient gets it at this wall-clock time in their own zone (the "
        "recipient variable or contact timezone, else their number's zone when it has one, else the client's).",
    )
    route = serializers.CharField(required=False)
    tier = serializers.ChoiceField(choices=Tier.choices, default=Tier.PREMIUM)
    track_links = serializers.BooleanField(
        default=False,
        help_text="Replace each web link by a short link per recipient ({TRACKING_BASE_URL}/r/{code}); parts and "
        "price are those of the rewritten text. Not for WhatsApp templates.",
    )
    optimize_text = serializers.BooleanField(
        default=True,
        help_text="Smart encoding (SMS): the characters of Twilio's Smart Encoding table (typographic quotes, dashes, "
        "bullets, fractions, special spaces…) become GSM when that makes the whole text GSM; letters never change.",
    )
    transliterate = serializers.BooleanField(
        default=False,
        help_text="Goes further than optimize_text (SMS): letters outside GSM 03.38 become their closest GSM letters "
        "(ç → c, ê → e, ł → l) when that makes the whole text GSM.",
    )
    skip_opted_out = serializers.BooleanField(default=True)
    with_replies = serializers.BooleanField(default=False)
    simulate = serializers.BooleanField(default=False)
    list_name = serializers.CharField(required=False, max_length=255)
    status = serializers.ChoiceField(choices=["draft"], required=False)


class TestSendSerializer(serializers.Serializer[Any]):
    recipients = serializers.ListField(child=serializers.CharField(), max_length=10)


class RetryFailedSerializer(serializers.Serializer[Any]):
    include_unknown = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also resend messages whose outcome is unknown (`delivery_unknown`): they may arrive twice.",
    )


class TestSendResultSerializer(serializers.Serializer[Any]):
    results = MessageSerializer(many=True, help_text="One test message per recipient, outside the stats.")


class ReplySerializer(serializers.ModelSerializer[Reply]):
    connector = serializers.CharField(source="connector.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Reply
        fields = ["id", "contact", "urn", "channel", "text", "broadcast", "connector", "keyword", "received_at"]
        read_only_fields = fields
