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


class DrainCadence:
    """Under load, at most one drain starts per interval in a worker process. A ring comes
    every few payments then, and a drain taken at once settles a batch of a handful, whose
    fixed statements (claim, accounts, postings, the audit head, COMMIT) cost more than its
    payments. So when the last drain found more than one transfer waiting, the next one,
    if it comes sooner than the interval, waits out the rest before it answers the
    doorbell: the flag stays up meanwhile, payments queue without sending tasks, and the
    batch takes them all. A drain after a quiet spell, or after one that found a single
    transfer (one client paying and waiting, say), starts at once.
    """

    def __init__(self, seconds: float, clock=time.monotonic, sleep=time.sleep) -> None:
        self.seconds = seconds
        self.clock = clock
        self.sleep = sleep
        self.last: float | None = None
        self.busy = False

    def wait(self) -> None:
        if self.busy and self.last is not None:
            due = self.last + self.seconds - self.clock()
            if due > 0:
                self.sleep(due)
        self.last = self.clock()

    def drained(self, claimed: int) -> None:
        self.busy = claimed > 1


# Not in-process (eager) settlement: there the drain runs in the caller's own thread.
_CADENCE = DrainCadence(
    0 if settings.CELERY_TASK_ALWAYS_EAGER else settings.EWALLET_SETTLEMENT_CADENCE_MS / 1000
)


@shared_task(name="settlement.settle_pending", acks_late=True, reject_on_worker_lost=True)
def settle_pending() -> dict:
    _CADENCE.wait()
    doorbell.answer()
    services.pendings_expire()  # timed-out pending transfers join this drain
    result = services.transfers_settle(between_batches=_SealWhenDue())
    _CADENCE.drained(result.claimed)
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
