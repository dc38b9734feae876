"""Sub-wallets: a holder pushes a child wallet with a cap and an expiry to a merchant or app,
which pulls payments from it without asking the holder each time; the holder revokes it at
will; what it still holds goes back to the parent on revocation or at expiry.

Money moves only through the ledger, in three kinds of transfer: SUB_WALLET_FUND (the cap,
parent -> child, counted against the parent's payment limits), MERCHANT (a pull, child ->
the merchant's settlement wallet; the child's account has no limits, so a pull does not
count again) and SUB_WALLET_RETURN (what is left, child -> parent). What a sub-wallet may
still pay out is `unspent` (selectors.sub_wallets_with_money): in less out, counting
queued transfers and not rejected ones, read under the sub-wallet's row lock so racing
pulls never pass the cap and racing sweeps return once.

A pull is a MerchantPayment of a dynamic payment request made for it and paid at once: the
request carries the merchant's order reference (one per order, so a ride is charged once),
and everything acquiring already does with payments (the merchant's list, webhooks,
refunds back into the sub-wallet) holds for pulls unchanged.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import AccountKind, Asset, Transfer, TransferKind, TransferLeg, TransferState
from settlement.services import LegSpec
from wallets.actors import Actor
from wallets.authority import (
    controls_sub_wallet,
    may_pay_from,
    pulls_from_sub_wallet,
    require_system,
    sees_sub_wallet,
    sees_wallet,
)
from wallets.exceptions import WalletError
from wallets.models import (
    Merchant,
    MerchantPayment,
    MerchantStatus,
    Operator,
    SubWallet,
    SubWalletState,
    Wallet,
    WalletKind,
)
from wallets.selectors import sub_wallets_with_money, unique_row
from wallets.services.acquiring import payment_request_create
from wallets.services.holders import new_wallet_number
from wallets.services.institutions import require_operator_active


def _with_money(sub_wallet: SubWallet, *, lock: bool = False) -> SubWallet:
    """The sub-wallet read again with its state and money (locked first, when asked)."""
    rows = SubWallet.objects.select_related("parent", "wallet", "merchant")
    if lock:
        # Lock the row alone (no join, no aggregate in a FOR UPDATE), then read the money.
        SubWallet.objects.select_for_update().filter(pk=sub_wallet.pk).values_list("pk").get()
    return sub_wallets_with_money(rows.filter(pk=sub_wallet.pk)).get()


def _require_sees(actor: Actor, sub_wallet: SubWallet) -> None:
    if not sees_sub_wallet(actor, sub_wallet):
        raise WalletError(ErrorCode.NOT_FOUND, f"no sub-wallet {sub_wallet.code}")


# ---------------------------------------------------------------- pushing


@transaction.atomic
def sub_wallet_push(
    *, actor: Actor, parent: Wallet, merchant: str, cap: int, expires_at: datetime
) -> SubWallet:
    """Push a sub-wallet from `parent` to the merchant whose code is `merchant`, by the
    parent's holder or its operator's staff: a child wallet of kind SUB at the parent's
    operator, and a SUB_WALLET_FUND transfer of `cap` into it. The ledger may still reject
    the funding (funds, the parent's limits, a freeze); then the sub-wallet holds nothing
    and every pull is SUB_WALLET_EXHAUSTED."""
    if not sees_wallet(actor, parent):
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {parent.number}", field="wallet")
    if not may_pay_from(actor, parent):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED,
            "only the wallet's holder or its operator's staff push sub-wallets from it",
        )
    if parent.kind != WalletKind.PERSONAL:
        raise WalletError(
            ErrorCode.INVALID_INPUT, "sub-wallets are pushed from personal wallets", field="wallet"
        )
    cap = require_fen(cap, field="cap")
    now = timezone.now()
    if expires_at.tzinfo is None:
        raise WalletError(ErrorCode.INVALID_INPUT, "expires_at needs a time zone")
    if not now < expires_at <= now + timedelta(days=settings.EWALLET_SUB_WALLET_MAX_DAYS):
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            f"a sub-wallet expires within {settings.EWALLET_SUB_WALLET_MAX_DAYS} days",
            field="expires_at",
        )
    payee = unique_row(Merchant.objects.select_related("settlement_wallet").filter(code=merchant))
    if payee is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"no merchant {merchant}", field="merchant")
    if payee.status != MerchantStatus.ACTIVE:
        raise WalletError(ErrorCode.MERCHANT_SUSPENDED, f"merchant {payee.code} is suspended")
    if payee.holder_id == parent.holder_id:
        raise WalletError(ErrorCode.SAME_ACCOUNT, "a merchant pushes no sub-wallet to itself")
    # Under the row lock operator_set_status takes, as wallet_open does.
    operator = Operator.objects.select_for_update().get(pk=parent.operator_id)
    require_operator_active(operator)
    number = new_wallet_number(operator)
    # No limits of its own: what goes in was counted against the parent's as it left.
    account = ledger.account_open(
        label=f"wallet:{number}", kind=AccountKind.WALLET, asset=Asset.ECNY
    )
    child = Wallet.objects.create(
        number=number,
        holder_id=parent.holder_id,
        operator=operator,
        wallet_class_id=parent.wallet_class_id,
        kind=WalletKind.SUB,
        account=account,
    )
    sub_wallet = SubWallet(
        parent=parent,
        wallet=child,
        merchant=payee,
        cap=cap,
        expires_at=expires_at,
        created_by=actor.user,
        created_at=now,
    )
    funding, _ = ledger.transfer_submit(
        kind=TransferKind.SUB_WALLET_FUND,
        legs=[LegSpec(parent.account_id, account.pk, cap)],
        idempotency_key=f"subwallet:{sub_wallet.code}:fund",
        memo=f"sub-wallet for {payee.name}"[:140],
    )
    sub_wallet.fund_transfer = funding
    sub_wallet.save()
    return _with_money(sub_wallet)


# ---------------------------------------------------------------- pulling


@dataclass(frozen=True)
class SubWalletPull:
    payment: MerchantPayment
    transfer: Transfer
    sub_wallet: SubWallet
    created: bool  # False: the same idempotency key pulled it before


@transaction.atomic
def sub_wallet_pull(
    *,
    actor: Actor,
    sub_wallet: SubWallet,
    amount: int,
    idempotency_key: str,
    order_reference: str = "",
    memo: str = "",
) -> SubWalletPull:
    """A payment the merchant pulls from a sub-wallet pushed to it, by its staff only.
    Refused with nothing moved: SUB_WALLET_REVOKED, SUB_WALLET_EXPIRED, SUB_WALLET_EXHAUSTED
    (more than is left of the cap, with `remaining_fen`), MERCHANT_SUSPENDED, and an order
    reference already asked for (CONFLICT). The same idempotency key pulls once."""
    _require_sees(actor, sub_wallet)
    if not pulls_from_sub_wallet(actor, sub_wallet):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED, "only the staff of the merchant it was pushed to pull"
        )
    amount = require_fen(amount)
    replay = _replayed_pull(sub_wallet, idempotency_key, amount)
    if replay is not None:
        return replay
    # The row lock orders racing pulls (and a revocation): each reads what the ones before
    # it claimed, queued or settled.
    sub_wallet = _with_money(sub_wallet, lock=True)
    replay = _replayed_pull(sub_wallet, idempotency_key, amount)
    if replay is not None:
        return replay
    if sub_wallet.state == SubWalletState.REVOKED:
        raise WalletError(ErrorCode.SUB_WALLET_REVOKED, f"sub-wallet {sub_wallet.code} is revoked")
    if sub_wallet.state == SubWalletState.EXPIRED:
        raise WalletError(ErrorCode.SUB_WALLET_EXPIRED, f"sub-wallet {sub_wallet.code} expired")
    if amount > sub_wallet.unspent:
        raise WalletError(
            ErrorCode.SUB_WALLET_EXHAUSTED,
            f"{sub_wallet.unspent} fen is left in sub-wallet {sub_wallet.code}",
            remaining_fen=sub_wallet.unspent,
        )
    merchant = sub_wallet.merchant
    # The merchant's own request for it, paid at once: checks the merchant is active and the
    # order reference is new.
    request = payment_request_create(
        actor=actor,
        merchant=merchant,
        amount=amount,
        order_reference=order_reference,
        memo=memo or f"from sub-wallet {sub_wallet.code}",
    )
    transfer, created = ledger.transfer_submit(
        kind=TransferKind.MERCHANT,
        legs=[LegSpec(sub_wallet.wallet.account_id, merchant.settlement_wallet.account_id, amount)],
        idempotency_key=idempotency_key,
        memo=(order_reference or request.memo)[:140],
    )
    if not created:
        raise WalletError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key was used for another transfer"
        )
    payment = MerchantPayment.objects.create(
        merchant=merchant,
        request=request,
        transfer=transfer,
        payer_wallet=sub_wallet.wallet,
        amount=amount,
    )
    return SubWalletPull(payment, transfer, _with_money(sub_wallet), created=True)


def _replayed_pull(
    sub_wallet: SubWallet, idempotency_key: str, amount: int
) -> SubWalletPull | None:
    """The pull this key made before, if any: from the same sub-wallet, of the same amount,
    else IDEMPOTENCY_CONFLICT."""
    transfer_id = unique_row(
        Transfer.objects.filter(idempotency_key=idempotency_key).values_list("pk", flat=True)
    )
    if transfer_id is None:
        return None
    payment = unique_row(
        MerchantPayment.objects.select_related("transfer", "request", "merchant").filter(
            transfer_id=transfer_id
        )
    )
    if (
        payment is None
        or payment.payer_wallet_id != sub_wallet.wallet_id
        or payment.amount != amount
    ):
        raise WalletError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key was used for another transfer"
        )
    return SubWalletPull(payment, payment.transfer, _with_money(sub_wallet), created=False)


# ---------------------------------------------------------------- ending


@transaction.atomic
def sub_wallet_revoke(*, actor: Actor, sub_wallet: SubWallet) -> SubWallet:
    """Revoke a sub-wallet, by the parent's holder or its operator's staff: no more pulls,
    and what it holds (unspent, not already on its way back) goes back to the parent in a
    SUB_WALLET_RETURN. Revoking one already ended changes nothing but returns what it still
    owes, so revoking twice is harmless."""
    _require_sees(actor, sub_wallet)
    if not controls_sub_wallet(actor, sub_wallet):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED,
            "only the parent wallet's holder or its operator's staff revoke a sub-wallet",
        )
    sub_wallet = _with_money(sub_wallet, lock=True)
    if sub_wallet.state == SubWalletState.ACTIVE:
        SubWallet.objects.filter(pk=sub_wallet.pk).update(
            revoked_at=timezone.now(), revoked_by=actor.user
        )
        sub_wallet = _with_money(sub_wallet)
    _return_unspent(sub_wallet)
    return _with_money(sub_wallet)


def _return_unspent(sub_wallet: SubWallet) -> Transfer | None:
    """Queue the return of what an ended, locked sub-wallet still owes its parent, if
    anything; not again within EWALLET_SUB_WALLET_RETRY_SECONDS of a rejected one (the
    parent frozen, or at its balance cap), so a stuck return is not tried every sweep."""
    if sub_wallet.unspent <= 0:
        return None
    returns = Transfer.objects.filter(
        kind=TransferKind.SUB_WALLET_RETURN,
        pk__in=TransferLeg.objects.filter(debit_id=sub_wallet.wallet.account_id).values(
            "transfer_id"
        ),
    )
    last = returns.order_by("-pk").first()
    retry_after = timedelta(seconds=settings.EWALLET_SUB_WALLET_RETRY_SECONDS)
    if (
        last is not None
        and last.state == TransferState.REJECTED
        and last.decided_at is not None
        and last.decided_at > timezone.now() - retry_after
    ):
        return None
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.SUB_WALLET_RETURN,
        legs=[
            LegSpec(sub_wallet.wallet.account_id, sub_wallet.parent.account_id, sub_wallet.unspent)
        ],
        # One key per return: the row lock makes the count exact.
        idempotency_key=f"subwallet:{sub_wallet.code}:return:{returns.count() + 1}",
        memo=f"unspent of sub-wallet {sub_wallet.code}",
    )
    return transfer


def sub_wallets_expire(*, actor: Actor, now: datetime | None = None, limit: int = 500) -> int:
    """The sweep (beat runs it, as the system): return to their parents what ended
    sub-wallets (expired, or revoked with a return since rejected or a pull since refunded)
    still hold. Each is locked and counted again, so sweeps that race return once. Returns
    how many returns it queued."""
    require_system(actor, "the sub-wallet sweep")
    now = now or timezone.now()
    due = (
        SubWallet.objects.filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=now))
        .filter(wallet__account__balance__gt=0)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    queued = 0
    for pk in list(due):
        with transaction.atomic():
            sub_wallet = _with_money(SubWallet(pk=pk), lock=True)
            if _return_unspent(sub_wallet) is not None:
                queued += 1
    return queued
