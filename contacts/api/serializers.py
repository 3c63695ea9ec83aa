"""Shapes of the contacts API. Types only; the rules are in contacts.services."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.models import Contact, ContactImport, ContactList
from contacts.selectors import contact_list_ids
from contacts.services import MAX_LIST_NUMBER

MAX_IDS_PER_REQUEST = 10_000


class ContactSerializer(serializers.ModelSerializer[Contact]):
    lists = serializers.SerializerMethodField(help_text="Ids of the contact lists the contact is in.")
    timezone = serializers.SerializerMethodField(
        help_text="IANA time zone (e.g. Africa/Kampala), for sends at the recipient's local time; null: unknown."
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone",
            "telegram_chat_id",
            "first_name",
            "last_name",
            "language",
            "timezone",
            "fields",
            "lists",
            "opted_out",
            "opted_out_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_lists(self, obj: Contact) -> list[UUID]:
        return contact_list_ids(obj)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_timezone(self, obj: Contact) -> str | None:
        return obj.timezone or None


class ContactWriteSerializer(serializers.Serializer[Any]):
    phone = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text="E.164 (+256772123456), a national number (read with the client's country), or tel:/whatsapp: URN.",
    )
    telegram_chat_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=40, help_text="Digits, or telegram:<id>."
    )
    first_name = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=128)
    last_name = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=128)
    language = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64, help_text="ISO 639-3, e.g. eng."
    )
    timezone = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text="IANA time zone, e.g. Africa/Kampala (any case); null or empty: unknown.",
    )
    fields = serializers.DictField(  # type: ignore[assignment]  # DRF's metaclass pops declared fields
        required=False,
        allow_null=True,
        help_text="String values; keys [a-z][a-z0-9_]{0,35}. PATCH merges (null removes a key), PUT replaces.",
    )
    lists = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=1000, help_text="Replaces the contact's lists."
    )


class ContactListSerializer(serializers.ModelSerializer[ContactList]):
    number = serializers.IntegerField(
        read_only=True,
        help_text="Per client: 1, 2, 3 … in creation order (chosen on create if free); the integer list id of "
        "the eSMS and Jina compatibility APIs.",
    )

    class Meta:
        model = ContactList
        fields = ["id", "number", "name", "contact_count", "created_at"]
        read_only_fields = ["id", "number", "contact_count", "created_at"]


class ContactListCreateSerializer(ContactListSerializer):
    """On create only, `number` may be chosen (it cannot change afterwards)."""

    number = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_LIST_NUMBER,
        help_text="Optional: a number no other list of the client has. Default: the next one.",
    )

    class Meta(ContactListSerializer.Meta):
        read_only_fields = ["id", "contact_count", "created_at"]


class ContactListMembersSerializer(serializers.Serializer[Any]):
    contacts = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=MAX_IDS_PER_REQUEST)


class ContactImportSerializer(serializers.ModelSerializer[ContactImport]):
    list = serializers.UUIDField(source="contact_list_id", allow_null=True, read_only=True)
    errors = serializers.ListField(  # type: ignore[assignment]  # DRF's metaclass pops declared fields
        child=serializers.DictField(), read_only=True, help_text="The first 100: {row, value, reason}."
    )

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "status",
            "total_rows",
            "processed_rows",
            "created",
            "updated",
            "invalid",
            "duplicates",
            "errors",
            "list",
        ]
        read_only_fields = fields


class ContactImportCreateSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="CSV (comma, semicolon or tab) or XLSX; a 'phone' column is required.")
    list = serializers.UUIDField(required=False, allow_null=True, help_text="Add the contacts to this list.")
    list_name = serializers.CharField(
        required=False, max_length=255, help_text="Add the contacts to the list of this name (created if needed)."
    )
    list_number = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_LIST_NUMBER,
        help_text="With list_name: the number of the list it creates (an existing list must already have it).",
    )
    update_existing = serializers.BooleanField(
        required=False, default=False, help_text="Update contacts that already exist (default: leave them as they are)."
    )
