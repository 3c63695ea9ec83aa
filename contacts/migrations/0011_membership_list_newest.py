"""A list's members newest first (the dashboard's list page): built concurrently, so that a large
membership table keeps taking writes while it is built."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0010_campaigns"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="contactlistmembership",
            index=models.Index(fields=["contact_list", "-created_at", "-id"], name="membership_list_newest"),
        ),
    ]
