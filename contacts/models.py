"""Contacts, contact lists and their membership, imports. Rules live in services.py / selectors.py."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models.functions import Now

from accounts.models import Client


class OptOutSource(models.TextChoices):
    API = "api", "API"
    IMPORT = "import", "Import"
    KEYWORD = "keyword", "Inbound keyword"
    ADMIN = "admin", "Admin"
    DASHBOARD = "dashboard", "Dashboard"
    PROVIDER = "provider", "Provider (the recipient blocked or unsubscribed)"
    # The client blocked the contact (RapidPro's `block`): an opt-out the RapidPro API shows as
    # status `blocked` rather than `stopped`.
    BLOCK = "block", "Blocked by the client"


def _no_schemes() -> models.Value:
    return models.Value([], output_field=ArrayField(models.CharField(max_length=16)))


class Contact(models.Model):
    """A recipient of one client: a phone (E.164) and/or a Telegram chat id, names, fields, opt-out."""

    # Database defaults too: imports insert contacts with INSERT … SELECT, not through the ORM.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    # Every lookup by client goes through the composite indexes below that start with client_id;
    # Django's own single-column index on it would only slow every insert (imports, list_name).
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    phone = models.CharField(max_length=16, null=True, blank=True, help_text="E.164, e.g. +256772123456.")
    telegram_chat_id = models.CharField(max_length=20, null=True, blank=True)
    first_name = models.CharField(max_length=128, blank=True, default="", db_default="")
    last_name = models.CharField(max_length=128, blank=True, default="", db_default="")
    language = models.CharField(max_length=3, null=True, blank=True, help_text="ISO 639-3, e.g. eng.")
    # IANA zone (e.g. Africa/Kampala), for sends at the recipient's local time (SPEC §8); '' unknown.
    timezone = models.CharField(max_length=64, blank=True, default="", db_default="")
    fields = models.JSONField(default=dict, db_default={}, blank=True)
    opted_out = models.BooleanField(default=False, db_default=False)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opted_out_source = models.CharField(
        max_length=16, choices=OptOutSource.choices, blank=True, default="", db_default=""
    )
    # When `opted_out` last flipped (Herald's clock, whichever door), and the time of the newest
    # opt-out or opt-in asked for that agrees with the current state: an inbound keyword's own time
    # by the provider's clock when the backend gives one, else when Herald took the request. An
    # inbound keyword older than the latter never overrides it (SPEC §10; docs/contacts.md).
    opt_out_changed_at = models.DateTimeField(null=True, blank=True)
    opt_out_requested_at = models.DateTimeField(null=True, blank=True)
    # The URN schemes the phone was given with (`tel`, `whatsapp`), so that a contact created from a
    # `whatsapp:` URN reads back as one in the RapidPro API; empty (every other door) means `tel`.
    # A Telegram chat id is its own address (telegram_chat_id).
    urn_schemes = ArrayField(models.CharField(max_length=16), blank=True, default=list, db_default=_no_schemes())
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "phone"], name="contact_unique_client_phone"),
            # Partial: most contacts have no chat id, and imports should not pay for indexing NULLs.
            models.UniqueConstraint(
                fields=["client", "telegram_chat_id"],
                condition=models.Q(telegram_chat_id__isnull=False),
                name="contact_unique_client_telegram",
            ),
            models.CheckConstraint(
                condition=models.Q(phone__isnull=False) | models.Q(telegram_chat_id__isnull=False),
                name="contact_has_address",
            ),
            models.CheckConstraint(
                condition=models.Q(opted_out=False) | models.Q(opted_out_at__isnull=False),
                name="contact_opted_out_has_time",
            ),
        ]
        indexes = [
            # The API's list: one client's contacts, newest first (cursor pagination).
            models.Index(fields=["client", "-created_at", "-id"], name="contact_client_created"),
            # The RapidPro API's list: last modified first (contacts.json, and its sync by `after`).
            models.Index(fields=["client", "-updated_at", "-id"], name="contact_client_updated"),
            # ?opted_out=true, and broadcasts counting who they skip.
            models.Index(
                fields=["client", "-created_at"], condition=models.Q(opted_out=True), name="contact_opted_out"
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or str(self.id)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def blocked(self) -> bool:
        """Opted out because the client blocked the contact (not because the contact asked)."""
        return self.opted_out and self.opted_out_source == OptOutSource.BLOCK


class ContactFieldType(models.TextChoices):
    """RapidPro's field types; informational in Herald, where every field value is a string."""

    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATETIME = "datetime", "Date & time"
    STATE = "state", "State"
    DISTRICT = "district", "District"
    WARD = "ward", "Ward"


