"""Limit usage's own index on the account goes: usage_unique leads with the account.

Only the index is dropped (as in wallets/0014). Django's own AlterField would also drop
and re-add the foreign key, which re-checks every row of a table each payment writes to."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "settlement_limitusage_account_id_755edbd5"


class Migration(migrations.Migration):
    dependencies = [("settlement", "0019_references_checked_once_each")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="limitusage",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="usage",
                        to="settlement.account",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "settlement_limitusage" ("account_id")',
                ),
            ],
        ),
    ]
