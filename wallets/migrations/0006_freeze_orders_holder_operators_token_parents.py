"""Freeze orders with their authority; holders belong to the operator that KYC'd them;
API tokens remember the token they were minted with.

Existing rows are carried over:
- a holder with wallets at one operator belongs to it; a holder with wallets at several
  becomes one KYC record per operator (a copy with a new pseudonym for each further
  operator, its wallets moved to it; the login stays with the first); a holder with no
  wallet at all is deleted (it holds no money and belongs to no operator). Full identity
  numbers were never stored, so the records carried over have no identity link.
- a suspended operator's accounts are marked suspended, which the ledger now enforces.
- a wallet frozen or receive-only now has one order in force, from the latest status
  change that set it: the operator's if its author was that operator's staff, else the
  central bank's.
"""

import secrets

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def holders_to_operators(apps, schema_editor):
    Holder = apps.get_model("wallets", "Holder")
    Wallet = apps.get_model("wallets", "Wallet")
    for holder in Holder.objects.filter(operator__isnull=True).order_by("pk"):
        operators = list(
            Wallet.objects.filter(holder=holder)
            .order_by("pk")
            .values_list("operator_id", flat=True)
        )
        if not operators:
            holder.delete()
            continue
        first, *others = dict.fromkeys(operators)
        holder.operator_id = first
        holder.save(update_fields=["operator"])
        for operator_id in others:
            copy = Holder.objects.create(
                operator_id=operator_id,
                kind=holder.kind,
                display_name=holder.display_name,
                pseudonym="h_" + secrets.token_hex(12),
                kyc_method=holder.kyc_method,
                phone=holder.phone,
                id_number_masked=holder.id_number_masked,
                bank_account_masked=holder.bank_account_masked,
                kyc_verified_at=holder.kyc_verified_at,
                created_at=holder.created_at,
            )
            Wallet.objects.filter(holder=holder, operator_id=operator_id).update(holder=copy)


def freezes_to_orders(apps, schema_editor):
    Wallet = apps.get_model("wallets", "Wallet")
    FreezeOrder = apps.get_model("wallets", "FreezeOrder")
    WalletStatusChange = apps.get_model("wallets", "WalletStatusChange")
    OperatorStaff = apps.get_model("wallets", "OperatorStaff")
    scopes = {"FROZEN": "FULL", "RECEIVE_ONLY": "RECEIVE_ONLY"}
    for wallet in Wallet.objects.filter(account__status__in=list(scopes)).select_related(
        "account"
    ):
        change = (
            WalletStatusChange.objects.filter(wallet=wallet, new_status=wallet.account.status)
            .order_by("-at", "-pk")
            .first()
        )
        by_operator = change is not None and OperatorStaff.objects.filter(
            user_id=change.actor_id, operator_id=wallet.operator_id
        ).exists()
        FreezeOrder.objects.create(
            wallet=wallet,
            authority="OPERATOR" if by_operator else "CENTRAL_BANK",
            operator_id=wallet.operator_id if by_operator else None,
            scope=scopes[wallet.account.status],
            reason=change.reason if change else "frozen before freeze orders were kept",
            ordered_by_id=change.actor_id if change else None,
            ordered_at=change.at if change else wallet.created_at,
        )


def suspensions_to_accounts(apps, schema_editor):
    Operator = apps.get_model("wallets", "Operator")
    Wallet = apps.get_model("wallets", "Wallet")
    Account = apps.get_model("settlement", "Account")
    for operator in Operator.objects.filter(status="SUSPENDED"):
        wallets = Wallet.objects.filter(operator=operator).values_list("account_id", flat=True)
        Account.objects.filter(
            id__in=[operator.reserve_account_id, operator.vault_account_id, *wallets]
        ).update(suspended=True)


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0005_console_permissions'),
        ('settlement', '0006_account_suspended'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='parent',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='children', to='wallets.apitoken'),
        ),
        migrations.AddField(
            model_name='holder',
            name='identity_link',
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
        migrations.AddField(
            model_name='holder',
            name='operator',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='holders', to='wallets.operator'),
        ),
        migrations.CreateModel(
            name='FreezeOrder',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('authority', models.CharField(choices=[('OPERATOR', 'Operator'), ('CENTRAL_BANK', 'Central bank')], max_length=16)),
                ('scope', models.CharField(choices=[('FULL', 'Full freeze (nothing in or out)'), ('RECEIVE_ONLY', 'Receive only (nothing out)')], max_length=16)),
                ('reason', models.CharField(max_length=240)),
                ('ordered_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('lifted_at', models.DateTimeField(blank=True, null=True)),
                ('lift_reason', models.CharField(blank=True, max_length=240)),
                ('lifted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('operator', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.operator')),
                ('ordered_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('wallet', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='freeze_orders', to='wallets.wallet')),
            ],
        ),
        migrations.AddField(
            model_name='walletstatuschange',
            name='order',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.freezeorder'),
        ),
        migrations.AddIndex(
            model_name='freezeorder',
            index=models.Index(condition=models.Q(('lifted_at__isnull', True)), fields=['wallet'], name='freeze_in_force'),
        ),
        migrations.AddConstraint(
            model_name='freezeorder',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('authority', 'OPERATOR'), ('operator__isnull', False)), models.Q(('authority', 'CENTRAL_BANK'), ('operator__isnull', True)), _connector='OR'), name='freeze_operator_iff_operator_authority'),
        ),
        migrations.AddConstraint(
            model_name='freezeorder',
            constraint=models.CheckConstraint(condition=models.Q(('lifted_at__isnull', True), models.Q(('lift_reason', ''), _negated=True), _connector='OR'), name='freeze_lift_has_reason'),
        ),
        migrations.RunPython(holders_to_operators, migrations.RunPython.noop),
        migrations.RunPython(freezes_to_orders, migrations.RunPython.noop),
        migrations.RunPython(suspensions_to_accounts, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='holder',
            name='operator',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='holders', to='wallets.operator'),
        ),
    ]
