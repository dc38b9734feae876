"""Each role's group gets its console permissions, as they were when this was made (a
migration imports no live code; later grants are later migrations)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

_LEDGER = [
    "settlement.view_transfer",
    "settlement.view_posting",
    "settlement.view_auditleaf",
    "settlement.view_checkpoint",
    "settlement.view_signingkey",
]
_CENTRAL_BANK_VIEW = [
    "wallets.view_operator",
    "wallets.view_wallet",
    "wallets.view_walletclass",
    "wallets.view_historicalwalletclass",
    "wallets.view_issuancerequest",
    "wallets.view_walletstatuschange",
    "wallets.view_auditverification",
    "wallets.add_auditverification",
    *_LEDGER,
]
ROLE_PERMISSIONS = {
    "cb_issuer": [*_CENTRAL_BANK_VIEW, "wallets.add_issuancerequest"],
    "cb_approver": [
        *_CENTRAL_BANK_VIEW,
        "wallets.change_issuancerequest",
        "wallets.add_operator",
        "wallets.change_operator",
        "wallets.add_walletstatuschange",
    ],
    "cb_auditor": list(_CENTRAL_BANK_VIEW),
    "cb_policy": [*_CENTRAL_BANK_VIEW, "wallets.change_walletclass"],
    "operator_staff": [
        "wallets.view_holder",
        "wallets.add_holder",
        "wallets.view_wallet",
        "wallets.change_wallet",
        "wallets.view_issuancerequest",
        "wallets.view_walletstatuschange",
        "wallets.add_walletstatuschange",
        "settlement.view_transfer",
        "settlement.view_posting",
        "settlement.view_checkpoint",
    ],
}


def create_all_permissions(apps):
    """Permissions are normally created after migrate; create them now so they can be
    granted."""
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def grant_permissions(apps, role_permissions):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in role_permissions.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)


def grant(apps, schema_editor):
    create_all_permissions(apps)
    grant_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0004_console"),
        ("settlement", "0003_merkle_checkpoints"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