class ContactField(models.Model):
    """A custom field a client has declared (RapidPro's `fields.json`); contacts keep their values
    in Contact.fields under `key`."""

    id = models.BigAutoField(primary_key=True)
    # Served by the unique (client, key) index below.
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contact_fields", db_index=False)
    key = models.CharField(max_length=36)
    name = models.CharField(max_length=36)
    type = models.CharField(max_length=16, choices=ContactFieldType.choices, default=ContactFieldType.TEXT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="contact_field_unique_client_key"),
            models.CheckConstraint(
                condition=models.Q(type__in=ContactFieldType.values), name="contact_field_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class ContactTombstone(models.Model):
    """What is left of a deleted contact: its id and when it went, so that a sync can learn of the
    deletion (RapidPro's `contacts.json?deleted=true`). Written by contact_delete, whatever the door."""

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contact_tombstones", db_index=False)
    contact_id = models.UUIDField(unique=True)
    contact_created_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField()

    class Meta:
        ordering = ["-deleted_at", "-id"]
        indexes = [models.Index(fields=["client", "-deleted_at", "-id"], name="contact_tombstone_client")]

    def __str__(self) -> str:
        return f"{self.contact_id} (deleted)"


class ListNumberField(models.PositiveIntegerField):
    """A list's per-client number. Left empty (None) on insert, the database gives the next one (the
    trigger `contacts_contactlist_number`, migration 0009) and Django reads it back from the INSERT's
    RETURNING, as it does for an auto-increment id: every way a list is inserted — the services,
    `objects.create`, `bulk_create`, raw SQL — gets a number, with no race."""

    db_returning = True


class ContactListNumbering(models.Model):
    """The highest list number each client has had: the trigger takes the next one with an upsert on
    this row, whose lock makes concurrent creates of one client take turns (never the same number)
    until their transactions end. A deleted list's number is not handed out again automatically."""

    client = models.OneToOneField(Client, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.client_id}: {self.last_number}"


class ContactList(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contact_lists")
    name = models.CharField(max_length=255)
    # SPEC §14: 1, 2, 3 … per client in creation order, or chosen on create when free; what the
    # eSMS and Jina APIs send as an integer list id.
    number = ListNumberField(
        default=None, blank=True, help_text="Per client: 1, 2, 3 … in creation order, or chosen on create."
    )
    # Kept by the services with F() on every membership change: counting a 1,000,000-member list on
    # every read would not do. contact_list_recount() repairs it from the membership table.
    contact_count = models.PositiveIntegerField(default=0)
    contacts = models.ManyToManyField(Contact, through="ContactListMembership", related_name="lists")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "name"], name="contact_list_unique_client_name"),
            models.UniqueConstraint(fields=["client", "number"], name="contact_list_unique_client_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="contact_list_number_positive"),
        ]
        indexes = [models.Index(fields=["client", "-created_at", "-id"], name="contact_list_client_created")]

    def __str__(self) -> str:
        return self.name


class ContactListMembership(models.Model):
    id = models.BigAutoField(primary_key=True)
    # Indexed by the unique (list, contact) and membership_contact below; Django's automatic
    # foreign-key indexes would duplicate them and slow every import into a list.
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        # (list, contact) is the unique key and the index that reads a list's members, in
        # contact order, index-only; the contact index serves a contact's lists and deletes.
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="membership_unique_list_contact")
        ]
        indexes = [
            models.Index(fields=["contact"], name="membership_contact"),
            # A list's page, newest members first (dashboard): read in order, never sorted whole.
            models.Index(fields=["contact_list", "-created_at", "-id"], name="membership_list_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.contact_list_id}"


def import_upload_to(instance: ContactImport, filename: str) -> str:
    extension = ".xlsx" if instance.file_format == ContactImport.Format.XLSX else ".csv"
    return f"contact-imports/{instance.client_id}/{instance.id}{extension}"


class ContactImport(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contact_imports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(upload_to=import_upload_to, max_length=255, blank=True)
    file_name = models.CharField(max_length=255, blank=True, help_text="As uploaded.")
    file_format = models.CharField(max_length=8, choices=Format.choices)
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    update_existing = models.BooleanField(default=False)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first 100 row errors: {row, value, reason}.")
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "processing", "completed", "failed"]),
                name="contact_import_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(processed_rows__lte=models.F("total_rows")),
                name="contact_import_progress_bounded",
            ),
        ]
        indexes = [models.Index(fields=["client", "-created_at", "-id"], name="contact_import_client_created")]

    def __str__(self) -> str:
        return f"Import {self.id} ({self.status})"
