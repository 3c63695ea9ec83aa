"""A click's request key: one request records at most one click, also when the connection drops
between the server's commit and the redirect's read of the answer (issue 19 item 11).

The column is nullable (adding it rewrites nothing) and its unique index partial, over the keyed
clicks only, so existing rows need no value and cannot collide. The index is built CONCURRENTLY:
a plain CREATE INDEX would hold back every click's INSERT while it scans a large table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tracking", "0001_links_codes_clicks"),
    ]

    operations = [
        migrations.AddField(
            model_name="click",
            name="request_key",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            # What Django itself writes for a conditional UniqueConstraint (a partial unique index
            # of that name, dropped with DROP INDEX), built without blocking writes.
            database_operations=[
                migrations.RunSQL(
                    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS click_unique_request_key"
                    " ON tracking_click (request_key) WHERE request_key IS NOT NULL",
                    reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS click_unique_request_key",
                ),
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="click",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(request_key__isnull=False),
                        fields=("request_key",),
                        name="click_unique_request_key",
                    ),
                ),
            ],
        ),
    ]
