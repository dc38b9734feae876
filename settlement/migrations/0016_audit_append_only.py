"""The audit tables are append-only on PostgreSQL: row triggers refuse any UPDATE or DELETE
of audit leaves, events, Merkle nodes, checkpoints and signing keys, with a message naming
the table. Two ways through, both deliberate:

- a signing key may be retired (its `retired_at` set once, from NULL): `audit keygen
  --rotate` does that;
- a transaction that sets `ewallet.audit_rewrite` to 'on' (`SELECT set_config(
  'ewallet.audit_rewrite', 'on', true)`) may rewrite them: `audit tamper` does, inside a
  transaction it rolls back, and so do the tests that tamper with the log on purpose.

TRUNCATE fires no row trigger, so `manage.py flush` (tests' teardown, `loadrun --flush`,
the demo) still empties them. These triggers stop a mistaken or ordinary rewrite by the
application; the owner of the database can still drop them, which is why `audit verify`
rebuilds everything from the hash chain and checkpoints signed with pinned keys.
"""

from django.db import migrations

TABLES = (
    "settlement_auditleaf",
    "settlement_auditevent",
    "settlement_merklenode",
    "settlement_checkpoint",
    "settlement_signingkey",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION settlement_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('ewallet.audit_rewrite', true), '') = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_TABLE_NAME = 'settlement_signingkey' AND TG_OP = 'UPDATE' THEN
        -- nested: only this table's rows have these fields
        IF OLD.retired_at IS NULL AND NEW.retired_at IS NOT NULL
            AND (NEW.key_hash, NEW.name, NEW.public_key, NEW.created_at)
                = (OLD.key_hash, OLD.name, OLD.public_key, OLD.created_at) THEN
            RETURN NEW;  -- a key retired by rotation
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'audit rows are never changed; a deliberate rewrite sets '
                     'ewallet.audit_rewrite to on in its own transaction';
END;
$$ LANGUAGE plpgsql;
"""


def checkpoint_times_as_signed(apps, schema_editor):
    """Seals before this one stored the microseconds their notes leave out (a note signs
    its time to the millisecond, truncated); `audit verify` now holds the row to the note."""
    Checkpoint = apps.get_model("settlement", "Checkpoint")
    for checkpoint in Checkpoint.objects.exclude(created_at=None).only("pk", "created_at"):
        signed = checkpoint.created_at.replace(
            microsecond=checkpoint.created_at.microsecond // 1000 * 1000
        )
        if signed != checkpoint.created_at:
            Checkpoint.objects.filter(pk=checkpoint.pk).update(created_at=signed)


def forwards(apps, schema_editor):
    checkpoint_times_as_signed(apps, schema_editor)
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # its % are PL/pgSQL, not placeholders
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION settlement_audit_append_only()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS settlement_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("settlement", "0015_batch_commits")]
    operations = [migrations.RunPython(forwards, backwards)]
