"""An endpoint's health on the dashboard (webhooks.selectors.endpoint_health_queryset) in index
probes: its last success and its failures since then by (endpoint, status, attempt time), its next
retry by its waiting attempts' time. Built concurrently, so deliveries keep being written meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("webhooks", "0002_endpoint_format"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="webhookdelivery",
            index=models.Index(fields=["endpoint", "status", "-attempted_at"], name="webhook_delivery_outcome_idx"),
        ),
        AddIndexConcurrently(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["endpoint", "scheduled_at"],
                name="webhook_delivery_waiting_idx",
            ),
        ),
    ]
