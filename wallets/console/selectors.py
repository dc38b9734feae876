"""Reads for the console's dashboard and audit status (the scoped row reads are in
`wallets.selectors`)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone

from settlement.models import (
    PAYMENT_KINDS,
    Checkpoint,
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
    now = now or timezone.now()
    hour_ago = now - timedelta(hours=1)
    payments = Transfer.objects.filter(kind__in=PAYMENT_KINDS, decided_at__gte=hour_ago)
    by_minute = dict(
        payments.annotate(minute=TruncMinute("decided_at"))
        .values("minute")
        .annotate(n=Count("pk"))
        .values_list("minute", "n")
    )
    start = hour_ago.replace(second=0, microsecond=0) + timedelta(minutes=1)
    per_minute = []
    for step in range(60):
        minute = start + timedelta(minutes=step)
        label = timezone.localtime(minute).strftime("%H:%M")
        per_minute.append((label, by_minute.get(minute, 0)))
    last_minute = payments.filter(decided_at__gte=now - timedelta(minutes=1)).count()
    waiting = Transfer.objects.filter(state=TransferState.RECEIVED)
    oldest = waiting.order_by("pk").values_list("created_at", flat=True).first()
    return Throughput(
        per_minute=per_minute,
        per_second=last_minute / 60,
        backlog=waiting.count(),
        oldest_waiting_seconds=None if oldest is None else (now - oldest).total_seconds(),
    )


def rejections_by_code() -> list[tuple[str, int]]:
    return list(
        Transfer.objects.filter(state=TransferState.REJECTED)
        .values("reject_code")
        .annotate(n=Count("pk"))
        .order_by("-n", "reject_code")
        .values_list("reject_code", "n")
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
