"""When a contact's opt-out state last changed, and the time of the newest opt-out or opt-in asked
for (issue 19 item 9): an inbound keyword older than that never overrides it.

Both columns are nullable, so adding them rewrites nothing. Contacts already opted out take their
`opted_out_at` as both (the best known time of their opt-out); for contacts opted in, no time is
known and any keyword applies, as before.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0005_phone_prefix_statistics"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="opt_out_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="contact",
            name="opt_out_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(
            "UPDATE contacts_contact SET opt_out_changed_at = opted_out_at, opt_out_requested_at = opted_out_at"
            " WHERE opted_out",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
