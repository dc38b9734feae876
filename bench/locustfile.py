"""Locust: payments through the REST API against a running server, for Locust users.

Set up a population first (an operator, loaded payer wallets, merchants and a staff
token; see `apibench setup`), then run Locust against the server:

    python manage.py apibench setup --out var/apibench
    pip install -e '.[locust]'
    BENCH_DIR=var/apibench locust -f bench/locustfile.py --host http://127.0.0.1:8000 \
        --users 100 --spawn-rate 50 --run-time 60s --headless

Each user offers one payment per second (`constant_throughput`), so 1,000 users offer
about 1,000 payments/s when the machine can generate them. BENCH_WAIT_MS asks each
payment to wait for settlement (`?wait=`), so Locust's response times become
submit-to-settled latency. `apibench report --after $(cat var/apibench/after.txt)` then
says what became of every payment; `manage.py loadrun --via URL` does all of this itself.
"""

import os
import random
import uuid
from pathlib import Path

from locust import FastHttpUser, constant_throughput, task

DIR = Path(os.environ.get("BENCH_DIR", "var/apibench"))
PAYERS = DIR.joinpath("payers.txt").read_text().split()
PAYEES = DIR.joinpath("payees.txt").read_text().split()
TOKEN = DIR.joinpath("token.txt").read_text().strip()
WAIT_MS = os.environ.get("BENCH_WAIT_MS")


class Payer(FastHttpUser):
    wait_time = constant_throughput(1)

    @task
    def pay(self) -> None:
        body = {
            "payer": random.choice(PAYERS),
            "payee": random.choice(PAYEES),
            "amount": f"{random.randint(0, 20)}.{random.randint(1, 99):02d}",
            "memo": "locust",
        }
        path = "/api/v1/transfers" + (f"?wait={WAIT_MS}" if WAIT_MS else "")
        with self.client.post(
            path,
            json=body,
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Idempotency-Key": f"locust-{uuid.uuid4()}",
            },
            name="POST /transfers",
            catch_response=True,
        ) as response:
            if response.status_code not in (201, 202):
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif response.json().get("state") == "REJECTED":
                response.failure(f"rejected: {response.json().get('reject_code')}")
