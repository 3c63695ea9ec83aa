"""The RapidPro API's contact list, last modified first: built concurrently, so that a large
contacts table keeps taking writes while it is built."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0007_rapidpro_fields_tombstones_schemes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(fields=["client", "-updated_at", "-id"], name="contact_client_updated"),
        ),
    ]
