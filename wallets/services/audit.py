""" "Verify now": a queued run of `audit verify` and its result."""

from django.db import transaction
from django.utils import timezone

from ewallet.errors import ErrorCode
from wallets.actors import Actor
from wallets.authority import (
    require_system,
)
from wallets.exceptions import WalletError
from wallets.models import (
    AuditVerification,
)
from wallets.roles import CENTRAL_BANK_ROLES


@transaction.atomic
def audit_verification_request(*, actor: Actor) -> AuditVerification:
    """Queue a run of `audit verify` (a Celery job); any central-bank role may ask."""
    if not actor.roles & CENTRAL_BANK_ROLES:
        raise WalletError(ErrorCode.PERMISSION_DENIED, "audit verify is for central-bank staff")
    verification = AuditVerification.objects.create(requested_by=actor.user)
    # Late import: the task module imports this one (the task is a thin interface to it).
    from wallets.tasks import audit_verification_run as task

    transaction.on_commit(lambda: task.delay(verification.pk))
    return verification


def audit_verification_run(*, actor: Actor, verification_id: int) -> AuditVerification:
    """Run `audit verify` for a queued request and record what it found, as the system (the
    request was authorised when it was made); a second run of the same request finds it
    finished and does nothing."""
    require_system(actor, "running a queued audit verification")
    from settlement.audit.verify import audit_verify

    with transaction.atomic():
        verification = (
            AuditVerification.objects.select_for_update().filter(pk=verification_id).first()
        )
        if verification is None or verification.finished_at is not None:
            return verification
        verification.started_at = timezone.now()
        verification.save(update_fields=["started_at"])
    report = audit_verify()
    if report.ok:
        totals = report.totals
        summary = (
            f"OK: {report.leaves} leaves, {report.checkpoints} checkpoints, "
            f"{report.transfers} transfers; circulation {totals.circulation} fen == "
            f"-issuance == backing"
        )
    else:
        summary = f"FAILED at {report.mismatch}"
    AuditVerification.objects.filter(pk=verification_id, finished_at__isnull=True).update(
        finished_at=timezone.now(),
        ok=report.ok,
        summary=summary,
        leaves=report.leaves,
        checkpoints=report.checkpoints,
        seconds=report.seconds,
    )
    return AuditVerification.objects.get(pk=verification_id)
