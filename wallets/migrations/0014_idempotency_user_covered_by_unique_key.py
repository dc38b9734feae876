"""The idempotency record's user index goes: the unique (user_id, key) leads with user_id.

Only the index is dropped. Django's own AlterField would also drop and re-add the foreign
key, which re-checks every row of a table each payment writes to."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEX = "wallets_idempotencyrecord_user_id_d565bb05"


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0013_offline_devices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "wallets_idempotencyrecord" ("user_id")',
                ),
            ],
        ),
    ]
