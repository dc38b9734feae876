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


def _events_for_decisions(decisions, decided_at, **kwargs) -> None:
    """Settlement's batch decided transfers: record merchants' webhook events in its
    transaction (wallets.services.webhooks, "the outbox")."""
    from wallets.services.webhooks import events_record

    events_record(decisions, decided_at)


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "e-CNY wallets"

    def ready(self) -> None:
        from settlement.signals import transfers_decided

        post_migrate.connect(_role_groups_after_migrate, sender=self, dispatch_uid="role-groups")
        transfers_decided.connect(_events_for_decisions, dispatch_uid="webhook-events")
