"""Freeze orders, with the authority that gave them, their lifting, and closure."""

from django.db import transaction
from django.utils import timezone

from ewallet.errors import ErrorCode
from settlement import services as ledger
from settlement.models import Account, AccountStatus
from wallets.actors import Actor
from wallets.authority import (
    freeze_authority,
    may_lift,
    require_operates_wallet,
    require_sees_wallet,
)
from wallets.exceptions import WalletError
from wallets.models import (
    FreezeAuthority,
    FreezeOrder,
    FreezeScope,
    Wallet,
    WalletStatusChange,
)


def _orders_in_force(wallet: Wallet):
    return FreezeOrder.objects.filter(wallet=wallet, lifted_at__isnull=True)


def _status_from_orders(wallet: Wallet) -> AccountStatus:
    """What the orders in force make of a wallet: frozen if any full order is, else
    receive-only if any receive-only order is, else active."""
    scopes = set(_orders_in_force(wallet).values_list("scope", flat=True))
    if FreezeScope.FULL in scopes:
        return AccountStatus.FROZEN
    if FreezeScope.RECEIVE_ONLY in scopes:
        return AccountStatus.RECEIVE_ONLY
    return AccountStatus.ACTIVE


def _locked_account(wallet: Wallet) -> Account:
    """The wallet's account, locked: freeze, lift and close on one wallet take turns."""
    account = Account.objects.select_for_update().get(pk=wallet.account_id)
    if account.status == AccountStatus.CLOSED:
        raise WalletError(ErrorCode.WALLET_CLOSED, f"wallet {wallet.number} is closed")
    return account


def _apply_status(
    *, actor: Actor, wallet: Wallet, account: Account, status, reason, order=None
) -> None:
    if account.status != status:
        WalletStatusChange.objects.create(
            wallet=wallet,
            old_status=account.status,
            new_status=status,
            reason=reason,
            actor=actor.user,
            order=order,
        )
        ledger.accounts_set_policy(account_ids=[account.pk], status=status)
    wallet.account.status = status


def _follow_orders(*, actor: Actor, wallet: Wallet, account: Account, order, reason) -> None:
    """The wallet's status as the orders now in force make it, after `order` changed."""
    status = _status_from_orders(wallet)
    _apply_status(
        actor=actor, wallet=wallet, account=account, status=status, reason=reason, order=order
    )


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise WalletError(ErrorCode.INVALID_INPUT, "this needs a reason", field="reason")
    return reason.strip()[:240]


@transaction.atomic
def wallet_freeze(*, actor: Actor, wallet: Wallet, scope: FreezeScope, reason: str) -> FreezeOrder:
    """Order a freeze (FULL: nothing in or out; RECEIVE_ONLY: nothing out), with a reason.

    The wallet's operator's staff order it for the operator; a central-bank approver for
    the central bank. Orders stack (see FreezeOrder); the ledger enforces the result from
    the next batch on, including on payments already queued.
    """
    require_sees_wallet(actor, wallet)
    authority = freeze_authority(actor, wallet)
    if authority is None:
        raise WalletError(
            ErrorCode.PERMISSION_DENIED,
            "only the wallet's operator or a central-bank approver may freeze it",
        )
    reason = _require_reason(reason)
    account = _locked_account(wallet)
    order = FreezeOrder.objects.create(
        wallet=wallet,
        authority=authority,
        operator_id=wallet.operator_id if authority == FreezeAuthority.OPERATOR else None,
        scope=FreezeScope(scope),
        reason=reason,
        ordered_by=actor.user,
    )
    _follow_orders(
        actor=actor,
        wallet=wallet,
        account=account,
        order=order,
        reason=f"freeze order #{order.pk}: {reason}",
    )
    return order


@transaction.atomic
def freeze_lift(*, actor: Actor, order: FreezeOrder, reason: str) -> FreezeOrder:
    """Lift one order, by the authority that gave it (authority.may_lift); the wallet is
    active again only when no other order is in force."""
    wallet = order.wallet
    require_sees_wallet(actor, wallet)
    if not may_lift(actor, order):
        who = (
            "a central-bank approver"
            if order.authority == FreezeAuthority.CENTRAL_BANK
            else "the operator that gave it"
        )
        raise WalletError(
            ErrorCode.FREEZE_AUTHORITY,
            f"a freeze by the {order.get_authority_display().lower()} is lifted only by {who}",
            authority=order.authority,
        )
    reason = _require_reason(reason)
    account = _locked_account(wallet)
    order = FreezeOrder.objects.select_for_update().get(pk=order.pk)
    if order.lifted_at is not None:
        raise WalletError(ErrorCode.INVALID_STATE, f"freeze order #{order.pk} is already lifted")
    order.lifted_at = timezone.now()
    order.lifted_by = actor.user
    order.lift_reason = reason
    order.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    _follow_orders(
        actor=actor,
        wallet=wallet,
        account=account,
        order=order,
        reason=f"freeze order #{order.pk} lifted: {reason}",
    )
    return order


@transaction.atomic
def wallet_close(*, actor: Actor, wallet: Wallet, reason: str) -> Wallet:
    """Close a wallet for good, by its operator: only when empty and under no freeze."""
    require_operates_wallet(actor, wallet)
    reason = _require_reason(reason)
    account = _locked_account(wallet)
    if account.balance != 0:
        raise WalletError(ErrorCode.INVALID_STATE, "unload the balance before closing a wallet")
    if _orders_in_force(wallet).exists():
        raise WalletError(ErrorCode.INVALID_STATE, "a wallet under a freeze order cannot close")
    _apply_status(
        actor=actor, wallet=wallet, account=account, status=AccountStatus.CLOSED, reason=reason
    )
    return wallet
