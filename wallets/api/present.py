"""The hand-built answers of the hottest requests: a payment's (and a QR payment's) and a
batch's items.

Every other answer is rendered by its `*Out` serializer (wallets/api/serializers.py). These
two skip the serializer on the request path, where it cost more than the rest of the
request; tests/api/test_present.py holds each to its serializer's output (TransferOut,
BatchItemOut) for generated input.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from ewallet.money import format_fen
from ewallet.problems import problem_body
from settlement.models import Transfer, TransferLeg
from settlement.services import SubmitOutcome
from wallets.api.fields import account_ref
from wallets.selectors import refund_of


def _legs() -> Prefetch:
    legs = TransferLeg.objects.select_related("debit", "credit").order_by("seq")
    return Prefetch("legs", queryset=legs)


def with_legs(transfers: QuerySet[Transfer]) -> QuerySet[Transfer]:
    """Transfers as TransferOut renders them: with their legs and the legs' accounts, and
    for a refund the payment it gives back."""
    return transfers.prefetch_related(_legs()).annotate(refund_of=refund_of())


def fetch_legs(transfer: Transfer) -> Transfer:
    """`with_legs` for a transfer already in hand (its other fields are not read again)."""
    prefetch_related_objects([transfer], _legs())
    return transfer


@dataclass(frozen=True)
class LegView:
    asset: str
    debit: str  # as clients know the accounts: wallet numbers or labels
    credit: str
    amount: int


def leg_views(legs: Iterable[TransferLeg]) -> list[LegView]:
    return [
        LegView(leg.asset, account_ref(leg.debit.label), account_ref(leg.credit.label), leg.amount)
        for leg in legs
    ]


def transfer(item: Transfer, legs: list[LegView]) -> dict:
    """TransferOut's answer for a payment whose legs the caller already knows."""
    first = legs[0]
    return {
        "id": item.pk,
        "kind": item.kind,
        "state": item.state,
        "reject_code": item.reject_code or None,
        "payer": first.debit,
        "payee": first.credit,
        "amount": format_fen(first.amount),
        "amount_fen": first.amount,
        "legs": [
            {
                "asset": leg.asset,
                "debit": leg.debit,
                "credit": leg.credit,
                "amount": format_fen(leg.amount),
                "amount_fen": leg.amount,
            }
            for leg in legs
        ],
        "memo": item.memo,
        "refund_of": None,  # a payment is never a refund
        "link": None,  # nor linked: only a batch links
        "created_at": item.created_at,
        "decided_at": item.decided_at,
    }


def batch_item(index: int, key: str, outcome: SubmitOutcome) -> dict:
    """BatchItemOut's answer for one item of a batch: queued, replayed, or its problem."""
    item = {"index": index, "idempotency_key": key, "id": None, "state": None, "problem": None}
    if outcome.error is not None:
        error = outcome.error
        extra = dict(error.extra)
        if field := extra.pop("field", None):
            pointer = f"/transfers/{index}/{field}"
            extra["errors"] = [{"pointer": pointer, "code": error.code, "detail": error.message}]
        item["problem"] = problem_body(error.code, error.status, error.message, **extra)
        return {**item, "status": error.status}
    return {
        **item,
        "status": 202 if outcome.created else 200,
        "id": outcome.transfer_id,
        "state": outcome.state,
    }


def qr_payment(item: Transfer, legs: list[LegView], payment) -> dict:
    """QrPaymentOut's answer: the payment's transfer, the request it paid and its merchant
    (`payment`: the MerchantPayment, or anything with `.request.code`, `.merchant.code`)."""
    return {
        **transfer(item, legs),
        "request": payment.request.code,
        "merchant": payment.merchant.code,
    }
