"""Money movements: loads, unloads, payments, and operators' batches of them."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from ewallet.errors import ErrorCode
from settlement import services as ledger
from settlement.models import Transfer, TransferKind
from settlement.services import LegSpec, SubmitOutcome, TransferSpec
from settlement.sql import array_literal, fetch
from wallets.actors import Actor
from wallets.authority import (
    may_pay_from,
    require_operates_wallet,
)
from wallets.exceptions import WalletError
from wallets.models import (
    Operator,
    Wallet,
    WalletKind,
)


def wallet_load(*, actor: Actor, wallet: Wallet, amount: int, idempotency_key: str) -> Transfer:
    """Holder's bank deposit -> e-CNY, by the wallet's operator: its vault pays the wallet."""
    require_operates_wallet(actor, wallet)
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.LOAD,
        legs=[LegSpec(wallet.operator.vault_account_id, wallet.account_id, amount)],
        idempotency_key=idempotency_key,
    )
    return transfer


def wallet_unload(*, actor: Actor, wallet: Wallet, amount: int, idempotency_key: str) -> Transfer:
    """e-CNY -> the holder's bank deposit, by the wallet's operator: the wallet pays its
    vault."""
    require_operates_wallet(actor, wallet)
    if wallet.kind == WalletKind.SUB:
        # Money leaves a sub-wallet by its merchant's pulls and the return to its parent only.
        raise WalletError(ErrorCode.INVALID_INPUT, "a sub-wallet is not unloaded: revoke it")
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.UNLOAD,
        legs=[LegSpec(wallet.account_id, wallet.operator.vault_account_id, amount)],
        idempotency_key=idempotency_key,
    )
    return transfer


def _vault_account_id(operator_id: int) -> int:
    return Operator.objects.values_list("vault_account_id", flat=True).get(pk=operator_id)


def payment_submit(
    *, actor: Actor, payer: str, payee: str, amount: int, idempotency_key: str, memo: str = ""
) -> tuple[Transfer, Wallet, Wallet]:
    """A person-to-person or merchant payment between two wallet numbers, at one operator or
    across two, by the payer's holder or the payer's operator's staff (authority.may_pay_from).
    Returns the queued transfer and the two wallets.

    e-CNY is a central-bank liability, so a payment across operators is a plain ledger
    transfer between the two wallets: no interbank settlement is needed.
    """
    found = _payment_wallets(payer, payee)
    paying = found.get(payer)
    if paying is None or not may_pay_from(actor, paying):
        if paying is not None and actor.is_central_bank:
            raise WalletError(
                ErrorCode.PERMISSION_DENIED, "only the wallet's holder or operator may pay from it"
            )
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {payer} you may pay from", field="payer")
    receiving = found.get(payee)
    if receiving is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {payee}", field="payee")
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.MERCHANT if receiving.kind == WalletKind.MERCHANT else TransferKind.P2P,
        legs=[LegSpec(paying.account_id, receiving.account_id, amount)],
        idempotency_key=idempotency_key,
        memo=memo,
    )
    return transfer, paying, receiving


def _payment_wallets(payer: str, payee: str) -> dict[str, Wallet]:
    """The two wallets of a payment by number, in one query."""
    # Raw SQL: this is on every payment's path, and composing the ORM query cost more than
    # running it.
    return {
        w.number: w
        for w in Wallet.objects.raw(
            f"SELECT id, number, holder_id, operator_id, account_id, kind, wallet_class_id "
            f"FROM {Wallet._meta.db_table} WHERE number IN (%s, %s)",
            [payer, payee],
        )
    }


def _wallet_rows(numbers: set[str]) -> list[tuple]:
    """(number, account_id, operator_id, kind) of the wallets named."""
    if connection.vendor == "postgresql":  # one array parameter, not thousands of them
        return fetch(
            "SELECT number, account_id, operator_id, kind FROM "
            f"{Wallet._meta.db_table} WHERE number = ANY(%s::text[])",
            [array_literal(sorted(numbers))],
        )
    return list(
        Wallet.objects.filter(number__in=numbers).values_list(
            "number", "account_id", "operator_id", "kind"
        )
    )


def _batch_operator(actor: Actor, what: str) -> int:
    """Batches are an operator's (its gateway's): the actor's operator."""
    if actor.operator_id is None:
        raise WalletError(ErrorCode.PERMISSION_DENIED, f"only operator staff submit {what}")
    return actor.operator_id


