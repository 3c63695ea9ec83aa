from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("broadcasts", "0018_smpp_mo_parts")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE broadcasts_message SET (fillfactor = 60)",
            "ALTER TABLE broadcasts_message RESET (fillfactor)",
        ),
    ]
