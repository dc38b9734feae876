"""The set-based reference check (migrations 0005, 0012) looks each distinct reference up
once: a batch's postings name each transfer twice and popular accounts many times, and
the check probed the referenced table's index once per row. A batch of 40,000 postings
spent 91-141 ms in the check before and about 70 ms after; for a one-row statement there
was no difference (0.44-0.49 ms a statement either way).

The function is 0012's with its query changed, so 0012's text is the one source of it."""

from importlib import import_module

from django.db import migrations

PREVIOUS = import_module("settlement.migrations.0012_audit_events").REFERENCES_SKIP_NULLS
PER_ROW = (
    "'SELECT n.%1$I FROM new_rows n WHERE n.%1$I IS NOT NULL AND NOT EXISTS '\n"
    "            '(SELECT 1 FROM %2$I r WHERE r.id = n.%1$I) LIMIT 1',"
)
PER_DISTINCT = (
    "'SELECT n.ref FROM (SELECT DISTINCT %1$I AS ref FROM new_rows '\n"
    "            'WHERE %1$I IS NOT NULL) n '\n"
    "            'WHERE NOT EXISTS (SELECT 1 FROM %2$I r WHERE r.id = n.ref) LIMIT 1',"
)
assert PREVIOUS.count(PER_ROW) == 1
REFERENCES_DISTINCT = PREVIOUS.replace(PER_ROW, PER_DISTINCT)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFERENCES_DISTINCT, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("settlement", "0018_room_for_updates_in_place")]

    operations = [migrations.RunPython(forwards, backwards)]
