"""Conditional payments (escrow): the e-CNY "programmable" payment, on the ledger's
two-phase transfers.

Creating one queues a pending transfer (`transfer_reserve`) that holds the amount on the
payer's wallet; then one thing decides it, once:
- its condition is met: the payer confirms delivery (PAYER_CONFIRMS), the named approver
  approves (APPROVAL), or its release time comes (RELEASE_AT, beat's sweep) -> a POST
  moves the amount to the payee;
- both parties agree to cancel -> a VOID releases the hold;
- its timeout passes first -> settlement's EXPIRE releases the hold.

The escrow's row lock orders its actions, so a release and a cancellation racing each
other are decided here, once; the ledger decides once again (its phases lock the pending
transfer). Every refusal here is a WalletError and moves nothing; the ledger's refusals
(funds, limits, a freeze) are a REJECTED reservation (REFUSED) or a REJECTED release
(still HELD: it may be released again).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import Transfer, TransferKind, TransferState
from settlement.services import MAX_PENDING_TIMEOUT, LegSpec
from wallets.actors import Actor
from wallets.authority import (
    acts_for_payee,
    acts_for_payer,
    approves_escrow,
    may_pay_from,
    require_system,
    sees_escrow,
)
from wallets.exceptions import WalletError
from wallets.models import (
    ESCROW_STATE_OF_TRANSFER,
    Escrow,
    EscrowCondition,
    EscrowState,
    Wallet,
    WalletKind,
)


def escrow_state(escrow: Escrow) -> EscrowState:
    """Derived, never stored: what its pending transfer is."""
    return ESCROW_STATE_OF_TRANSFER[escrow.transfer.state]


def escrow_timeout_default() -> timedelta:
    return timedelta(seconds=settings.EWALLET_ESCROW_TIMEOUT_SECONDS)


# ---------------------------------------------------------------- creating


@transaction.atomic
def escrow_create(
    *,
    actor: Actor,
    payer: str,
    payee: str,
    amount: int,
    condition: EscrowCondition,
    idempotency_key: str,
    release_at: datetime | None = None,
    approver: str | None = None,
    timeout: timedelta | None = None,
    memo: str = "",
) -> Escrow:
    """Hold `amount` fen of the payer's wallet for the payee until `condition` releases it,
    by the payer's holder or their operator's staff (as a payment). A P2P transfer, or
    MERCHANT when the payee is a merchant's wallet; the ledger checks funds and limits
    when it holds it (a refusal there: REFUSED). `timeout` (default
    EWALLET_ESCROW_TIMEOUT_SECONDS, at most the ledger's 90 days) is when it expires
    unreleased; a RELEASE_AT escrow's `release_at` falls before it; an APPROVAL escrow
    names its approver's username, someone other than the two parties' holders. The same
    idempotency key creates one escrow."""
    amount = require_fen(amount)
    condition = EscrowCondition(condition)
    wallets = {w.number: w for w in Wallet.objects.filter(number__in=[payer, payee])}
    paying = wallets.get(payer)
    if paying is None or not may_pay_from(actor, paying):
        if paying is not None and actor.is_central_bank:
            raise WalletError(
                ErrorCode.PERMISSION_DENIED, "only the wallet's holder or operator may pay from it"
            )
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {payer} you may pay from", field="payer")
    receiving = wallets.get(payee)
    if receiving is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {payee}", field="payee")
    if paying.pk == receiving.pk:
        raise WalletError(ErrorCode.SAME_ACCOUNT, "payer and payee are the same wallet")
    replay = _replayed(idempotency_key)
    if replay is not None:
        same = (replay.payer_wallet_id, replay.payee_wallet_id, replay.amount, replay.condition)
        if same != (paying.pk, receiving.pk, amount, condition):
            raise WalletError(
                ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key made another escrow"
            )
        return replay
    timeout = escrow_timeout_default() if timeout is None else timeout
    if not timedelta(seconds=1) <= timeout <= MAX_PENDING_TIMEOUT:
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            f"an escrow's timeout is between 1 second and {MAX_PENDING_TIMEOUT.days} days",
            field="timeout",
        )
    now = timezone.now()
    approving = _check_condition(
        condition, release_at, approver, now, now + timeout, paying, receiving
    )
    if len(memo) > 140:
        raise WalletError(ErrorCode.INVALID_INPUT, "memo too long", field="memo")
    transfer, created = ledger.transfer_reserve(
        kind=TransferKind.MERCHANT if receiving.kind == WalletKind.MERCHANT else TransferKind.P2P,
        legs=[LegSpec(paying.account_id, receiving.account_id, amount)],
        idempotency_key=idempotency_key,
        timeout=timeout,
        memo=memo,
    )
    if not created:  # the key queued some other transfer before
        raise WalletError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key was used for another transfer"
        )
    return Escrow.objects.create(
        payer_wallet=paying,
        payee_wallet=receiving,
        amount=amount,
        transfer=transfer,
        condition=condition,
        release_at=release_at if condition == EscrowCondition.RELEASE_AT else None,
        approver=approving,
        memo=memo,
        created_by=actor.user,
    )


def _check_condition(condition, release_at, approver, now, timeout_at, paying, receiving):
    """The condition's own field, and only it; returns the approving user, if any."""
    if condition == EscrowCondition.RELEASE_AT:
        if release_at is None:
            raise WalletError(
                ErrorCode.INVALID_INPUT, "a RELEASE_AT escrow needs release_at", field="release_at"
            )
        if timezone.is_naive(release_at) or not now < release_at < timeout_at:
            raise WalletError(
                ErrorCode.INVALID_INPUT,
                "release_at is an aware time after now and before the timeout",
                field="release_at",
            )
    elif release_at is not None:
        raise WalletError(
            ErrorCode.INVALID_INPUT, "only a RELEASE_AT escrow has release_at", field="release_at"
        )
    if condition != EscrowCondition.APPROVAL:
        if approver:
            raise WalletError(
                ErrorCode.INVALID_INPUT, "only an APPROVAL escrow has an approver", field="approver"
            )
        return None
    user = (
        get_user_model().objects.filter(username=approver, is_active=True).first()
        if approver
        else None
    )
    if user is None:
        raise WalletError(ErrorCode.INVALID_INPUT, f"no user {approver!r}", field="approver")
    parties = {paying.holder.user_id, receiving.holder.user_id} - {None}
    if user.pk in parties:
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            "the approver is a third party, not the payer or the payee",
            field="approver",
        )
    return user


