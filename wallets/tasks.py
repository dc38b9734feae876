"""Celery tasks of the product: thin, take ids, safe to run twice."""

from celery import shared_task

from wallets import services
from wallets.actors import Actor


@shared_task(name="wallets.audit_verification_run", acks_late=True, reject_on_worker_lost=True)
def audit_verification_run(verification_id: int) -> dict:
    verification = services.audit_verification_run(
        actor=Actor.system(), verification_id=verification_id
    )
    return {"ok": verification and verification.ok}


@shared_task(name="wallets.webhooks_deliver_due", acks_late=True, reject_on_worker_lost=True)
def webhooks_deliver_due() -> dict:
    """Rung after a batch records events, by a redelivery, and by beat's sweep (retries
    that fell due, rings that were lost)."""
    result = services.deliveries_drain()
    return {"attempted": result.attempted, "delivered": result.delivered, "failed": result.failed}


@shared_task(name="wallets.escrows_release_due", acks_late=True, reject_on_worker_lost=True)
def escrows_release_due() -> dict:
    """Beat's sweep: queue the release of every RELEASE_AT escrow whose time has come (racing
    sweeps queue each release once)."""
    return {"released": services.escrows_release_due(actor=Actor.system())}


@shared_task(name="wallets.vouchers_expire", acks_late=True, reject_on_worker_lost=True)
def vouchers_expire() -> dict:
    """Beat's sweep: programmes past their window give back what was not spent."""
    return {"swept": services.voucher_programmes_expire(actor=Actor.system())}


@shared_task(name="wallets.sub_wallets_expire", acks_late=True, reject_on_worker_lost=True)
def sub_wallets_expire() -> dict:
    """Beat's sweep: what expired sub-wallets hold goes back to their parents (once, however
    many sweeps race)."""
    return {"returns": services.sub_wallets_expire(actor=Actor.system())}


@shared_task(name="wallets.idempotency_records_prune", acks_late=True, reject_on_worker_lost=True)
def idempotency_records_prune() -> dict:
    """Beat's hourly sweep: Idempotency-Key records past their retention are forgotten."""
    return {"pruned": services.idempotency_records_prune(actor=Actor.system())}
