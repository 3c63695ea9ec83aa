"""The detail page of a local-time broadcast shows when its first and last waiting messages go
(dashboard.selectors.local_time_bounds): min and max of `not_before` over its pending messages.
Without an index that reads every message still to send — a million for a large local-time
broadcast. This partial index holds pending messages only (those waiting for their time: a local
time, quiet hours, a drip), so a broadcast sent now adds nothing to it, and each bound is one probe.

It lives here, beside the one query that needs it, as raw SQL on broadcasts' table (the dashboard
owns no models; broadcasts' model state is unchanged, so makemigrations finds nothing to do). Built
CONCURRENTLY: the message table is the largest, and writes go on while it is built.
"""

from django.db import migrations

INDEX = "message_waiting_not_before"


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("broadcasts", "0013_waiting")]

    operations = [
        migrations.RunSQL(
            sql=(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON broadcasts_message (broadcast_id, not_before)"
                " WHERE status = 'pending' AND NOT is_test"
            ),
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
        ),
    ]
