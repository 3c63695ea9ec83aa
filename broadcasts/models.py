"""Broadcasts, their messages, the providers that carry them (connectors) and sender IDs."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from accounts.channels import Channel
from accounts.models import ApiKey, Client, User
from wallets.models import MoneyField, Tier

from .crypto import EncryptedJSONField


class Connector(models.Model):
    """A provider account messages go out through. Platform-wide; routes name it by `name`."""

    class Backend(models.TextChoices):
        SIMULATOR = "simulator", "Simulator"
        HTTP = "http", "Generic HTTP"
        TWILIO = "twilio", "Twilio"
        TELEGRAM = "telegram", "Telegram Bot API"
        WHATSAPP_CLOUD = "whatsapp_cloud", "WhatsApp Cloud API"
        SMPP = "smpp", "SMPP 3.4"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    backend = models.CharField(max_length=32, choices=Backend.choices)
    config = EncryptedJSONField(blank=True, default=dict, help_text="Backend settings; stored encrypted.")
    tps = models.PositiveIntegerField(default=50, help_text="Messages a second, shared by all workers.")
    active = models.BooleanField(default=True)
    # A tenant's own connector (SPEC §10): only its broadcasts are routed through it (wallets'
    # price_list, dispatch's guard), and inbound from someone never messaged through it (Telegram's
    # /start from a new chat) is its; replies to our messages belong to the messages' client.
    client = models.ForeignKey(
        Client,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty: platform-wide. Set: this client's own (only its broadcasts use it; it owns new inbound).",
    )
    # The moment the next message may go out at `tps`; every worker reserves its slots here.
    pacing_next_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(tps__gte=1), name="connector_tps_positive")]

    def __str__(self) -> str:
        return f"{self.name} ({self.backend}, {self.channel})"


class Sender(models.Model):
    """A sender ID (3–11 letters/digits) or number registered and approved for a client."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="senders")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.SMS)
    sender = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sender"]
        constraints = [
            models.UniqueConstraint(fields=["client", "channel", "sender"], name="sender_unique_per_client_channel")
        ]

    def __str__(self) -> str:
        return f"{self.sender} ({self.channel})"


