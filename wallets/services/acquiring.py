"""QR payments: a merchant's payment requests (dynamic, for one amount and order; static,
the payer enters the amount), paying one from a wallet, and refunds of what was paid.

Money moves only through the ledger: paying a request queues a MERCHANT transfer from the
payer's wallet to the merchant's, refunding queues a REFUND transfer back. The ledger may
still reject either (funds, limits, a freeze); a rejected payment leaves the request
payable again, a rejected refund no longer counts against the payment.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import AccountKind, Transfer, TransferKind, TransferLeg, TransferState
from settlement.services import LegSpec
from wallets import qr
from wallets.actors import Actor
from wallets.authority import may_pay_from, require_acts_for_merchant, sees_merchant
from wallets.exceptions import WalletError
from wallets.models import (
    Merchant,
    MerchantPayment,
    MerchantStatus,
    PaymentRequest,
    PaymentRequestKind,
    Refund,
    RequestState,
    Wallet,
)
from wallets.selectors import unique_row
from wallets.services.merchants import actors_merchant
from wallets.services.vouchers import voucher_legs


def _transfer_with_key(idempotency_key: str) -> int | None:
    return unique_row(
        Transfer.objects.filter(idempotency_key=idempotency_key).values_list("pk", flat=True)
    )


# ---------------------------------------------------------------- requests


def request_state(request: PaymentRequest, *, now: datetime | None = None) -> str:
    if request.cancelled_at is not None:
        return RequestState.CANCELLED
    if request.kind == PaymentRequestKind.STATIC:
        return RequestState.OPEN
    states = set(
        MerchantPayment.objects.filter(request=request).values_list("transfer__state", flat=True)
    )
    if TransferState.SETTLED in states:
        return RequestState.PAID
    if TransferState.RECEIVED in states:
        return RequestState.PENDING
    if request.expires_at <= (now or timezone.now()):
        return RequestState.EXPIRED
    return RequestState.OPEN


def request_payload(request: PaymentRequest) -> str:
    """The signed text the request's QR code shows (wallets/qr.py)."""
    return qr.sign(settings.EWALLET_QR_KEY, _fields(request))


def _fields(request: PaymentRequest) -> qr.Fields:
    expires = request.expires_at
    return qr.Fields(
        request=request.code,
        merchant=request.merchant.code,
        amount=request.amount,
        expires=None if expires is None else int(expires.timestamp()),
        reference=request.order_reference,
    )


def _require_active(merchant: Merchant) -> None:
    if merchant.status != MerchantStatus.ACTIVE:
        raise WalletError(ErrorCode.MERCHANT_SUSPENDED, f"merchant {merchant.code} is suspended")


@transaction.atomic
def payment_request_create(
    *,
    actor: Actor,
    merchant: Merchant | None = None,
    amount: int,
    order_reference: str = "",
    memo: str = "",
    expires_in: timedelta | None = None,
) -> PaymentRequest:
    """A dynamic request for one amount and order, by the merchant's staff (by default for
    the merchant the actor works for), payable once until it expires
    (EWALLET_REQUEST_TTL_SECONDS unless the merchant says, at most
    EWALLET_REQUEST_MAX_TTL_SECONDS). One order reference names one request."""
    if merchant is None:
        merchant = actors_merchant(actor, "asks for payments")
    require_acts_for_merchant(actor, merchant, "asks for payments")
    _require_active(merchant)
    amount = require_fen(amount)
    if expires_in is None:
        expires_in = timedelta(seconds=settings.EWALLET_REQUEST_TTL_SECONDS)
    if not timedelta(0) < expires_in <= timedelta(seconds=settings.EWALLET_REQUEST_MAX_TTL_SECONDS):
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            f"a request expires within {settings.EWALLET_REQUEST_MAX_TTL_SECONDS} seconds",
            field="expires_in",
        )
    if len(order_reference) > 64 or len(memo) > 140:
        raise WalletError(ErrorCode.INVALID_INPUT, "order reference or memo too long")
    if (
        order_reference
        and PaymentRequest.objects.filter(
            merchant=merchant, kind=PaymentRequestKind.DYNAMIC, order_reference=order_reference
        ).exists()
    ):
        raise WalletError(
            ErrorCode.CONFLICT,
            f"order {order_reference!r} already has a payment request",
            field="order_reference",
        )
    return PaymentRequest.objects.create(
        merchant=merchant,
        kind=PaymentRequestKind.DYNAMIC,
        amount=amount,
        order_reference=order_reference,
        memo=memo,
        expires_at=timezone.now() + expires_in,
        created_by=actor.user,
    )


