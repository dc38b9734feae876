"""On PostgreSQL, the database itself rejects a transfer whose postings do not balance.

A deferred constraint trigger runs at COMMIT, after all of a transfer's postings are in,
and raises if any asset's signed amounts for that transfer do not sum to zero.
SQLite has no deferred triggers; there the services and `audit verify` check it.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION settlement_postings_balance() RETURNS trigger AS $$
DECLARE
    checked_transfer bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        checked_transfer := OLD.transfer_id;
    ELSE
        checked_transfer := NEW.transfer_id;
    END IF;
    IF EXISTS (
        SELECT 1 FROM settlement_posting
        WHERE transfer_id = checked_transfer
        GROUP BY asset
        HAVING SUM(amount) <> 0
    ) THEN
        RAISE EXCEPTION 'postings of transfer % do not balance', checked_transfer
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER settlement_postings_balance
    AFTER INSERT OR UPDATE OR DELETE ON settlement_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION settlement_postings_balance();
"""

DROP = """
DROP TRIGGER IF EXISTS settlement_postings_balance ON settlement_posting;
DROP FUNCTION IF EXISTS settlement_postings_balance();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("settlement", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
