"""Transfer legs' references checked once per statement, as postings' are (migration 0005).

Submitting a payment inserts a transfer and its leg. The leg's three foreign keys
(transfer, debit account, credit account) were deferred row-by-row checks: at COMMIT of a
500-payment chunk, 1,500 lookups and row locks, 38-72 ms of the chunk's 110-170 ms (a
third of submitting). Now, on PostgreSQL, a statement trigger does it for each INSERT (or
UPDATE) of legs with two set-based queries: it takes the same KEY SHARE locks a foreign
key takes, on each distinct account and transfer named, and refuses (SQLSTATE 23503) a
reference to a row that is not there. So, as before, a concurrent DELETE of a referenced
account or transfer waits for the inserting transaction and then finds its legs: the
DELETE triggers of migration 0005 now look at legs too.

The leg's own index on `transfer` goes: the unique (transfer, seq) index serves every
lookup by transfer, and each insert paid for both.

SQLite (the embedded default) loses these foreign keys as it lost postings' in 0005: there
the services and `audit verify` keep them.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARDS = """
CREATE OR REPLACE FUNCTION settlement_leg_references() RETURNS trigger AS $$
-- What a foreign key does, once per statement: KEY SHARE locks on the referenced rows
-- (a concurrent DELETE waits for this transaction), then every reference must be there.
DECLARE
    ids bigint[];
    found bigint;
BEGIN
    SELECT array_agg(DISTINCT id) INTO ids
    FROM (SELECT debit_id FROM new_rows UNION ALL SELECT credit_id FROM new_rows) a(id);
    SELECT count(*) INTO found
    FROM (SELECT 1 FROM settlement_account WHERE id = ANY(ids) FOR KEY SHARE) locked;
    IF found <> coalesce(cardinality(ids), 0) THEN
        RAISE EXCEPTION 'a leg names an account that is not in settlement_account'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT array_agg(DISTINCT transfer_id) INTO ids FROM new_rows;
    SELECT count(*) INTO found
    FROM (SELECT 1 FROM settlement_transfer WHERE id = ANY(ids) FOR KEY SHARE) locked;
    IF found <> coalesce(cardinality(ids), 0) THEN
        RAISE EXCEPTION 'a leg names a transfer that is not in settlement_transfer'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
-- Always the primary keys' indexes: the plans are cached for the session, and one made
-- while a table was small (just emptied) read all of it on every statement after.
SET enable_seqscan = off;

CREATE TRIGGER settlement_transferleg_references_insert AFTER INSERT ON settlement_transferleg
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_leg_references();
CREATE TRIGGER settlement_transferleg_references_update AFTER UPDATE ON settlement_transferleg
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_leg_references();

DROP TRIGGER settlement_transfer_not_referenced ON settlement_transfer;
CREATE TRIGGER settlement_transfer_not_referenced AFTER DELETE ON settlement_transfer
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_not_referenced(
        'settlement_posting', 'transfer_id', 'settlement_auditleaf', 'transfer_id',
        'settlement_transferleg', 'transfer_id');
DROP TRIGGER settlement_account_not_referenced ON settlement_account;
CREATE TRIGGER settlement_account_not_referenced AFTER DELETE ON settlement_account
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_not_referenced(
        'settlement_posting', 'account_id',
        'settlement_transferleg', 'debit_id', 'settlement_transferleg', 'credit_id');
"""

BACKWARDS = """
DROP TRIGGER IF EXISTS settlement_transferleg_references_insert ON settlement_transferleg;
DROP TRIGGER IF EXISTS settlement_transferleg_references_update ON settlement_transferleg;
DROP FUNCTION IF EXISTS settlement_leg_references();
DROP TRIGGER settlement_transfer_not_referenced ON settlement_transfer;
CREATE TRIGGER settlement_transfer_not_referenced AFTER DELETE ON settlement_transfer
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_not_referenced(
        'settlement_posting', 'transfer_id', 'settlement_auditleaf', 'transfer_id');
DROP TRIGGER settlement_account_not_referenced ON settlement_account;
CREATE TRIGGER settlement_account_not_referenced AFTER DELETE ON settlement_account
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_not_referenced('settlement_posting', 'account_id');
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARDS, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARDS, params=None)


def unconstrained(to, related_name, on_delete, **options):
    return models.ForeignKey(
        db_constraint=False, on_delete=on_delete, related_name=related_name, to=to, **options
    )


class Migration(migrations.Migration):
    dependencies = [("settlement", "0013_offline_kinds")]

    operations = [
        # Backwards, the foreign keys come back (and are checked) only after the
        # triggers are gone; forwards, the triggers follow the keys' removal.
        migrations.RunPython(migrations.RunPython.noop, backwards),
        migrations.AlterField(
            "transferleg",
            "credit",
            unconstrained("settlement.account", "+", django.db.models.deletion.PROTECT),
        ),
        migrations.AlterField(
            "transferleg",
            "debit",
            unconstrained("settlement.account", "+", django.db.models.deletion.PROTECT),
        ),
        migrations.AlterField(
            "transferleg",
            "transfer",
            unconstrained(
                "settlement.transfer", "legs", django.db.models.deletion.CASCADE, db_index=False
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
