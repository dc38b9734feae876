"""The same integrity guarantees on PostgreSQL, checked once per statement, not per row.

Settling 100,000 payments (200,000 postings, 100,000 audit leaves) spent about a quarter
of its time in per-row triggers at COMMIT: about 1.0 s in the deferred balance trigger and
1.3-1.4 s in the foreign-key checks of postings and leaves (one lookup and row lock per
reference, 500,000 of them). Here each check becomes one set-based query per statement:

1. References. Postings (transfer, account) and audit leaves (transfer) keep their Django
   relations but lose the row-by-row foreign keys. Statement triggers with transition
   tables refuse, with the foreign-key SQLSTATE (23503), any inserted or updated row whose
   transfer or account does not exist, and any DELETE of transfers or accounts that
   postings or leaves still reference; ids never change (a BEFORE UPDATE OF id trigger).
   Writers of postings hold the row locks of the transfers they settle and the accounts
   they post to, so a concurrent DELETE waits for them and then sees their rows.
2. Balance. The deferred constraint trigger stays for every writer (a transfer's postings
   must balance by COMMIT), except for INSERTs made while the transaction-local setting
   `settlement.postings_balance_per_statement` is 'on': then a statement trigger checks
   that the rows of each INSERT (settlement's one COPY per batch) balance per transfer and
   asset by themselves, which is stricter. Earlier postings were checked by their own
   statements or are checked at COMMIT, so balanced new rows keep every total balanced.
   UPDATEs and DELETEs of postings are always checked by the deferred trigger.

SQLite (the embedded default) had no balance trigger and now has no foreign keys on these
three columns either: there, as for balances, the services and `audit verify` keep them.
"""

from django.db import migrations, models
import django.db.models.deletion

SETTING = "settlement.postings_balance_per_statement"

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION settlement_references_exist() RETURNS trigger AS $$
-- TG_ARGV: pairs of (column, referenced table), checked against the statement's new rows.
DECLARE
    missing bigint;
    i integer := 0;
BEGIN
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT n.%1$I FROM new_rows n WHERE NOT EXISTS '
            '(SELECT 1 FROM %2$I r WHERE r.id = n.%1$I) LIMIT 1',
            TG_ARGV[i], TG_ARGV[i + 1]
        ) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION '%.% = % is not in %', TG_TABLE_NAME, TG_ARGV[i], missing,
                TG_ARGV[i + 1] USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 2;
    END LOOP;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION settlement_not_referenced() RETURNS trigger AS $$
-- TG_ARGV: pairs of (referencing table, its column), checked against the deleted rows.
DECLARE
    kept bigint;
    i integer := 0;
BEGIN
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT o.id FROM old_rows o WHERE EXISTS '
            '(SELECT 1 FROM %1$I r WHERE r.%2$I = o.id) LIMIT 1',
            TG_ARGV[i], TG_ARGV[i + 1]
        ) INTO kept;
        IF kept IS NOT NULL THEN
            RAISE EXCEPTION '%.id = % is still referenced from %', TG_TABLE_NAME, kept,
                TG_ARGV[i] USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 2;
    END LOOP;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION settlement_id_immutable() RETURNS trigger AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION '%.id never changes', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION settlement_postings_balance_statement() RETURNS trigger AS $$
DECLARE
    unbalanced bigint;
BEGIN
    SELECT transfer_id INTO unbalanced FROM new_rows
    GROUP BY transfer_id, asset HAVING SUM(amount) <> 0 LIMIT 1;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'postings of transfer % do not balance', unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

PER_STATEMENT = f"current_setting('{SETTING}', true) = 'on'"

