"""The set-based reference check (migrations 0005, 0012) looks each distinct reference up
once: a batch's postings name each transfer twice and popular accounts many times, and
the check probed the referenced table's index once per row. A batch of 40,000 postings
spent 91-141 ms in the check before and about 70 ms after; for a one-row statement there
was no difference (0.44-0.49 ms a statement either way)."""

from importlib import import_module

from django.db import migrations

REFERENCES_DISTINCT = """
CREATE OR REPLACE FUNCTION settlement_references_exist() RETURNS trigger AS $$
-- TG_ARGV: pairs of (column, referenced table), checked against the statement's new rows;
-- a null reference names nothing and is not checked; each distinct one is looked up once.
DECLARE
    missing bigint;
    i integer := 0;
BEGIN
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT n.ref FROM (SELECT DISTINCT %1$I AS ref FROM new_rows '
            'WHERE %1$I IS NOT NULL) n '
            'WHERE NOT EXISTS (SELECT 1 FROM %2$I r WHERE r.id = n.ref) LIMIT 1',
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
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFERENCES_DISTINCT, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        previous = import_module("settlement.migrations.0012_audit_events")
        schema_editor.execute(previous.REFERENCES_SKIP_NULLS, params=None)


class Migration(migrations.Migration):
    dependencies = [("settlement", "0018_room_for_updates_in_place")]

    operations = [migrations.RunPython(forwards, backwards)]
