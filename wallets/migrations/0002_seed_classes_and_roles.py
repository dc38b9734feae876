"""Seed the wallet-class limits table (DESIGN.md defaults) and one group per role."""

from django.db import migrations

from wallets.catalogue import seed_reference_data


def seed(apps, schema_editor):
    seed_reference_data(apps.get_model("wallets", "WalletClass"), apps.get_model("auth", "Group"))


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
