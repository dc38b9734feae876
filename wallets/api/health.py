"""GET /api/v1/health: can we store, queue and settle? Each part timed, none fatal."""

import time

from django.core.cache import cache
from django.db import connection
from kombu import Connection

from settlement.models import Transfer, TransferState

# Pinging workers costs a broadcast round trip, so its answer is shared for a few seconds.
WORKERS_CACHE_SECONDS = 5
PING_TIMEOUT_SECONDS = 0.5


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        report = {"ok": True, **(check() or {})}
    except Exception as error:  # a health check reports failures, it does not raise them
        report = {"ok": False, "error": f"{type(error).__name__}: {error}"[:200]}
    report["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return report


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"vendor": connection.vendor}


def _broker() -> dict:
    from ewallet.celery import app

    if app.conf.task_always_eager:
        return {"mode": "in-process"}
    # A new connection, not one from the pool: the question is whether the broker answers now.
    with Connection(app.conf.broker_url, connect_timeout=1) as conn:
        conn.ensure_connection(max_retries=1, timeout=1)
        return {"mode": conn.transport.driver_type}


def _workers() -> dict:
    from ewallet.celery import app

    if app.conf.task_always_eager:
        return {"mode": "in-process", "count": 0}
    names = cache.get("health:workers")
    if names is None:
        replies = app.control.ping(timeout=PING_TIMEOUT_SECONDS) or []
        names = sorted(name for reply in replies for name in reply)
        cache.set("health:workers", names, WORKERS_CACHE_SECONDS)
    if not names:
        raise RuntimeError("no settlement worker answered")
    return {"mode": "celery", "count": len(names), "names": names}


def health_report() -> dict:
    database = _timed(_database)
    broker = _timed(_broker)
    workers = _timed(_workers) if broker["ok"] else {"ok": False, "error": "no broker"}
    backlog = (
        Transfer.objects.filter(state=TransferState.RECEIVED).count() if database["ok"] else -1
    )
    healthy = database["ok"] and broker["ok"] and workers["ok"]
    return {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "broker": broker,
        "workers": workers,
        "backlog": backlog,
    }
