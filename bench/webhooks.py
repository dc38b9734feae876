"""Webhook figures on PostgreSQL: what recording events costs settlement (the outbox), and
deliveries per second to a local server, drained in this process or by real workers.

    .venv/bin/python bench/webhooks.py [--payments 5000] [--merchants 20] [--workers 0|N]

Recreates the database $BENCH_DB (default ewallet_hookbench) and uses Redis db 13. Every
merchant has one webhook to bench/hook_receiver.py, which answers 200 at once; so the
figures are this side's cost (claim, sign, POST, log), not a merchant's server's.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB = os.environ.get("BENCH_DB", "ewallet_hookbench")
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ewallet.settings")
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=5000)
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0, help="0: drain in this process")
    parser.add_argument("--port", type=int, default=8799)
    options = parser.parse_args()

    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("audit", "keygen", "--if-missing", verbosity=0)

    from ewallet import celery_app
    from settlement.services import transfers_settle
    from wallets import services
    from wallets.loadrun.setup import (
        catalogue_operators,
        institutions_ensure,
        population_build,
        population_with_live_caps,
    )
    from wallets.loadrun.workers import WorkerProcesses
    from wallets.models import DeliveryState, WebhookDelivery
    from wallets.tasks import webhooks_deliver_due

    receiver = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/hook_receiver.py"), str(options.port)]
    )
    try:
        celery_app.control.purge()
        institutions = institutions_ensure(
            prefix="hookbench", operators=catalogue_operators(reserve_yuan_per_share=10_000_000)
        )
        population = population_with_live_caps(seed=5, people=400, merchants=options.merchants)
        wallets = population_build(population, institutions=institutions, run="hookbench")
        url = f"http://127.0.0.1:{options.port}/hook"
        codes = [
            services.request_payload(services.collection_code_create(actor=record.staff))
            for record in wallets.merchant_records
        ]

        def pay_and_settle(offset: int) -> tuple[float, int]:
            for n in range(offset, offset + options.payments):
                payer = wallets.people[n % len(wallets.people)]
                services.payment_request_pay(
                    actor=wallets.staff[payer.operator_id],
                    payload=codes[n % len(codes)],
                    wallet=payer.number,
                    amount=100 + n % 50,
                    idempotency_key=f"hookbench:{n}",
                )
            started = time.perf_counter()
            result = transfers_settle()
            return time.perf_counter() - started, result.settled

        # The same payments settled without webhooks, then with one per merchant.
        bare, settled_bare = pay_and_settle(0)
        for record in wallets.merchant_records:
            services.webhook_register(actor=record.staff, merchant=record.merchant, url=url)
        hooked, settled_hooked = pay_and_settle(options.payments)
        celery_app.control.purge()  # the rings: this bench drains on its own terms
        pending = WebhookDelivery.objects.filter(state=DeliveryState.PENDING).count()
        print(
            f"settling {options.payments} QR payments to {options.merchants} merchants: "
            f"{settled_bare / bare:,.0f}/s without webhooks ({settled_bare} settled), "
            f"{settled_hooked / hooked:,.0f}/s with every merchant hooked ({settled_hooked} "
            f"settled, {pending} deliveries recorded): the outbox costs "
            f"{(hooked - bare) / options.payments * 1e6:.0f} µs a payment"
        )

        started = time.perf_counter()
        if options.workers == 0:
            drained = services.deliveries_drain(budget_seconds=3600)
            attempted = drained.attempted
        else:
            workers = WorkerProcesses(
                options.workers, batch_size=None, log_dir=ROOT / "var/hookbench"
            )
            workers.start()
            started = time.perf_counter()
            for _ in range(options.workers):
                webhooks_deliver_due.delay()
            while WebhookDelivery.objects.filter(state=DeliveryState.PENDING).exists():
                time.sleep(0.05)
            attempted = pending
            workers.stop()
        elapsed = time.perf_counter() - started
        delivered = WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).count()
        where = "this process" if options.workers == 0 else f"{options.workers} worker processes"
        print(
            f"deliveries: {delivered} delivered of {attempted} attempted in {elapsed:.2f} s by "
            f"{where}: {delivered / elapsed:,.0f} deliveries/s"
        )
    finally:
        receiver.terminate()


if __name__ == "__main__":
    main()
