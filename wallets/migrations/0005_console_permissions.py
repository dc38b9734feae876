"""Each role's group gets its console permissions (wallets/console/permissions.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from wallets.console.permissions import console_groups_ensure


def grant(apps, schema_editor):
    # Permissions are normally created after migrate; create them now so they can be granted.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    console_groups_ensure(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0004_console"),
        ("settlement", "0003_merkle_checkpoints"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
