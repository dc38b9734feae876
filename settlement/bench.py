"""The settlement benchmark: queue N payments among M funded accounts, time settling them."""

import random
import time
import uuid
from dataclasses import dataclass

from django.db import transaction

from settlement.models import Account, AccountKind, Asset, Transfer, TransferKind, TransferLeg
from settlement.services import transfers_settle


@dataclass
class BenchResult:
    transfers: int
    accounts: int
    batch_size: int
    queue_seconds: float
    settle_seconds: float
    settled: int
    rejected: int

    @property
    def transfers_per_second(self) -> float:
        return self.transfers / self.settle_seconds if self.settle_seconds else 0.0


def bench_settlement(*, transfers: int, accounts: int, batch_size: int, seed: int) -> BenchResult:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    reserve_source, backing, issuance, vault = Account.objects.bulk_create(
        Account(label=f"bench:{run}:{kind.lower()}", kind=kind, asset=asset)
        for kind, asset in [
            (AccountKind.RESERVE_SOURCE, Asset.RESERVE),
            (AccountKind.BACKING, Asset.RESERVE),
            (AccountKind.ISSUANCE, Asset.ECNY),
            (AccountKind.VAULT, Asset.ECNY),
        ]
    )
    wallets = Account.objects.bulk_create(
        Account(label=f"bench:{run}:{i}", kind=AccountKind.WALLET, asset=Asset.ECNY)
        for i in range(accounts)
    )
    # Fund honestly, so `audit verify` still holds: reserve-backed issuance, then loads.
    total = 1_000_000 * accounts
    queue_received(
        f"bench:{run}:issue",
        TransferKind.ISSUE,
        [[(Asset.RESERVE, reserve_source, backing, total), (Asset.ECNY, issuance, vault, total)]],
    )
    queue_received(
        f"bench:{run}:fund",
        TransferKind.LOAD,
        [[(Asset.ECNY, vault, wallet, 1_000_000)] for wallet in wallets],
    )
    transfers_settle(batch_size=batch_size)
    payments = []
    for _ in range(transfers):
        payer, payee = rng.sample(wallets, 2)
        payments.append([(Asset.ECNY, payer, payee, rng.randint(1, 20_000))])
    queue_received(f"bench:{run}:pay", TransferKind.P2P, payments)
    queue_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = transfers_settle(batch_size=batch_size)
    settle_seconds = time.perf_counter() - started
    return BenchResult(
        transfers=result.claimed,
        accounts=accounts,
        batch_size=batch_size,
        queue_seconds=queue_seconds,
        settle_seconds=settle_seconds,
        settled=result.settled,
        rejected=sum(result.rejected.values()),
    )


@transaction.atomic
def queue_received(
    prefix: str, kind: TransferKind, transfers: list[list[tuple[Asset, Account, Account, int]]]
) -> None:
    """Insert RECEIVED transfers (each a list of legs) in bulk without ringing the doorbell,
    so nothing settles them before the timer starts."""
    queued = Transfer.objects.bulk_create(
        (Transfer(kind=kind, idempotency_key=f"{prefix}:{i}") for i in range(len(transfers))),
        batch_size=5000,
    )
    TransferLeg.objects.bulk_create(
        (
            TransferLeg(
                transfer=transfer,
                seq=seq,
                asset=asset,
                debit_id=debit.pk,
                credit_id=credit.pk,
                amount=amount,
            )
            for transfer, legs in zip(queued, transfers, strict=True)
            for seq, (asset, debit, credit, amount) in enumerate(legs)
        ),
        batch_size=5000,
    )
