"""SPEC §14: contact lists gain a per-client integer `number` (1, 2, 3 … in creation order).

Existing lists are numbered per client in creation order (created_at, then id), each client's
counter starts after its highest number, and from then on a BEFORE INSERT trigger gives every list
inserted without a number the next one of its client — through an upsert of the client's counter row,
whose row lock makes concurrent creates take turns — and moves the counter past a number chosen on
create, so an automatic number never collides with a chosen one.
"""

import django.db.models.deletion
from django.db import migrations, models

import contacts.models

BACKFILL = """
UPDATE contacts_contactlist AS l SET number = n.rn
FROM (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY created_at, id) AS rn FROM contacts_contactlist
) AS n
WHERE l.id = n.id;
INSERT INTO contacts_contactlistnumbering (client_id, last_number)
SELECT client_id, MAX(number) FROM contacts_contactlist GROUP BY client_id;
"""

TRIGGER = """
CREATE OR REPLACE FUNCTION contacts_contactlist_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.number IS NULL THEN
        INSERT INTO contacts_contactlistnumbering AS c (client_id, last_number) VALUES (NEW.client_id, 1)
        ON CONFLICT (client_id) DO UPDATE SET last_number = c.last_number + 1
        RETURNING c.last_number INTO NEW.number;
    ELSE
        INSERT INTO contacts_contactlistnumbering AS c (client_id, last_number) VALUES (NEW.client_id, NEW.number)
        ON CONFLICT (client_id) DO UPDATE SET last_number = GREATEST(c.last_number, EXCLUDED.last_number);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER contacts_contactlist_number BEFORE INSERT ON contacts_contactlist
FOR EACH ROW EXECUTE FUNCTION contacts_contactlist_number();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS contacts_contactlist_number ON contacts_contactlist;
DROP FUNCTION IF EXISTS contacts_contactlist_number();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("contacts", "0008_contact_client_updated_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContactListNumbering",
            fields=[
                (
                    "client",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="accounts.client",
                    ),
                ),
                ("last_number", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name="contactlist",
            name="number",
            field=contacts.models.ListNumberField(blank=True, default=None, null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.RunSQL(TRIGGER, DROP_TRIGGER),
        migrations.AlterField(
            model_name="contactlist",
            name="number",
            field=contacts.models.ListNumberField(
                blank=True, default=None, help_text="Per client: 1, 2, 3 … in creation order, or chosen on create."
            ),
        ),
        migrations.AddConstraint(
            model_name="contactlist",
            constraint=models.UniqueConstraint(fields=("client", "number"), name="contact_list_unique_client_number"),
        ),
        migrations.AddConstraint(
            model_name="contactlist",
            constraint=models.CheckConstraint(condition=models.Q(number__gte=1), name="contact_list_number_positive"),
        ),
    ]
