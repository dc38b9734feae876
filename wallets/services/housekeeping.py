"""Housekeeping that load makes necessary: records that only matter for a while."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from wallets.actors import Actor
from wallets.authority import require_system
from wallets.models import IdempotencyRecord

# Rows deleted per statement: short transactions, so a large backlog never holds locks long.
PRUNE_CHUNK = 5_000


def idempotency_records_prune(*, actor: Actor, now: datetime | None = None) -> int:
    """Forget API Idempotency-Key records older than EWALLET_IDEMPOTENCY_RETENTION_HOURS;
    returns how many. A request retried later with the same key is answered afresh, but a
    payment still happens once: the ledger's own key (`api:{user}:{key}`) is kept forever
    and replays the transfer it queued."""
    require_system(actor, "prune idempotency records")
    cutoff = (now or timezone.now()) - timedelta(hours=settings.EWALLET_IDEMPOTENCY_RETENTION_HOURS)
    table = IdempotencyRecord._meta.db_table
    stamp = connection.ops.adapt_datetimefield_value(cutoff)
    pruned = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN "
                f"(SELECT id FROM {table} WHERE created_at < %s ORDER BY created_at LIMIT %s)",
                [stamp, PRUNE_CHUNK],
            )
            deleted = cursor.rowcount
        pruned += deleted
        if deleted < PRUNE_CHUNK:
            return pruned