@dataclass(frozen=True)
class PaymentSpec:
    payer: str  # wallet numbers
    payee: str
    amount: int
    idempotency_key: str
    memo: str = ""
    linked: bool = False  # to the next payment: the chain settles whole or not at all


def payments_submit_many(*, actor: Actor, payments: Sequence[PaymentSpec]) -> list[SubmitOutcome]:
    """The actor's operator's batch of payments from its own wallets; each item queued or
    refused alone, but for linked chains (`PaymentSpec.linked`), queued or refused whole.
    One query finds every wallet named; the ledger queues the valid items set-based."""
    operator_id = _batch_operator(actor, "batches of payments")
    chains = ledger.linked_chains([spec.linked for spec in payments])
    numbers = {number for spec in payments for number in (spec.payer, spec.payee)}
    # Tuples, not models: building a thousand model instances cost more than the query.
    wallets = {
        number: (account_id, wallet_operator, kind)
        for number, account_id, wallet_operator, kind in _wallet_rows(numbers)
    }
    errors: dict[int, WalletError] = {}
    for index, spec in enumerate(payments):
        payer, payee = wallets.get(spec.payer), wallets.get(spec.payee)
        if payer is None or payer[1] != operator_id or payer[2] == WalletKind.SUB:
            errors[index] = WalletError(
                ErrorCode.NOT_FOUND, f"no wallet {spec.payer} at this operator", field="payer"
            )
        elif payee is None:
            errors[index] = WalletError(
                ErrorCode.NOT_FOUND, f"no wallet {spec.payee}", field="payee"
            )
    ledger.refuse_broken_chains(chains, errors)
    outcomes = {index: SubmitOutcome(error=error) for index, error in errors.items()}
    queued: list[tuple[int, TransferSpec]] = []
    for index, spec in enumerate(payments):
        if index in errors:
            continue
        payer, payee = wallets[spec.payer], wallets[spec.payee]
        kind = TransferKind.MERCHANT if payee[2] == WalletKind.MERCHANT else TransferKind.P2P
        legs = [LegSpec(payer[0], payee[0], spec.amount)]
        queued.append(
            (index, TransferSpec(kind, legs, spec.idempotency_key, spec.memo, spec.linked))
        )
    submitted = ledger.transfers_submit_many([spec for _, spec in queued])
    outcomes.update((index, outcome) for (index, _), outcome in zip(queued, submitted, strict=True))
    return [outcomes[index] for index in range(len(payments))]


@dataclass(frozen=True)
class LoadSpec:
    wallet: str  # wallet number
    amount: int
    idempotency_key: str


def wallet_loads_submit_many(*, actor: Actor, loads: Sequence[LoadSpec]) -> list[SubmitOutcome]:
    """The actor's operator's batch of loads (bank deposits -> e-CNY) into its own wallets,
    each queued or refused alone, like `payments_submit_many`: the vault pays each wallet."""
    operator_id = _batch_operator(actor, "batches of loads")
    vault_id = _vault_account_id(operator_id)
    wallets = {
        number: (account_id, wallet_operator)
        for number, account_id, wallet_operator, _ in _wallet_rows({spec.wallet for spec in loads})
    }
    outcomes: dict[int, SubmitOutcome] = {}
    queued: list[tuple[int, TransferSpec]] = []
    for index, spec in enumerate(loads):
        wallet = wallets.get(spec.wallet)
        if wallet is None or wallet[1] != operator_id:
            error = WalletError(
                ErrorCode.NOT_FOUND, f"no wallet {spec.wallet} at this operator", field="wallet"
            )
            outcomes[index] = SubmitOutcome(error=error)
        else:
            legs = [LegSpec(vault_id, wallet[0], spec.amount)]
            queued.append((index, TransferSpec(TransferKind.LOAD, legs, spec.idempotency_key)))
    submitted = ledger.transfers_submit_many([spec for _, spec in queued])
    outcomes.update((index, outcome) for (index, _), outcome in zip(queued, submitted, strict=True))
    return [outcomes[index] for index in range(len(loads))]