@transaction.atomic
def collection_code_create(
    *, actor: Actor, merchant: Merchant | None = None, memo: str = ""
) -> PaymentRequest:
    """A static collection code (a printed QR at the till), by the merchant's staff (by
    default for the merchant the actor works for): the payer enters the amount; paid any
    number of times until cancelled."""
    if merchant is None:
        merchant = actors_merchant(actor, "makes collection codes")
    require_acts_for_merchant(actor, merchant, "makes collection codes")
    _require_active(merchant)
    if len(memo) > 140:
        raise WalletError(ErrorCode.INVALID_INPUT, "memo too long", field="memo")
    return PaymentRequest.objects.create(
        merchant=merchant, kind=PaymentRequestKind.STATIC, memo=memo, created_by=actor.user
    )


@transaction.atomic
def payment_request_cancel(*, actor: Actor, request: PaymentRequest) -> PaymentRequest:
    """Cancel a request or code, by the merchant's staff; a request already paid (or being
    paid) stays as it is, and cancelling twice is harmless."""
    require_acts_for_merchant(actor, request.merchant, "cancels its requests")
    request = PaymentRequest.objects.select_for_update().get(pk=request.pk)
    state = request_state(request)
    if state in (RequestState.PAID, RequestState.PENDING):
        raise WalletError(ErrorCode.REQUEST_ALREADY_PAID, f"request {request.code} is paid")
    if request.cancelled_at is None:
        request.cancelled_at = timezone.now()
        request.save(update_fields=["cancelled_at"])
    return request


# ---------------------------------------------------------------- paying


def request_from_payload(payload: str) -> PaymentRequest:
    """The request a scanned payload names, if it is genuine: REQUEST_FORGED when it is not
    a code we signed, REQUEST_ALTERED when it is one of ours changed."""
    try:
        fields, genuine = qr.open_payload(settings.EWALLET_QR_KEY, payload)
    except qr.Malformed as exc:
        raise WalletError(
            ErrorCode.REQUEST_FORGED, f"not an e-CNY payment code: {exc}", field="payload"
        ) from None
    request = unique_row(
        PaymentRequest.objects.select_related("merchant", "merchant__settlement_wallet").filter(
            code=fields.request
        )
    )
    if request is None:
        raise WalletError(ErrorCode.REQUEST_FORGED, "not a code we issued", field="payload")
    if not genuine or fields != _fields(request):
        raise WalletError(
            ErrorCode.REQUEST_ALTERED, "the code was changed after it was issued", field="payload"
        )
    return request


@dataclass(frozen=True)
class RequestPayment:
    payment: MerchantPayment
    transfer: Transfer
    payer: Wallet
    created: bool  # False: the same idempotency key paid it before
    voucher_fen: int = 0  # what the payer's vouchers paid of it (a new payment only)


