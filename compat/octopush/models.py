"""Octopush `request_id`s already used, per client (COMPAT.md §3.1: a repeat within 24 h → code 120).

A row is written in the transaction of the broadcast it created, so a refused send (a 4xx, or an
error) leaves none and the request_id stays free; the unique constraint makes a concurrent repeat
wait for the first to commit (then it is refused) or roll back (then it goes).
"""

from __future__ import annotations

from django.db import models


class OctopushRequest(models.Model):
    client = models.ForeignKey("accounts.Client", on_delete=models.CASCADE, related_name="+")
    # SHA-256 of the request_id: any length fits the unique index.
    request_key = models.CharField(max_length=64)
    broadcast_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "compat"
        constraints = [
            models.UniqueConstraint(fields=["client", "request_key"], name="octopush_request_unique_client_key")
        ]
        indexes = [models.Index(fields=["client", "created_at"], name="octopush_request_client_idx")]

    def __str__(self) -> str:
        return f"{self.request_key[:12]}… → {self.broadcast_id}"
