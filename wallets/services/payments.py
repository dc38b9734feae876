"""Money movements: loads, unloads, payments, and operators' batches of them."""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import doorbell
from settlement import services as ledger
from settlement.models import Account, Transfer, TransferKind, TransferLeg, TransferState
from settlement.services import LegSpec, SubmitOutcome, TransferSpec
from settlement.sql import array_literal, fetch_prepared
from wallets.actors import Actor
from wallets.authority import (
    PAY_FROM_SQL,
    may_pay_from,
    pay_from_parameters,
    require_operates_wallet,
)
from wallets.exceptions import WalletError
from wallets.models import (
    IdempotencyRecord,
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
        kind=_payment_kind(receiving),
        legs=[LegSpec(paying.account_id, receiving.account_id, amount)],
        idempotency_key=idempotency_key,
        memo=memo,
    )
    return transfer, paying, receiving


@dataclass(frozen=True)
class RequestRecord:
    """An API request's idempotency record (`IdempotencyRecord`): the caller, their key and
    the request's fingerprint. The one-statement payment writes it completed, as a 202 whose
    body is the payment as queued, rebuilt from the ledger when it is replayed."""

    user_id: int
    key: str
    request_hash: str


def payment_submit_at_once(
    *,
    actor: Actor,
    payer: str,
    payee: str,
    amount: int,
    idempotency_key: str,
    memo: str,
    record: RequestRecord,
) -> Transfer | None:
    """The usual payment request as one statement on PostgreSQL, in autocommit: find both
    wallets, check that the actor may pay from the payer's (the rule `may_pay_from`, in
    its SQL form) and that the key is new to the ledger and to the API's records, then
    insert the transfer, its leg and the completed record; or change nothing at all.

    Returns the queued transfer, or None when nothing was done: not PostgreSQL, a wallet
    missing or not the actor's to pay from, the same wallet twice, or a key already used
    (a retry, a conflict or a twin in flight). The caller then takes the careful path
    (`payment_submit` under the record's claim), which finds the replay or says why. One
    round trip instead of four: the claim, the wallet lookup, the insert and the stored
    answer; prepared once per connection, so planned once.
    """
    if connection.vendor != "postgresql":
        return None
    transfer = Transfer(kind=TransferKind.P2P, idempotency_key=idempotency_key, memo=memo[:140])
    created_at = connection.ops.adapt_datetimefield_value(transfer.created_at)
    params = [
        payer,
        *pay_from_parameters(actor),
        payee,
        record.user_id,
        record.key,
        idempotency_key,
        transfer.memo,
        created_at,
        require_fen(amount),
        record.user_id,
        record.key,
        record.request_hash,
        created_at,
        created_at,
    ]
    try:
        # Inside a transaction (tests) a refused statement must not abort the rest of it.
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            rows = fetch_prepared(_PAY_AT_ONCE, params)
    except IntegrityError:  # a claim of the same key committed meanwhile: it decides
        return None
    if not rows:
        return None
    transfer.pk, transfer.kind = rows[0]
    transfer._state.adding = False
    doorbell.ring_on_commit()
    return transfer


_WALLET = Wallet._meta.db_table
_ACCOUNT = Account._meta.db_table
_RECORD = IdempotencyRecord._meta.db_table
# Each step feeds the next, so nothing is inserted unless everything before it was found.
# The record is inserted without ON CONFLICT: a claim of the same key that commits between
# the NOT EXISTS and the insert makes the statement fail whole, transfer included.
_PAY_AT_ONCE = (
    f"WITH p AS (SELECT w.account_id FROM {_WALLET} w WHERE w.number = %s AND {PAY_FROM_SQL}),"
    f" r AS (SELECT w.account_id, w.kind FROM {_WALLET} w WHERE w.number = %s),"
    " l AS ("
    "  SELECT d.asset, p.account_id AS debit, r.account_id AS credit, r.kind AS payee_kind"
    f"  FROM p JOIN {_ACCOUNT} d ON d.id = p.account_id,"
    f"   r JOIN {_ACCOUNT} c ON c.id = r.account_id"
    "  WHERE c.asset = d.asset AND p.account_id <> r.account_id"
    f"   AND NOT EXISTS (SELECT 1 FROM {_RECORD} WHERE user_id = %s AND key = %s)),"
    " t AS ("
    f"  INSERT INTO {Transfer._meta.db_table}"
    "   (kind, state, reject_code, idempotency_key, memo, created_at)"
    f"  SELECT CASE WHEN l.payee_kind = '{WalletKind.MERCHANT.value}'"
    f"   THEN '{TransferKind.MERCHANT.value}' ELSE '{TransferKind.P2P.value}' END,"
    f"   '{TransferState.RECEIVED.value}', '', %s, %s, %s FROM l"
    "  ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, kind),"
    " g AS ("
    f"  INSERT INTO {TransferLeg._meta.db_table}"
    "   (transfer_id, seq, asset, debit_id, credit_id, amount)"
    "  SELECT t.id, 0, l.asset, l.debit, l.credit, %s FROM t, l),"
    " k AS ("
    f"  INSERT INTO {_RECORD} (user_id, key, request_hash, status_code, response_body,"
    "   response_headers, created_at, completed_at)"
    "  SELECT %s, %s, %s, 202, NULL, '{}', %s, %s FROM t)"
    " SELECT id, kind FROM t"
)


def _payment_kind(receiving: Wallet) -> TransferKind:
    """A payment to a merchant's wallet is a merchant payment (the SQL form is in
    `_PAY_AT_ONCE`)."""
    return TransferKind.MERCHANT if receiving.kind == WalletKind.MERCHANT else TransferKind.P2P


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
    """(number, account_id, operator_id, kind, asset) of the wallets named, the asset their
    account's: the ledger then needs no query of its own for the legs' assets."""
    if connection.vendor == "postgresql":  # one array parameter, not thousands of them
        return fetch_prepared(
            "SELECT w.number, w.account_id, w.operator_id, w.kind, a.asset FROM "
            f"{Wallet._meta.db_table} w JOIN {Account._meta.db_table} a ON a.id = w.account_id "
            "WHERE w.number = ANY(%s::text[])",
            [array_literal(sorted(numbers))],
        )
    return list(
        Wallet.objects.filter(number__in=numbers).values_list(
            "number", "account_id", "operator_id", "kind", "account__asset"
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
    rows = _wallet_rows(numbers)
    wallets = {number: (account, operator, kind) for number, account, operator, kind, _ in rows}
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
    submitted = ledger.transfers_submit_many(
        [spec for _, spec in queued], assets={account: asset for _, account, *_, asset in rows}
    )
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
    vault_id, vault_asset = Operator.objects.values_list(
        "vault_account_id", "vault_account__asset"
    ).get(pk=operator_id)
    rows = _wallet_rows({spec.wallet for spec in loads})
    wallets = {number: (account_id, operator) for number, account_id, operator, *_ in rows}
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
    assets = {account: asset for _, account, *_, asset in rows} | {vault_id: vault_asset}
    submitted = ledger.transfers_submit_many([spec for _, spec in queued], assets=assets)
    outcomes.update((index, outcome) for (index, _), outcome in zip(queued, submitted, strict=True))
    return [outcomes[index] for index in range(len(loads))]