@transaction.atomic
def payment_request_pay(
    *,
    actor: Actor,
    payload: str,
    wallet: str,
    idempotency_key: str,
    amount: int | None = None,
) -> RequestPayment:
    """Pay a scanned request from a wallet the actor may pay from (its holder, or its
    operator's staff). A dynamic request's amount is its own; a static code's is the
    payer's. Refused, with nothing moved: forged, altered, expired, cancelled or already
    paid requests, and a suspended merchant. The same idempotency key pays once."""
    request = request_from_payload(payload)
    payer = unique_row(Wallet.objects.filter(number=wallet))
    if payer is None or not may_pay_from(actor, payer):
        raise WalletError(
            ErrorCode.NOT_FOUND, f"no wallet {wallet} you may pay from", field="wallet"
        )
    replay = _replayed_payment(request, idempotency_key, payer, amount)
    if replay is not None:
        return replay
    if request.kind == PaymentRequestKind.DYNAMIC:
        # One payment at a time per dynamic request: the row lock orders racing payers (a
        # static code takes any number at once, so it is not locked).
        request = (
            PaymentRequest.objects.select_for_update()
            .select_related("merchant", "merchant__settlement_wallet")
            .get(pk=request.pk)
        )
        # A racing twin with the same key paid it first.
        replay = _replayed_payment(request, idempotency_key, payer, amount)
        if replay is not None:
            return replay
    merchant = request.merchant
    state = request_state(request)
    if state == RequestState.CANCELLED:
        raise WalletError(ErrorCode.REQUEST_CANCELLED, f"request {request.code} was cancelled")
    if state in (RequestState.PAID, RequestState.PENDING):
        raise WalletError(ErrorCode.REQUEST_ALREADY_PAID, f"request {request.code} is paid")
    if state == RequestState.EXPIRED:
        raise WalletError(ErrorCode.REQUEST_EXPIRED, f"request {request.code} has expired")
    _require_active(merchant)
    if request.kind == PaymentRequestKind.DYNAMIC:
        if amount is not None and amount != request.amount:
            raise WalletError(
                ErrorCode.INVALID_AMOUNT, "a dynamic request's amount is its own", field="amount"
            )
        amount = request.amount
    elif amount is None:
        raise WalletError(ErrorCode.INVALID_AMOUNT, "enter the amount to pay", field="amount")
    amount = require_fen(amount)
    receiving = merchant.settlement_wallet
    if payer.pk == receiving.pk:
        raise WalletError(ErrorCode.SAME_ACCOUNT, "a merchant does not pay itself")
    # The payer's vouchers first, where the merchant and the day allow them (vouchers.py).
    legs = voucher_legs(payer, merchant, amount)
    transfer, created = ledger.transfer_submit(
        kind=TransferKind.MERCHANT,
        legs=legs,
        idempotency_key=idempotency_key,
        memo=(request.order_reference or request.memo)[:140],
    )
    if not created:  # the key paid something else before: the ledger's replay says what
        raise WalletError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key was used for another payment"
        )
    payment = MerchantPayment.objects.create(
        merchant=merchant, request=request, transfer=transfer, payer_wallet=payer, amount=amount
    )
    voucher_fen = sum(leg.amount for leg in legs if leg.debit_id != payer.account_id)
    return RequestPayment(payment, transfer, payer, created=True, voucher_fen=voucher_fen)


def _replayed_payment(
    request: PaymentRequest, idempotency_key: str, payer: Wallet, amount: int | None
) -> RequestPayment | None:
    """The payment this key made before, if it made one: of the same request, from the same
    wallet, of the same amount (when the payer named one), else IDEMPOTENCY_CONFLICT."""
    transfer_id = _transfer_with_key(idempotency_key)
    payment = (
        None
        if transfer_id is None
        else unique_row(
            MerchantPayment.objects.select_related("transfer", "payer_wallet").filter(
                transfer_id=transfer_id
            )
        )
    )
    if payment is None:
        return None
    if (
        payment.request_id != request.pk
        or payment.payer_wallet_id != payer.pk
        or (amount is not None and amount != payment.amount)
    ):
        raise WalletError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key paid another payment"
        )
    return RequestPayment(payment, payment.transfer, payment.payer_wallet, created=False)


# ---------------------------------------------------------------- refunds


def refund_deadline(transfer: Transfer) -> datetime | None:
    """Until when a settled payment may be refunded (EWALLET_REFUND_WINDOW_DAYS after it
    settled); none for one not settled."""
    if transfer.decided_at is None or transfer.state != TransferState.SETTLED:
        return None
    return transfer.decided_at + timedelta(days=settings.EWALLET_REFUND_WINDOW_DAYS)


