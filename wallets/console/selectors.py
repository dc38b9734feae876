"""Reads for the console's dashboard and audit status (the scoped row reads are in
`wallets.selectors`)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from settlement.models import (
    Checkpoint,
    PaymentsPerMinute,
    RejectionTally,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from wallets.models import AuditVerification


def circulation_over_time(*, points: int = 60) -> list[tuple[str, int]]:
    """e-CNY in circulation after each of the last `points` issuances or redemptions, in fen.

    Circulation moves only by issuance (up) and redemption (down), so it is the running
    sum of settled ECNY issuance legs minus redemption legs, in settlement order.
    """
    legs = (
        TransferLeg.objects.filter(
            asset="ECNY",
            transfer__state=TransferState.SETTLED,
            transfer__kind__in=[TransferKind.ISSUE, TransferKind.REDEEM],
        )
        .order_by("transfer__decided_at", "transfer_id")
        .values_list("transfer__decided_at", "transfer__kind", "amount")
    )
    series, total = [], 0
    for decided_at, kind, amount in legs.iterator():
        total += amount if kind == TransferKind.ISSUE else -amount
        series.append((timezone.localtime(decided_at).strftime("%m-%d %H:%M:%S"), total))
    return series[-points:]


@dataclass(frozen=True)
class Throughput:
    per_minute: list[tuple[str, int]]  # payments decided per minute, last hour
    per_second: float  # over the last minute
    backlog: int  # transfers received and not yet decided
    oldest_waiting_seconds: float | None


def payment_throughput(*, now: datetime | None = None) -> Throughput:
    """From the tallies settlement keeps (PaymentsPerMinute), not by counting the ledger;
    the backlog from the settlement queue's own index."""
    now = now or timezone.now()
    this_minute = now.replace(second=0, microsecond=0)
    start = this_minute - timedelta(minutes=59)
    by_minute = dict(
        PaymentsPerMinute.objects.filter(minute__gte=start - timedelta(minutes=1)).values_list(
            "minute", "decided"
        )
    )
    per_minute = []
    for step in range(60):
        minute = start + timedelta(minutes=step)
        label = timezone.localtime(minute).strftime("%H:%M")
        per_minute.append((label, by_minute.get(minute, 0)))
    # The last full minute: the one under way is still being counted.
    last_minute = by_minute.get(this_minute - timedelta(minutes=1), 0)
    waiting = Transfer.objects.filter(state=TransferState.RECEIVED)
    oldest = waiting.order_by("pk").values_list("created_at", flat=True).first()
    return Throughput(
        per_minute=per_minute,
        per_second=last_minute / 60,
        backlog=waiting.count(),
        oldest_waiting_seconds=None if oldest is None else (now - oldest).total_seconds(),
    )


def rejections_by_code() -> list[tuple[str, int]]:
    """From the tallies settlement keeps (RejectionTally), not by counting the ledger."""
    return list(
        RejectionTally.objects.filter(rejected__gt=0)
        .order_by("-rejected", "reject_code")
        .values_list("reject_code", "rejected")
    )


@dataclass(frozen=True)
class CheckpointStatus:
    checkpoint: Checkpoint | None
    signature_ok: bool | None  # None: nothing sealed yet
    signature_detail: str
    leaves_since: int  # leaves not yet covered by a checkpoint


def latest_checkpoint_status() -> CheckpointStatus:
    """The newest checkpoint and whether its signature verifies with the bank's keys."""
    from settlement.audit import keys
    from settlement.audit.note import NoteError, open_note
    from settlement.models import AuditHead

    head_size = AuditHead.objects.values_list("size", flat=True).first() or 0
    latest = Checkpoint.objects.order_by("-height").first()
    if latest is None:
        return CheckpointStatus(None, None, "no checkpoint sealed yet", head_size)
    verifier = keys.verifiers().get(latest.key_hash, (None, None))[0]
    if verifier is None:
        return CheckpointStatus(
            latest, False, f"signed by unknown key {latest.key_hash}", head_size - latest.size
        )
    try:
        opened = open_note(latest.note, [verifier])
    except NoteError as error:
        return CheckpointStatus(latest, False, str(error), head_size - latest.size)
    detail = f"verified with {', '.join(opened.verified_by)} (key {latest.key_hash})"
    return CheckpointStatus(latest, True, detail, head_size - latest.size)


def latest_verification() -> AuditVerification | None:
    return AuditVerification.objects.select_related("requested_by").first()
