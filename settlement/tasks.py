"""Celery tasks: thin, take no arguments, safe to run twice or concurrently."""

from celery import shared_task

from settlement import doorbell, services


@shared_task(name="settlement.settle_pending", acks_late=True, reject_on_worker_lost=True)
def settle_pending() -> dict:
    doorbell.answer()
    result = services.transfers_settle()
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
