"""Rows that record runs: a recurring series' occurrences and a large broadcast's helper dispatch
lanes. Models of the broadcasts app (imported by broadcasts.models), kept apart for size."""

from __future__ import annotations

from django.db import models


class Occurrence(models.Model):
    """One occurrence of a recurring series (SPEC §8): created exactly once per series and planned
    instant; `broadcast` is the child it created, none when it failed (a 402) or was missed."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        FAILED = "failed", "Failed"
        MISSED = "missed", "Missed"

    id = models.BigAutoField(primary_key=True)
    series = models.ForeignKey("broadcasts.Broadcast", on_delete=models.CASCADE, related_name="occurrences")
    occurrence_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices)
    broadcast = models.ForeignKey(
        "broadcasts.Broadcast", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurrence_at"]
        constraints = [
            models.UniqueConstraint(fields=["series", "occurrence_at"], name="occurrence_once_per_series_and_time")
        ]

    def __str__(self) -> str:
        return f"{self.series_id} @ {self.occurrence_at:%Y-%m-%d %H:%M}"


class DispatchLane(models.Model):
    """A helper dispatcher of a large broadcast (lanes 1…BROADCAST_DISPATCH_LANES-1; lane 0 is the
    broadcast's own lease, on its row). Each lane holds a lease like lane 0's: claims.hand fences
    every group it sends by it. A lane sends due messages while there are any and never finishes
    the broadcast's waits; the row goes when the lane stops (see dispatch.py, "Lanes")."""

    broadcast = models.ForeignKey("broadcasts.Broadcast", on_delete=models.CASCADE, related_name="+")
    lane = models.PositiveSmallIntegerField()
    token = models.CharField(max_length=32)
    lease_until = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broadcast", "lane"], name="dispatch_lane_unique")]

    def __str__(self) -> str:
        return f"lane {self.lane} of {self.broadcast_id}"


from .smpp.models import SmppMoPart, SmppPart  # noqa: E402, F401 - the SMPP parts, models of this app too