def _replayed(idempotency_key: str) -> Escrow | None:
    transfer_id = Transfer.objects.filter(idempotency_key=idempotency_key).values_list(
        "pk", flat=True
    )[:1]
    return Escrow.objects.filter(transfer_id__in=list(transfer_id)).first()


# ---------------------------------------------------------------- deciding


def _require_sees(actor: Actor, escrow: Escrow) -> None:
    if not sees_escrow(actor, escrow):
        raise WalletError(ErrorCode.NOT_FOUND, f"no escrow {escrow.pk}")


def _locked(escrow: Escrow, *, skip_locked: bool = False) -> Escrow | None:
    """The escrow, its row locked (racing actions on it wait here), then read fresh with
    its transfers in a statement of its own: in READ COMMITTED, a locking statement that
    waited sees the locked row's new version but joined rows as they were when it began,
    so the release or void a racer just queued would be missed. None if `skip_locked` and
    another holds it."""
    locked = Escrow.objects.select_for_update(skip_locked=skip_locked).filter(pk=escrow.pk)
    if not list(locked.values_list("pk", flat=True)):
        return None
    return Escrow.objects.select_related(
        "transfer", "release", "void", "payer_wallet", "payee_wallet"
    ).get(pk=escrow.pk)


def _release_under_way(escrow: Escrow) -> bool:
    return escrow.release is not None and escrow.release.state != TransferState.REJECTED


def _require_held(escrow: Escrow) -> None:
    state = escrow_state(escrow)
    if state != EscrowState.HELD:
        raise WalletError(
            ErrorCode.ESCROW_NOT_HELD, f"escrow {escrow.pk} is {state.lower()}", state=str(state)
        )
    if escrow.void is not None:
        raise WalletError(ErrorCode.ESCROW_NOT_HELD, f"escrow {escrow.pk} is being cancelled")
    if _release_under_way(escrow):
        raise WalletError(ErrorCode.ESCROW_NOT_HELD, f"escrow {escrow.pk} is being released")


def _require_condition(escrow: Escrow, condition: EscrowCondition) -> None:
    if escrow.condition != condition:
        raise WalletError(
            ErrorCode.CONDITION_NOT_MET,
            f"escrow {escrow.pk} is released by {escrow.get_condition_display().lower()}",
            condition=escrow.condition,
        )


def _release(escrow: Escrow) -> Escrow:
    """Queue the POST of the whole amount. Its key is the escrow's and the attempt's (a
    release the ledger refused may be followed by another), so racers queue it once."""
    attempt = (
        1 if escrow.release is None else int(escrow.release.idempotency_key.split(":")[-1]) + 1
    )
    escrow.release, _ = ledger.transfer_post(
        pending=escrow.transfer,
        idempotency_key=f"escrow:{escrow.pk}:release:{attempt}",
        memo=f"release of escrow {escrow.pk}",
    )
    escrow.save(update_fields=["release"])
    return escrow


