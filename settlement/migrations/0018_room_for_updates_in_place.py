"""Leave three fifths of each page of accounts and limit usage free, so that settling a batch
updates a balance or a day's spending in place: PostgreSQL then writes the row's next
version on its own page (a heap-only tuple) and no index entry, where a full page sent it
to another page with a new entry in every index of the table. Rows already on full pages
move to pages with room on their next update, and stay there. Nothing to do on SQLite."""

from django.db import migrations

TABLES = ("settlement_account", "settlement_limitusage")


def set_fillfactor(fillfactor):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0017_transfer_key_room_for_api_keys"),
    ]

    operations = [migrations.RunPython(set_fillfactor(40), set_fillfactor(100))]
