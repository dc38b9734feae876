"""Celery tasks: thin, take no arguments, safe to run twice or concurrently."""

import time

from celery import shared_task
from django.conf import settings

from settlement import doorbell, services


class _SealWhenDue:
    """Seal a checkpoint between batches once the interval has passed. Beat's seal task
    waits in the queue behind a long drain when every worker process is draining, and
    expires there; the drain itself keeps checkpoints coming."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.last >= settings.EWALLET_CHECKPOINT_SECONDS:
            seal_checkpoint()
            self.last = time.monotonic()


@shared_task(name="settlement.settle_pending", acks_late=True, reject_on_worker_lost=True)
def settle_pending() -> dict:
    doorbell.answer()
    services.pendings_expire()  # timed-out pending transfers join this drain
    result = services.transfers_settle(between_batches=_SealWhenDue())
    return {"claimed": result.claimed, "settled": result.settled, "rejected": result.rejected}


@shared_task(name="settlement.seal_checkpoint", acks_late=True, reject_on_worker_lost=True)
def seal_checkpoint() -> dict:
    from settlement.audit.checkpoint import checkpoint_seal
    from settlement.exceptions import AuditKeyMissing

    try:
        sealed = checkpoint_seal()
    except AuditKeyMissing as missing:
        return {"sealed": None, "error": str(missing)}
    return {"sealed": sealed and {"height": sealed.height, "size": sealed.size}}