class Broadcast(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        SENT = "sent", "Sent"
        PARTIALLY_SENT = "partially_sent", "Partially sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class ScheduleMode(models.TextChoices):
        NOW = "now", "Now"
        SCHEDULED = "scheduled", "Scheduled"
        DRIP = "drip", "Drip"
        RECURRING = "recurring", "Recurring"
        LOCAL_TIME = "local_time", "Recipient's local time"

    class Purpose(models.TextChoices):
        MARKETING = "marketing", "Marketing"
        TRANSACTIONAL = "transactional", "Transactional"

    Tier = Tier

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="broadcasts")
    name = models.CharField(max_length=255)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.SMS)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    schedule_mode = models.CharField(max_length=16, choices=ScheduleMode.choices, default=ScheduleMode.NOW)
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    drip_rate = models.PositiveIntegerField(null=True, blank=True)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.MARKETING)
    sender = models.CharField(max_length=32, blank=True)
    template = models.ForeignKey(
        "templates_app.Template", null=True, blank=True, on_delete=models.SET_NULL, related_name="broadcasts"
    )
    template_name = models.CharField(max_length=512, blank=True)
    text = models.JSONField(null=True, blank=True, help_text="Ad-hoc text by language: {language: text}.")
    base_language = models.CharField(max_length=3, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    route_code = models.CharField(max_length=64, blank=True, help_text="A forced route.")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.PREMIUM)
    track_links = models.BooleanField(default=False)
    optimize_text = models.BooleanField(default=True)
    transliterate = models.BooleanField(default=False)
    skip_opted_out = models.BooleanField(default=True)
    with_replies = models.BooleanField(default=False)
    list_name = models.CharField(max_length=255, blank=True)
    created_list = models.ForeignKey(
        "contacts.ContactList", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The request's audience (recipients, recipient_variables, contacts, contact_lists, exclude_lists),
    # kept so a draft can be sent later and a scheduled broadcast re-planned when edited.
    audience = models.JSONField(default=dict, blank=True)

    # Campaigns (SPEC §8): a recurring series' occurrences and follow-ups point at their parent.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    # A recurring series (schedule_mode recurring): {rule, start, timezone, count | until}, normalized;
    # the next occurrence's instant not handled yet (kept while paused; null once it ends or is cancelled).
    recurrence = models.JSONField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # A series' child: the occurrence (its planned instant, UTC) it was created for.
    occurrence_at = models.DateTimeField(null=True, blank=True)
    # schedule_mode local_time: {date, time, if_passed}.
    local_time = models.JSONField(null=True, blank=True)
    # A follow-up's audience of its parent (not_clicked, not_delivered, failed, not_replied, clicked, replied).
    follow_up_audience = models.CharField(max_length=16, blank=True)
    # A/B test: [{text | template, share}], {metric, decide_after}; its phase, decision time and winner.
    variants = models.JSONField(default=list, blank=True)
    ab_test = models.JSONField(null=True, blank=True)
    ab_status = models.CharField(max_length=16, blank=True)
    ab_decide_at = models.DateTimeField(null=True, blank=True)
    ab_winner = models.PositiveSmallIntegerField(null=True, blank=True)

    total_recipients = models.PositiveIntegerField(default=0)
    total_segments = models.PositiveIntegerField(default=0)
    estimated_cost = MoneyField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    skipped_invalid = models.PositiveIntegerField(default=0)
    skipped_opted_out = models.PositiveIntegerField(default=0)
    skipped_unroutable = models.PositiveIntegerField(default=0)
    # WhatsApp free text (SPEC §14): recipients outside Meta's 24-hour window, when planned or claimed.
    skipped_window_closed = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)

    pause_reason = models.CharField(max_length=255, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # One dispatcher at a time per broadcast: it holds the lease; its planned continuation carries
    # the token. See broadcasts/dispatch.py.
    dispatch_lease_until = models.DateTimeField(null=True, blank=True)
    dispatch_token = models.CharField(max_length=32, blank=True)
    # Large audiences (SPEC §8): messages prepared in the background, chunk by chunk.
    preparing = models.BooleanField(default=False)
    preparation_total = models.PositiveIntegerField(default=0, help_text="recipients to prepare (an estimate)")
    preparation_processed = models.PositiveIntegerField(default=0)
    preparation_cursor = models.CharField(
        max_length=64, blank=True, help_text="where preparation resumes: '' (start), 'lists', or a contact id"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_by_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["client", "-created_at"], name="broadcast_client_created"),
            # Beat's due series: a small set whatever the number of broadcasts.
            models.Index(fields=["next_run_at"], name="broadcast_series_due", condition=Q(next_run_at__isnull=False)),
            models.Index(fields=["ab_decide_at"], name="broadcast_ab_due", condition=Q(ab_decide_at__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(drip_rate__isnull=True) | Q(drip_rate__gte=1, drip_rate__lte=600),
                name="broadcast_drip_rate_range",
            ),
            models.CheckConstraint(
                condition=~Q(schedule_mode="scheduled") | Q(scheduled_at__isnull=False),
                name="broadcast_scheduled_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One row per recipient of a broadcast (and per test send)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    id = models.BigAutoField(primary_key=True)
    # Indexed through (broadcast, status) and (broadcast, urn) below; a third index would only slow
    # every insert.
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="messages", db_index=False)
    # A copy of broadcast.client for tenant-scoped lookups. Its integrity comes from the broadcast's
    # own foreign key, so the database does not check it a second time per row (a million rows
    # fanned out in one transaction pay for every deferred check at commit).
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )  # indexed through (client, -id)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    urn = models.CharField(max_length=128)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    text = models.TextField(blank=True)
    encoding = models.CharField(max_length=8, blank=True)
    segments = models.PositiveSmallIntegerField(default=0)
    cost = MoneyField(default=0)
    route_code = models.CharField(max_length=64, blank=True)
    connector = models.CharField(max_length=64, blank=True, help_text="Name of the connector it goes through.")
    country_code = models.CharField(max_length=2, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=128, null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Waits until then (schedule, drip, quiet hours)."
    )
    # Why it waits (SPEC §10): scheduled, drip, quiet_hours or retry, written with the time it waits
    # for (not_before, or lease_until for a retry); read only while the message waits.
    wait_reason = models.CharField(max_length=16, blank=True, default="", db_default="")
    # An A/B test's variant (index into the broadcast's `variants`), null for a broadcast without one.
    variant = models.PositiveSmallIntegerField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While sending: when a stuck claim may be taken over; or the next retry."
    )
    is_test = models.BooleanField(default=False)
    # The write-ahead handed mark (docs/broadcasts.md, "A message's send"): set, under the claim's
    # token, in the database before the message's request leaves; never cleared by a claim, only
    # by recording a provider's answer that says it was not taken (or by a user's retry-failed). A
    # message claimed again while it carries the mark has an unknown outcome: only an idempotent
    # connector may send it again.
    handed_at = models.DateTimeField(null=True, blank=True)
    # The token of the dispatcher (or test send) that claimed it last: every write of a send's
    # outcome is conditional on it, so a dispatcher that lost its claim (a stall, a takeover)
    # changes nothing.
    claim_token = models.CharField(max_length=32, blank=True, db_default="")
    clicked = models.BooleanField(default=False)
    # Template sends (WhatsApp): the template version's language and its variables' values in the
    # order they first appear, which is how the provider fills the approved template.
    language = models.CharField(max_length=8, blank=True, db_default="")
    parameters = models.JSONField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:  # and fillfactor 60 (migration 0019): see docs/broadcasts.md, "Indexes and volume"
        ordering = ["-id"]
        indexes = [
            # The message log's filters (docs/broadcasts.md, "Indexes"): a broadcast's messages of one
            # status newest first; one recipient's messages (urn/phone), tests included.
            models.Index(fields=["broadcast", "status", "id"], name="message_broadcast_status"),
            models.Index(fields=["client", "-id"], name="message_client_newest"),
            models.Index(fields=["client", "urn"], name="message_client_urn"),
            # The dispatcher's claim: this broadcast's messages still to send, in id order. Without
            # it the claim walks every message already sent (or another broadcast's, on the pk).
            models.Index(
                fields=["broadcast", "id"],
                name="message_to_dispatch",
                condition=Q(is_test=False, status__in=["pending", "queued", "sending"]),
            ),
            models.Index(
                fields=["provider_message_id"],
                name="message_provider_id",
                condition=Q(provider_message_id__isnull=False),
            ),
        ]
        constraints = [
            # The same address is sent once per broadcast (test sends are outside the broadcast).
            models.UniqueConstraint(
                fields=["broadcast", "urn"], condition=Q(is_test=False), name="message_unique_urn_per_broadcast"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pk} ({self.status})"


class Reply(models.Model):
    """A message a contact sent us, through a connector's inbound hook (SPEC §10)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="replies")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    urn = models.CharField(max_length=128)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    text = models.TextField(blank=True)
    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    connector = models.ForeignKey(Connector, null=True, on_delete=models.SET_NULL, related_name="replies")
    provider_message_id = models.CharField(max_length=128, blank=True)
    keyword = models.CharField(max_length=16, blank=True, help_text="opt_out or opt_in when the text was a keyword.")
    received_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "replies"
        indexes = [
            models.Index(fields=["client", "-created_at"], name="reply_client_newest"),
            # WhatsApp free text: did this number write to us within 24 hours (whatsapp_window.py)?
            models.Index(fields=["client", "urn", "received_at"], name="reply_client_urn_received"),
        ]
        constraints = [
            # A provider retrying a callback delivers the same message again: stored once.
            models.UniqueConstraint(
                fields=["connector", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="reply_unique_provider_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.urn}: {self.text[:30]}"


class BroadcastCount(models.Model):
    """A broadcast's counters, as rows to add up: the database itself appends one row of deltas for
    every statement that inserts, moves or deletes messages (statement-level triggers, migration
    0006), in that statement's transaction; `counters.py` sums a broadcast's rows (a handful: beat
    folds them into one) so no read recounts messages. Tests excluded, as in the stats."""

    id = models.BigAutoField(primary_key=True)
    broadcast_id = models.UUIDField(db_index=True)
    queued = models.IntegerField(default=0, help_text="pending, queued or sending")
    sent = models.IntegerField(default=0, help_text="left Herald (sent_at set)")
    delivered = models.IntegerField(default=0, help_text="delivered or read")
    read = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    cancelled = models.IntegerField(default=0)
    clicked = models.IntegerField(default=0, help_text="recipients who clicked a short link")
    spent = models.DecimalField(max_digits=20, decimal_places=6, default=0, help_text="cost of sent/delivered/read")
    waiting = models.IntegerField(default=0, db_default=0, help_text="pending: held by their not_before")

    def __str__(self) -> str:
        return f"counts of {self.broadcast_id}"


class EarlyReport(models.Model):
    """A delivery report for a provider id no message has recorded yet (SPEC §10: a provider may
    report before Herald has written the answer of the request that sent it). Applied as soon as a
    message records that id (recording.py, and beat's tick for one that raced the record), dropped
    and logged after EARLY_REPORT_MINUTES."""

    id = models.BigAutoField(primary_key=True)
    connector = models.CharField(max_length=64)
    provider_message_id = models.CharField(max_length=128)
    status = models.CharField(max_length=16)
    error_code = models.CharField(max_length=64, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["connector", "provider_message_id"], name="early_report_provider_id")]

    def __str__(self) -> str:
        return f"early {self.status} for {self.provider_message_id}"


from .run_models import DispatchLane, Occurrence  # noqa: E402, F401 - this app's models, in a module for size
