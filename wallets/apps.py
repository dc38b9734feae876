from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _role_groups_after_migrate(using: str = "default", **kwargs) -> None:
    """After every migrate, each role's group holds exactly its console permissions
    (wallets.roles.ROLE_PERMISSIONS): a changed grant needs no migration of its own."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    from wallets.roles import role_groups_ensure

    # Every app's permissions first: the settlement app's may not be created yet.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    role_groups_ensure(Group.objects.db_manager(using).model, Permission)


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "e-CNY wallets"

    def ready(self) -> None:
        post_migrate.connect(_role_groups_after_migrate, sender=self, dispatch_uid="role-groups")
