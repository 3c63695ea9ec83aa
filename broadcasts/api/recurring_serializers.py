"""Response and body shapes of recurring series (SPEC §8 "Campaigns"; docs/broadcasts.md,
"Recurring broadcasts"). Requests are checked by broadcasts/recurrence.py."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from broadcasts.models import Occurrence


class RecurrenceSerializer(serializers.Serializer[Any]):
    """schedule_mode recurring (SPEC §8; docs/broadcasts.md, "Recurring broadcasts")."""

    rule = serializers.CharField(
        help_text="An RFC 5545 RRULE without COUNT/UNTIL/DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO,TH (at most every 15 "
        "minutes)."
    )
    start = serializers.CharField(
        help_text="The first occurrence's local date and time, without offset (2027-03-01T09:00): the rule's times "
        "are wall-clock times in `timezone`."
    )
    timezone = serializers.CharField(required=False, help_text="IANA zone; default the client's timezone.")
    count = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=1000, help_text="Occurrences in all (or until)."
    )
    until = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The last local date-time an occurrence may have (a date: through its end); or count.",
    )


class OccurrenceSerializer(serializers.ModelSerializer[Occurrence]):
    class Meta:
        model = Occurrence
        fields = ["occurrence_at", "status", "broadcast", "error_code", "error_message", "created_at"]
        read_only_fields = fields
        extra_kwargs = {
            "status": {"help_text": "created (its broadcast made), failed (e.g. insufficient_credit) or missed."},
            "broadcast": {"help_text": "The child broadcast of a created occurrence."},
        }


class UpcomingOccurrenceSerializer(serializers.Serializer[Any]):
    occurrence_at = serializers.DateTimeField(help_text="UTC.")
    local = serializers.CharField(help_text="The same instant in the series' timezone, with its offset.")


class OccurrencePageSerializer(serializers.Serializer[Any]):
    """GET /broadcasts/{id}/occurrences/: past occurrences (a cursor page, newest first) and the next ones."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = OccurrenceSerializer(many=True)
    upcoming = UpcomingOccurrenceSerializer(
        many=True, help_text="The next 5 occurrences of a running or paused series."
    )
