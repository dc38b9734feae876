"""The audit log records events as well as transfers: a leaf names one or the other.

An event (`AuditEvent`) is something the layer above asks the log to keep that moves no
money: the disclosure of an anonymous holder's identity, each reading of it. Its leaf is
rebuilt from its row by `audit verify`, like a transfer's from its legs, and checkpoints
cover it like any other leaf.

On PostgreSQL the statement trigger that checks leaves' transfers (migration 0005) now
skips a row whose transfer is null, instead of stopping at it: a leaf of an event names no
transfer, and a null read first must not hide a missing transfer read after it.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

REFERENCES_SKIP_NULLS = """
CREATE OR REPLACE FUNCTION settlement_references_exist() RETURNS trigger AS $$
-- TG_ARGV: pairs of (column, referenced table), checked against the statement's new rows;
-- a null reference names nothing and is not checked.
DECLARE
    missing bigint;
    i integer := 0;
BEGIN
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT n.%1$I FROM new_rows n WHERE n.%1$I IS NOT NULL AND NOT EXISTS '
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
"""

REFERENCES_AS_BEFORE = REFERENCES_SKIP_NULLS.replace("n.%1$I IS NOT NULL AND ", "")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFERENCES_SKIP_NULLS, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFERENCES_AS_BEFORE, params=None)


class Migration(migrations.Migration):
    dependencies = [("settlement", "0011_console_tallies")]

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=64)),
                ("data", models.JSONField()),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.AlterField(
            model_name="auditleaf",
            name="transfer",
            field=models.OneToOneField(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_leaf",
                to="settlement.transfer",
            ),
        ),
        migrations.AddField(
            model_name="auditleaf",
            name="event",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_leaf",
                to="settlement.auditevent",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditleaf",
            constraint=models.CheckConstraint(
                condition=models.Q(event__isnull=True, transfer__isnull=False)
                | models.Q(event__isnull=False, transfer__isnull=True),
                name="leaf_of_a_transfer_or_an_event",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