def refundable(transfer: Transfer) -> int:
    """What is left to refund of a payment: what the payer's wallet paid of it (not what
    its vouchers paid: they never turn into the wallet's own money) less refunds not
    rejected."""
    paid = TransferLeg.objects.filter(transfer=transfer, debit__kind=AccountKind.WALLET).aggregate(
        total=Sum("amount")
    )["total"]
    given = (
        Refund.objects.filter(original=transfer)
        .exclude(transfer__state=TransferState.REJECTED)
        .aggregate(total=Sum("amount"))["total"]
    )
    return (paid or 0) - (given or 0)


@transaction.atomic
def refund_create(
    *,
    actor: Actor,
    original: Transfer,
    amount: int,
    idempotency_key: str,
    reason: str = "",
) -> Refund:
    """Give back all or part of a settled payment, by the staff of the merchant that was
    paid, within EWALLET_REFUND_WINDOW_DAYS of it: a REFUND transfer from the merchant's
    wallet to the wallet that paid, linked to the payment. The refunds of a payment that
    are not rejected never add up to more than it, however many race.

    A refund does not give the payer back the daily or annual limit the payment used: the
    limits bound what a wallet pays out in a period, and paying then being refunded is
    still paying (README, "Decisions"). What the payer's vouchers paid is not refunded:
    a refund goes to the wallet, and would turn a voucher into money to spend anywhere."""
    amount = require_fen(amount)
    legs = list(
        TransferLeg.objects.filter(transfer=original).values_list(
            "debit_id", "credit_id", "debit__kind"
        )
    )
    # The leg the payer's own wallet paid: a voucher's part is not given back (below), so
    # a payment its vouchers paid whole has nothing to refund.
    own = next((leg[:2] for leg in legs if leg[2] == AccountKind.WALLET), None)
    merchant = (
        unique_row(Merchant.objects.filter(settlement_wallet__account_id=legs[0][1]))
        if legs and original.kind == TransferKind.MERCHANT
        else None
    )
    if merchant is None or not sees_merchant(actor, merchant):
        raise WalletError(ErrorCode.NOT_FOUND, f"no payment {original.pk} to a merchant of yours")
    require_acts_for_merchant(actor, merchant, "refunds its payments")
    transfer_id = _transfer_with_key(idempotency_key)
    replay = (
        None if transfer_id is None else unique_row(Refund.objects.filter(transfer_id=transfer_id))
    )
    if replay is not None:
        if replay.original_id != original.pk or replay.amount != amount:
            raise WalletError(
                ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key was used for another refund"
            )
        return replay
    # The payment's row lock orders racing refunds of it; settlement never locks a settled
    # transfer, so this waits only on other refunds.
    original = Transfer.objects.select_for_update().get(pk=original.pk)
    if original.state != TransferState.SETTLED:
        raise WalletError(
            ErrorCode.NOT_REFUNDABLE, f"payment {original.pk} is {original.state.lower()}"
        )
    if refund_deadline(original) < timezone.now():
        raise WalletError(
            ErrorCode.REFUND_WINDOW_CLOSED,
            f"payments are refunded within {settings.EWALLET_REFUND_WINDOW_DAYS} days",
        )
    left = refundable(original)
    if amount > left:
        raise WalletError(
            ErrorCode.REFUND_EXCEEDS_PAYMENT,
            f"{left} fen of payment {original.pk} is left to refund",
            refundable_fen=left,
        )
    if len(reason) > 240:
        raise WalletError(ErrorCode.INVALID_INPUT, "reason too long", field="reason")
    transfer, created = ledger.transfer_submit(
        kind=TransferKind.REFUND,
        legs=[LegSpec(own[1], own[0], amount)],
        idempotency_key=idempotency_key,
        memo=f"refund of {original.pk}",
    )
    if not created:
        raise WalletError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key was used for another transfer"
        )
    return Refund.objects.create(
        merchant=merchant,
        original=original,
        transfer=transfer,
        amount=amount,
        reason=reason,
        created_by=actor.user,
    )
