"""Link tracking (SPEC §12): a broadcast's links, each recipient's short code, and clicks.

`tracking` sits above `broadcasts` in the dependency order (docs/architecture.md): the planner
asks it for codes while it writes messages, so it keeps plain ids of broadcasts and messages (as
the wallet's ledger does) rather than foreign keys into broadcasts.
"""

from __future__ import annotations

import uuid

from django.db import models

from accounts.models import Client


class TrackedLink(models.Model):
    """One URL of one broadcast: what `/api/v1/url-tracking/` lists. Its counters are kept by the
    click processing (tracking.services.clicks_process), never recounted from the clicks."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="tracked_links")
    broadcast_id = models.UUIDField()
    url = models.TextField()
    recipients = models.PositiveIntegerField(default=0, help_text="Messages this link was sent in.")
    clicks = models.PositiveIntegerField(default=0, help_text="Clicks by people (bots and link previews apart).")
    unique_clicks = models.PositiveIntegerField(default=0, help_text="Distinct recipients who clicked (people only).")
    bot_clicks = models.PositiveIntegerField(default=0, help_text="Fetches by bots and link previews.")
    first_click_at = models.DateTimeField(null=True, blank=True)
    last_click_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broadcast_id", "url"], name="tracked_link_unique_url")]
        indexes = [models.Index(fields=["client", "-created_at"], name="tracked_link_client_newest")]

    def __str__(self) -> str:
        return self.url


class LinkCode(models.Model):
    """One recipient's short code for one link: `{TRACKING_BASE_URL}/r/{code}` in their message."""

    code = models.CharField(primary_key=True, max_length=7)
    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="codes", db_index=False)
    message_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["link", "message_id"], name="link_code_link_message")]

    def __str__(self) -> str:
        return self.code


class Click(models.Model):
    """A GET of a short link. Written by the redirect in one statement; counted afterwards, in
    batches, by the click processing (`processed`)."""

    id = models.BigAutoField(primary_key=True)
    code = models.ForeignKey(LinkCode, on_delete=models.CASCADE, related_name="clicks", db_index=False)
    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="click_rows", db_index=False)
    message_id = models.BigIntegerField(null=True, blank=True)
    clicked_at = models.DateTimeField()
    user_agent = models.CharField(max_length=512, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True, help_text="Salted SHA-256 of the client's address.")
    is_bot = models.BooleanField(default=False, help_text="A bot or a link preview (WhatsApp, Slack, …).")
    processed = models.BooleanField(default=False)
    # Drawn by the redirect before its first try and sent again with a re-run (a connection lost
    # between the server's commit and our read of its answer): the re-run then inserts nothing.
    # Time-ordered (UUIDv7), so its index grows at one end. Null for clicks written before it.
    request_key = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["link", "-clicked_at"], name="click_link_newest"),
            models.Index(fields=["id"], name="click_unprocessed", condition=models.Q(processed=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request_key"],
                condition=models.Q(request_key__isnull=False),
                name="click_unique_request_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code_id} at {self.clicked_at:%Y-%m-%d %H:%M:%S}"