@transaction.atomic
def escrow_confirm(*, actor: Actor, escrow: Escrow) -> Escrow:
    """The payer confirms delivery: a PAYER_CONFIRMS escrow's amount goes to the payee. By
    whoever may pay from the payer's wallet (its holder, or its operator's staff)."""
    _require_sees(actor, escrow)
    _require_condition(escrow, EscrowCondition.PAYER_CONFIRMS)
    if not acts_for_payer(actor, escrow):
        raise WalletError(ErrorCode.NOT_THE_PAYER, "only the payer confirms delivery")
    escrow = _locked(escrow)
    _require_held(escrow)
    return _release(escrow)


@transaction.atomic
def escrow_approve(*, actor: Actor, escrow: Escrow) -> Escrow:
    """The named approver approves: an APPROVAL escrow's amount goes to the payee."""
    _require_sees(actor, escrow)
    _require_condition(escrow, EscrowCondition.APPROVAL)
    if not approves_escrow(actor, escrow):
        raise WalletError(ErrorCode.NOT_THE_APPROVER, "only the approver it names approves it")
    escrow = _locked(escrow)
    _require_held(escrow)
    return _release(escrow)


def escrows_release_due(*, actor: Actor, now: datetime | None = None) -> int:
    """The system's sweep: queue the release of every held RELEASE_AT escrow whose time has
    come and whose timeout has not (one the ledger refused to release is tried again
    after EWALLET_ESCROW_RETRY_SECONDS). Safe to run anywhere, any number of times at
    once: each escrow is released by whichever sweep locks it first, once. Returns how
    many it queued."""
    require_system(actor, "releasing escrows")
    now = now or timezone.now()
    retry_before = now - timedelta(seconds=settings.EWALLET_ESCROW_RETRY_SECONDS)
    due = Escrow.objects.filter(
        condition=EscrowCondition.RELEASE_AT,
        release_at__lte=now,
        transfer__state__in=[TransferState.RECEIVED, TransferState.PENDING],
        transfer__timeout_at__gt=now,
        void__isnull=True,
    ).filter(
        Q(release__isnull=True)
        | Q(release__state=TransferState.REJECTED, release__decided_at__lte=retry_before)
    )
    queued = 0
    for escrow_id in due.order_by("release_at", "pk").values_list("pk", flat=True):
        with transaction.atomic():
            escrow = _locked(Escrow(pk=escrow_id), skip_locked=True)
            if escrow is None:  # another sweep has it
                continue
            if escrow_state(escrow) != EscrowState.HELD or escrow.void is not None:
                continue
            if _release_under_way(escrow):
                continue
            if escrow.release is not None and escrow.release.decided_at > retry_before:
                continue
            _release(escrow)
            queued += 1
    return queued


@transaction.atomic
def escrow_cancel(*, actor: Actor, escrow: Escrow) -> Escrow:
    """A party agrees to cancel: the payer's side (whoever may pay from the payer's
    wallet) or the payee's (its holder, a merchant's staff, its operator's staff); an
    actor who acts for both (the one operator of both wallets) agrees for both. When both
    sides have agreed, a VOID releases the hold and nothing moves. Agreeing twice is
    harmless."""
    _require_sees(actor, escrow)
    for_payer, for_payee = acts_for_payer(actor, escrow), acts_for_payee(actor, escrow)
    if not (for_payer or for_payee):
        raise WalletError(ErrorCode.NOT_A_PARTY, "only the payer and the payee agree to cancel")
    escrow = _locked(escrow)
    _require_held(escrow)
    now = timezone.now()
    changed = []
    if for_payer and escrow.payer_cancelled_at is None:
        escrow.payer_cancelled_at = now
        changed.append("payer_cancelled_at")
    if for_payee and escrow.payee_cancelled_at is None:
        escrow.payee_cancelled_at = now
        changed.append("payee_cancelled_at")
    if escrow.payer_cancelled_at is not None and escrow.payee_cancelled_at is not None:
        escrow.void, _ = ledger.transfer_void(
            pending=escrow.transfer,
            idempotency_key=f"escrow:{escrow.pk}:void",
            memo=f"cancellation of escrow {escrow.pk}",
        )
        changed.append("void")
    if changed:
        escrow.save(update_fields=changed)
    return escrow
