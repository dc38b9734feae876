"""Seed the wallet-class limits table (DESIGN.md defaults) and one group per role.

The figures are written out here, as they were when this migration was made: a migration
imports no live code, so a later change of the defaults cannot change what it did.
"""

from django.db import migrations

# (number, name, KYC, balance cap, single, daily, annual) in yuan; None = no limit.
CLASSES = [
    (1, "Class 1", "In person at the operator", None, None, None, None),
    (2, "Class 2", "Remote ID check and a linked bank account", 500_000, 50_000, 100_000, None),
    (3, "Class 3", "Remote ID check, no linked bank account", 20_000, 5_000, 10_000, None),
    (4, "Class 4", "Phone number only (anonymous)", 10_000, 2_000, 5_000, None),
]
ROLES = ["cb_issuer", "cb_approver", "cb_auditor", "cb_policy", "operator_staff"]


def seed(apps, schema_editor):
    WalletClass = apps.get_model("wallets", "WalletClass")
    Group = apps.get_model("auth", "Group")
    fields = ("balance_cap", "single_limit", "daily_limit", "annual_limit")
    for number, name, kyc, *limits in CLASSES:
        WalletClass.objects.get_or_create(
            number=number,
            defaults={
                "name": name,
                "kyc_requirement": kyc,
                **{f: None if v is None else v * 100 for f, v in zip(fields, limits)},
            },
        )
    for role in ROLES:
        Group.objects.get_or_create(name=role)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
