"""The central bank, operators and their staff, and the reference data they need."""

from django.db import transaction

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import AccountKind, Asset, TransferKind
from settlement.services import LegSpec
from wallets.actors import Actor
from wallets.authority import (
    require_role,
    require_system,
)
from wallets.catalogue import seed_offline_limits, seed_reference_data
from wallets.exceptions import WalletError
from wallets.models import (
    CentralBank,
    OfflineLimit,
    Operator,
    OperatorStaff,
    OperatorStatus,
    Wallet,
    WalletClass,
)
from wallets.roles import Role, role_groups_ensure


def reference_data_ensure() -> None:
    """Wallet classes with the default limits and offline caps, and one group per role with
    its console permissions, if missing."""
    from django.contrib.auth.models import Group, Permission

    seed_reference_data(WalletClass)
    seed_offline_limits(OfflineLimit)
    role_groups_ensure(Group, Permission)


# ---------------------------------------------------------------- institutions


@transaction.atomic
def central_bank_ensure() -> CentralBank:
    """The central bank and its three accounts; created on first use."""
    bank = CentralBank.objects.select_for_update().filter(pk=1).first()
    if bank is not None:
        return bank
    return CentralBank.objects.create(
        pk=1,
        issuance_account=ledger.account_open(
            label="cb:issuance", kind=AccountKind.ISSUANCE, asset=Asset.ECNY
        ),
        backing_account=ledger.account_open(
            label="cb:backing", kind=AccountKind.BACKING, asset=Asset.RESERVE
        ),
        reserve_source_account=ledger.account_open(
            label="cb:reserve-source", kind=AccountKind.RESERVE_SOURCE, asset=Asset.RESERVE
        ),
    )


@transaction.atomic
def operator_onboard(
    *, actor: Actor, code: str, name: str, name_zh: str = "", reserve_deposit: int
) -> Operator:
    """Authorise an operator and credit its opening reserve deposit at the central bank."""
    require_role(actor, Role.CB_APPROVER)
    require_fen(reserve_deposit, field="reserve_deposit")
    code = code.strip().upper()
    if not code or Operator.objects.filter(code=code).exists():
        raise WalletError(ErrorCode.CONFLICT, f"operator {code!r} exists or is empty")
    bank = central_bank_ensure()
    operator = Operator.objects.create(
        code=code,
        name=name,
        name_zh=name_zh,
        reserve_account=ledger.account_open(
            label=f"op:{code}:reserve", kind=AccountKind.RESERVE, asset=Asset.RESERVE
        ),
        vault_account=ledger.account_open(
            label=f"op:{code}:vault", kind=AccountKind.VAULT, asset=Asset.ECNY
        ),
    )
    ledger.transfer_submit(
        kind=TransferKind.RESERVE_DEPOSIT,
        legs=[
            LegSpec(bank.reserve_source_account_id, operator.reserve_account_id, reserve_deposit)
        ],
        idempotency_key=f"operator:{code}:opening-reserve",
        memo=f"opening reserve deposit of {code}",
    )
    return operator


@transaction.atomic
def operator_set_status(*, actor: Actor, operator: Operator, status: OperatorStatus) -> Operator:
    """Suspend or reinstate an operator. The ledger enforces a suspension on every account
    of the operator (reserve, vault, wallets): they may still receive, but nothing debits
    them but a redemption, so its loads, unloads and payments, queued or new, are
    REJECTED with OPERATOR_SUSPENDED, and issuance to it is refused."""
    require_role(actor, Role.CB_APPROVER)
    status = OperatorStatus(status)
    # The row lock orders this against wallet_open, which reads the status under it.
    operator = Operator.objects.select_for_update().get(pk=operator.pk)
    operator.status = status
    operator.save(update_fields=["status"])
    ledger.accounts_set_policy(
        account_ids=[
            operator.reserve_account_id,
            operator.vault_account_id,
            *Wallet.objects.filter(operator=operator).values_list("account_id", flat=True),
        ],
        suspended=status == OperatorStatus.SUSPENDED,
    )
    return operator


def require_operator_active(operator: Operator) -> None:
    if operator.status != OperatorStatus.ACTIVE:
        raise WalletError(ErrorCode.OPERATOR_SUSPENDED, f"operator {operator.code} is suspended")


@transaction.atomic
def operator_staff_assign(*, actor: Actor, user, operator: Operator) -> OperatorStaff:
    """Make `user` staff of `operator` (the operator-staff role and its scope): an
    administrator's act, or the system's when it seeds users."""
    require_system(actor, "assigning operator staff")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=Role.OPERATOR_STAFF))
    staff, _ = OperatorStaff.objects.update_or_create(user=user, defaults={"operator": operator})
    return staff
