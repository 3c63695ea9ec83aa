# Issue 22's A/B tests (variants). Reserved so that 0017 (SMPP message parts) could depend on it while
# both were built at once. The A/B tests needed no schema change beyond 0014's (Broadcast.variants,
# ab_test, ab_status, ab_decide_at, ab_winner, the broadcast_ab_due index, Message.variant): the
# rest of a test waits as `pending` with `wait_reason` `ab_test` (docs/broadcasts.md, "A/B tests").
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("broadcasts", "0015_connector_owner")]

    operations: list[migrations.operations.base.Operation] = []
