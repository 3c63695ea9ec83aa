"""Messages say why they wait (`wait_reason`), and the counters count the waiting ones (`waiting`:
pending messages, held by their not_before) apart: SPEC §8 stats `waiting`, SPEC §10.

The counting trigger functions of 0006 are replaced by the same functions with one more column;
the messages already pending are counted once, as 0006 counted what came before it."""

from django.db import migrations, models

OLD = ("queued", "sent", "delivered", "read", "failed", "skipped", "cancelled", "clicked", "spent")
NEW = (*OLD, "waiting")
SHARE = {
    "queued": "(r.status IN ('pending', 'queued', 'sending'))::int",
    "sent": "(r.sent_at IS NOT NULL)::int",
    "delivered": "(r.status IN ('delivered', 'read'))::int",
    "read": "(r.status = 'read')::int",
    "failed": "(r.status = 'failed')::int",
    "skipped": "(r.status = 'skipped')::int",
    "cancelled": "(r.status = 'cancelled')::int",
    "clicked": "r.clicked::int",
    "spent": "CASE WHEN r.status IN ('sent', 'delivered', 'read') THEN r.cost ELSE 0 END",
    "waiting": "(r.status = 'pending')::int",
}


def _shares(columns: tuple[str, ...], table: str, sign: str) -> str:
    values = ", ".join(f"{sign}{SHARE[c]} AS {c}" for c in columns)
    return f"SELECT r.broadcast_id, {values} FROM {table} r WHERE NOT r.is_test"


def _function(columns: tuple[str, ...], name: str, source: str) -> str:
    sums = ", ".join(f"SUM({c})" for c in columns)
    changed = " OR ".join(f"SUM({c}) <> 0" for c in columns)
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO broadcasts_broadcastcount (broadcast_id, {", ".join(columns)})
    SELECT broadcast_id, {sums} FROM ({source}) AS d GROUP BY broadcast_id HAVING {changed};
    RETURN NULL;
END $$;
"""


def _functions(columns: tuple[str, ...]) -> str:
    return (
        _function(columns, "broadcasts_message_counts_insert", _shares(columns, "new_rows", "+"))
        + _function(
            columns,
            "broadcasts_message_counts_update",
            _shares(columns, "new_rows", "+") + " UNION ALL " + _shares(columns, "old_rows", "-"),
        )
        + _function(columns, "broadcasts_message_counts_delete", _shares(columns, "old_rows", "-"))
    )


FORWARD = _functions(NEW) + """
INSERT INTO broadcasts_broadcastcount (broadcast_id, waiting)
SELECT broadcast_id, COUNT(*) FROM broadcasts_message WHERE status = 'pending' AND NOT is_test GROUP BY broadcast_id;
"""
BACKWARD = _functions(OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("broadcasts", "0012_broadcast_transliterate"),
    ]

    operations = [
        migrations.AddField(
            model_name="broadcastcount",
            name="waiting",
            field=models.IntegerField(db_default=0, default=0, help_text="pending: held by their not_before"),
        ),
        migrations.AddField(
            model_name="message",
            name="wait_reason",
            field=models.CharField(blank=True, db_default="", default="", max_length=16),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