TRIGGERS = f"""
CREATE TRIGGER settlement_posting_references_insert AFTER INSERT ON settlement_posting
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_references_exist(
        'transfer_id', 'settlement_transfer', 'account_id', 'settlement_account');
CREATE TRIGGER settlement_posting_references_update AFTER UPDATE ON settlement_posting
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_references_exist(
        'transfer_id', 'settlement_transfer', 'account_id', 'settlement_account');
CREATE TRIGGER settlement_auditleaf_references_insert AFTER INSERT ON settlement_auditleaf
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_references_exist('transfer_id', 'settlement_transfer');
CREATE TRIGGER settlement_auditleaf_references_update AFTER UPDATE ON settlement_auditleaf
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_references_exist('transfer_id', 'settlement_transfer');

CREATE TRIGGER settlement_transfer_not_referenced AFTER DELETE ON settlement_transfer
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_not_referenced(
        'settlement_posting', 'transfer_id', 'settlement_auditleaf', 'transfer_id');
CREATE TRIGGER settlement_account_not_referenced AFTER DELETE ON settlement_account
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION settlement_not_referenced('settlement_posting', 'account_id');
CREATE TRIGGER settlement_transfer_id_immutable BEFORE UPDATE OF id ON settlement_transfer
    FOR EACH ROW EXECUTE FUNCTION settlement_id_immutable();
CREATE TRIGGER settlement_account_id_immutable BEFORE UPDATE OF id ON settlement_account
    FOR EACH ROW EXECUTE FUNCTION settlement_id_immutable();

DROP TRIGGER settlement_postings_balance ON settlement_posting;
CREATE CONSTRAINT TRIGGER settlement_postings_balance
    AFTER UPDATE OR DELETE ON settlement_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION settlement_postings_balance();
CREATE CONSTRAINT TRIGGER settlement_postings_balance_insert
    AFTER INSERT ON settlement_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NOT coalesce({PER_STATEMENT}, false))
    EXECUTE FUNCTION settlement_postings_balance();
CREATE TRIGGER settlement_postings_balance_per_statement AFTER INSERT ON settlement_posting
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (coalesce({PER_STATEMENT}, false))
    EXECUTE FUNCTION settlement_postings_balance_statement();
"""

UNDO = """
DROP TRIGGER IF EXISTS settlement_posting_references_insert ON settlement_posting;
DROP TRIGGER IF EXISTS settlement_posting_references_update ON settlement_posting;
DROP TRIGGER IF EXISTS settlement_auditleaf_references_insert ON settlement_auditleaf;
DROP TRIGGER IF EXISTS settlement_auditleaf_references_update ON settlement_auditleaf;
DROP TRIGGER IF EXISTS settlement_transfer_not_referenced ON settlement_transfer;
DROP TRIGGER IF EXISTS settlement_account_not_referenced ON settlement_account;
DROP TRIGGER IF EXISTS settlement_transfer_id_immutable ON settlement_transfer;
DROP TRIGGER IF EXISTS settlement_account_id_immutable ON settlement_account;
DROP TRIGGER IF EXISTS settlement_postings_balance_per_statement ON settlement_posting;
DROP TRIGGER IF EXISTS settlement_postings_balance_insert ON settlement_posting;
DROP TRIGGER IF EXISTS settlement_postings_balance ON settlement_posting;
CREATE CONSTRAINT TRIGGER settlement_postings_balance
    AFTER INSERT OR UPDATE OR DELETE ON settlement_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION settlement_postings_balance();
DROP FUNCTION IF EXISTS settlement_references_exist();
DROP FUNCTION IF EXISTS settlement_not_referenced();
DROP FUNCTION IF EXISTS settlement_id_immutable();
DROP FUNCTION IF EXISTS settlement_postings_balance_statement();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS + TRIGGERS, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNDO, params=None)


def unconstrained(to, related_name, *, one_to_one=False):
    field = models.OneToOneField if one_to_one else models.ForeignKey
    return field(
        db_constraint=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name=related_name,
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [("settlement", "0004_cheaper_balance_check")]
    operations = [
        migrations.AlterField(
            "posting", "transfer", unconstrained("settlement.transfer", "postings")
        ),
        migrations.AlterField(
            "posting", "account", unconstrained("settlement.account", "postings")
        ),
        migrations.AlterField(
            "auditleaf",
            "transfer",
            unconstrained("settlement.transfer", "audit_leaf", one_to_one=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
