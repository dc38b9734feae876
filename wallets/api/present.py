"""Models to the plain dicts the output serializers render (amounts in yuan and in fen)."""

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from ewallet.money import format_fen
from ewallet.problems import problem_body
from settlement.models import Checkpoint, SigningKey, Transfer, TransferLeg
from settlement.services import SubmitOutcome
from wallets.api.serializers import account_ref
from wallets.models import ApiToken, Wallet
from wallets.selectors import LimitUse, MoneySupply, Principal


def yuan_or_none(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


def with_legs(transfers: QuerySet[Transfer]) -> QuerySet[Transfer]:
    legs = TransferLeg.objects.select_related("debit", "credit").order_by("seq")
    return transfers.prefetch_related(Prefetch("legs", queryset=legs))


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


def transfer(item: Transfer, legs: list[LegView] | None = None) -> dict:
    """A transfer with its legs (from `with_legs`, or given when the caller knows them)."""
    legs = leg_views(item.legs.all()) if legs is None else legs
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
        "created_at": item.created_at,
        "decided_at": item.decided_at,
    }


def wallet(item: Wallet, principal: Principal) -> dict:
    holder = item.holder
    named = principal.sees_identity_of(holder, item.operator_id)
    return {
        "number": item.number,
        "operator": item.operator.code,
        "kind": item.kind,
        "wallet_class": item.wallet_class_id,
        "status": item.account.status,
        "balance": format_fen(item.account.balance),
        "balance_fen": item.account.balance,
        "holder": {
            "id": holder.pseudonym,
            "kind": holder.kind,
            "kyc_method": holder.kyc_method,
            "name": holder.display_name if named else None,
        },
        "created_at": item.created_at,
    }


def limit_use(use: LimitUse) -> dict:
    return {
        "limit": yuan_or_none(use.limit),
        "limit_fen": use.limit,
        "used": format_fen(use.used),
        "used_fen": use.used,
        "remaining": yuan_or_none(use.remaining),
        "remaining_fen": use.remaining,
    }


def wallet_detail(item: Wallet, principal: Principal, usage: dict[str, LimitUse]) -> dict:
    return {
        **wallet(item, principal),
        "limits": {
            "balance_cap": yuan_or_none(item.account.balance_cap),
            "single": yuan_or_none(item.account.single_limit),
            "daily": limit_use(usage["daily"]),
            "annual": limit_use(usage["annual"]),
        },
    }


def history_entry(leg: TransferLeg, account_id: int) -> dict:
    item = leg.transfer
    out = leg.debit_id == account_id
    other = leg.credit if out else leg.debit
    return {
        "transfer": item.pk,
        "kind": item.kind,
        "state": item.state,
        "reject_code": item.reject_code or None,
        "direction": "out" if out else "in",
        "amount": format_fen(-leg.amount if out else leg.amount),
        "amount_fen": -leg.amount if out else leg.amount,
        "counterparty": account_ref(other.label),
        "memo": item.memo,
        "created_at": item.created_at,
        "decided_at": item.decided_at,
    }


def token(item: ApiToken, secret: str | None = None) -> dict:
    data = {
        "id": item.pk,
        "name": item.name,
        "prefix": item.prefix,
        "created_at": item.created_at,
        "expires_at": item.expires_at,
        "revoked_at": item.revoked_at,
        "last_used_at": item.last_used_at,
    }
    return data if secret is None else {**data, "token": secret}


def money_supply(supply: MoneySupply) -> dict:
    totals = supply.totals
    return {
        "circulation": format_fen(totals.circulation),
        "issued": format_fen(-totals.issuance),
        "backing": format_fen(totals.backing),
        "fully_backed": totals.balanced,
        "by_operator": [
            {
                "operator": row["operator"],
                "vault": format_fen(row["vault"]),
                "wallets": format_fen(row["wallets"]),
                "circulation": format_fen(row["vault"] + row["wallets"]),
                "reserve": format_fen(row["reserve"]),
            }
            for row in supply.by_operator
        ],
        "by_class": [
            {"wallet_class": row["wallet_class"], "wallets": format_fen(row["wallets"])}
            for row in supply.by_class
        ],
    }


def b64(value: bytes) -> str:
    return base64.b64encode(bytes(value)).decode()


def checkpoint(item: Checkpoint) -> dict:
    return {
        "height": item.height,
        "size": item.size,
        "root_hash": b64(item.root_hash),
        "created_at": item.created_at,
        "key_hash": item.key_hash,
        "note": item.note,
    }


def signing_key(item: SigningKey, verifier_key: str) -> dict:
    return {
        "key_hash": item.key_hash,
        "verifier_key": verifier_key,
        "created_at": item.created_at,
        "retired_at": item.retired_at,
    }


def batch_item(index: int, key: str, outcome: SubmitOutcome) -> dict:
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
