"""The settlement benchmark: queue N payments among M funded accounts, time settling them;
with `two_phase`, time reserving them, then posting every reservation."""

import os
import random
import resource
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from settlement.models import (
    Account,
    AccountKind,
    Asset,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.services import transfers_settle


@dataclass(frozen=True)
class CpuSeconds:
    """CPU time, user + system. Rates vary from run to run with what else the machine
    does; the CPU a transfer costs varies far less, and on a machine whose cores are
    all busy it is what bounds the rate."""

    process: float  # this process (the settling code)
    backend: float | None  # its PostgreSQL backend, when the server runs on this machine
    machine: float | None  # every core of the machine: both of the above, PostgreSQL's
    # background writers, and whatever else ran

    def __sub__(self, earlier: "CpuSeconds") -> "CpuSeconds":
        return CpuSeconds(
            self.process - earlier.process,
            _minus(self.backend, earlier.backend),
            _minus(self.machine, earlier.machine),
        )

    def describe(self) -> str:
        """'this process X, its PostgreSQL backend Y, the whole machine Z', in µs when
        scaled per transfer; the parts not measured are left out."""
        parts = [f"this process {self.process:.1f}"]
        if self.backend is not None:
            parts.append(f"its PostgreSQL backend {self.backend:.1f}")
        if self.machine is not None:
            parts.append(f"the whole machine {self.machine:.1f}")
        return ", ".join(parts)

    def scaled(self, factor: float) -> "CpuSeconds":
        return CpuSeconds(
            self.process * factor,
            None if self.backend is None else self.backend * factor,
            None if self.machine is None else self.machine * factor,
        )


def _minus(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else later - earlier


def cpu_now() -> CpuSeconds:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSeconds(usage.ru_utime + usage.ru_stime, _backend_cpu(), machine_cpu())


_TICK = os.sysconf("SC_CLK_TCK")


def _backend_cpu() -> float | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    found = process_cpu(pid)
    # A server elsewhere has no such process here, or another program under its pid.
    if found is None or not found[0].startswith(b"postgres"):
        return None
    return found[1]


def process_cpu(pid: int) -> tuple[bytes, float] | None:
    """A process's command line (its first 64 bytes) and its CPU seconds so far, read from
    /proc (Linux); None when there is no such process to read."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()[:64]
        # The command name is in parentheses and may hold spaces: split after it.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return command, (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def machine_cpu() -> float | None:
    """Seconds of CPU that every process on this machine has used since boot (Linux)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, first[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK


@dataclass
class BenchResult:
    transfers: int
    accounts: int
    batch_size: int
    queue_seconds: float
    settle_seconds: float
    settled: int
    rejected: int
    post_seconds: float = 0.0  # two-phase: settling the posts of every reservation
    posted: int = 0
    settle_cpu: "CpuSeconds | None" = None  # CPU spent settling (two-phase: reserving)

    @property
    def cpu_microseconds_per_transfer(self) -> "CpuSeconds | None":
        if self.settle_cpu is None or not self.transfers:
            return None
        return self.settle_cpu.scaled(1e6 / self.transfers)

    @property
    def transfers_per_second(self) -> float:
        return self.transfers / self.settle_seconds if self.settle_seconds else 0.0

    @property
    def two_phase_payments_per_second(self) -> float:
        """Payments reserved and then posted, per second of settling both phases."""
        seconds = self.settle_seconds + self.post_seconds
        return self.posted / seconds if seconds else 0.0


def bench_settlement(
    *, transfers: int, accounts: int, batch_size: int, seed: int, two_phase: bool = False
) -> BenchResult:
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
    timeout_at = timezone.now() + timedelta(hours=1) if two_phase else None
    queue_received(f"bench:{run}:pay", TransferKind.P2P, payments, timeout_at=timeout_at)
    queue_seconds = time.perf_counter() - started

    started, cpu_before = time.perf_counter(), cpu_now()
    result = transfers_settle(batch_size=batch_size)
    settle_seconds, settle_cpu = time.perf_counter() - started, cpu_now() - cpu_before
    post_seconds, posted = 0.0, 0
    if two_phase:
        reserved = list(
            Transfer.objects.filter(
                idempotency_key__startswith=f"bench:{run}:pay:", state=TransferState.PENDING
            )
            .order_by("id")
            .values_list("id", flat=True)
        )
        legs = dict(
            TransferLeg.objects.filter(transfer_id__in=reserved).values_list(
                "transfer_id", "amount"
            )
        )
        by_id = {w.pk: w for w in wallets}
        queue_received(
            f"bench:{run}:post",
            TransferKind.POST,
            [
                [(Asset.ECNY, by_id[debit], by_id[credit], legs[pending])]
                for pending, debit, credit in TransferLeg.objects.filter(transfer_id__in=reserved)
                .order_by("transfer_id")
                .values_list("transfer_id", "debit_id", "credit_id")
            ],
            pendings=reserved,
        )
        started = time.perf_counter()
        posts = transfers_settle(batch_size=batch_size)
        post_seconds, posted = time.perf_counter() - started, posts.settled
    return BenchResult(
        transfers=result.claimed,
        accounts=accounts,
        batch_size=batch_size,
        queue_seconds=queue_seconds,
        settle_seconds=settle_seconds,
        settled=result.settled,
        rejected=sum(result.rejected.values()),
        post_seconds=post_seconds,
        posted=posted,
        settle_cpu=settle_cpu,
    )


@transaction.atomic
def queue_received(
    prefix: str,
    kind: TransferKind,
    transfers: list[list[tuple[Asset, Account, Account, int]]],
    *,
    timeout_at=None,
    pendings: list[int] | None = None,
) -> None:
    """Insert RECEIVED transfers (each a list of legs) in bulk without ringing the doorbell,
    so nothing settles them before the timer starts: two-phase ones with `timeout_at`, or
    the phases of `pendings`, one each."""
    queued = Transfer.objects.bulk_create(
        (
            Transfer(
                kind=kind,
                idempotency_key=f"{prefix}:{i}",
                timeout_at=timeout_at,
                pending_id=pendings[i] if pendings else None,
            )
            for i in range(len(transfers))
        ),
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
