"""The database refuses to change or delete a ledger entry, whoever asks (SPEC §7: entries are immutable).

Only `created_by_id` may change, so that deleting a staff user can still SET NULL their entries.
TRUNCATE (used by test flushes) is not affected.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION wallets_ledgerentry_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger entries are immutable (delete of %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.id, NEW.wallet_id, NEW.kind, NEW.amount, NEW.balance_after, NEW.reserved_after, NEW.broadcast_id,
        NEW.note, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.wallet_id, OLD.kind, OLD.amount, OLD.balance_after, OLD.reserved_after, OLD.broadcast_id,
        OLD.note, OLD.created_at) THEN
        RAISE EXCEPTION 'ledger entries are immutable (update of %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER wallets_ledgerentry_immutable
BEFORE UPDATE OR DELETE ON wallets_ledgerentry
FOR EACH ROW EXECUTE FUNCTION wallets_ledgerentry_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS wallets_ledgerentry_immutable ON wallets_ledgerentry;
DROP FUNCTION IF EXISTS wallets_ledgerentry_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0002_reservations_routes_rates")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
