# Issue 22's A/B tests (variants). Placeholder reserved so that 0017 (SMPP message parts) can depend
# on it while both are built at once; the A/B work fills in its operations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("broadcasts", "0015_connector_owner")]

    operations: list[migrations.operations.base.Operation] = []
