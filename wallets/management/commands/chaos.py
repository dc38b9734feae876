"""python manage.py chaos --transfers N --seed S

Payments through the REST API (gunicorn) from 16 clients on 1,000 wallets, settled by
celery workers, while a worker is SIGKILLed every few seconds, Redis and PostgreSQL are
restarted and requests are cut off; then one line per check (lost, doubled, snapshots,
negative, leaves, audit verify, backlog). Exits 1 if any check fails. See README,
"Chaos run".

It never touches the machine's PostgreSQL or Redis: it makes its own in a temporary
folder and runs itself again (the "inside" run) with DATABASE_URL and CELERY_BROKER_URL
pointed at them, then throws them away.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from wallets.chaos.private import PrivateServices
from wallets.chaos.run import ChaosOptions, chaos_run

HOME_VARIABLE = "EWALLET_CHAOS_HOME"
MANAGE = Path(__file__).resolve().parents[3] / "manage.py"


class Command(BaseCommand):
    help = "Pay through the API while workers, Redis and PostgreSQL fail; check the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--transfers", type=int, default=2_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--rate", type=float, default=100.0, help="payments offered per s")
        parser.add_argument("--wallets", type=int, default=1_000)
        parser.add_argument("--clients", type=int, default=16, help="HTTP clients (threads)")
        parser.add_argument("--workers", type=int, default=2, help="celery workers")

    def handle(self, *args, **options):
        if options["transfers"] < 1 or options["rate"] <= 0 or options["wallets"] < 2:
            raise CommandError("--transfers and --rate must be positive, --wallets at least 2")
        chaos = ChaosOptions(
            transfers=options["transfers"],
            seed=options["seed"],
            rate=options["rate"],
            wallets=options["wallets"],
            clients=options["clients"],
            workers=options["workers"],
        )
        if os.environ.get(HOME_VARIABLE):
            self._inside(chaos, Path(os.environ[HOME_VARIABLE]))
        else:
            self._launch(chaos)

    def _launch(self, chaos: ChaosOptions) -> None:
        """Plan the private services, run the inside run against them, throw them away."""
        home = Path(tempfile.mkdtemp(prefix="ewallet-chaos-"))
        services = PrivateServices.plan(home)
        env = {
            **os.environ,
            HOME_VARIABLE: str(home),
            "DATABASE_URL": services.database_url,
            "CELERY_BROKER_URL": services.redis_url,
            "EWALLET_REDIS_URL": services.redis_url,
            "EWALLET_AUDIT_KEY_FILE": str(home / "audit-signing-key.pem"),
            "EWALLET_VAR_DIR": str(home / "var"),
        }
        command = [
            sys.executable,
            str(MANAGE),
            "chaos",
            "--transfers",
            str(chaos.transfers),
            "--seed",
            str(chaos.seed),
            "--rate",
            str(chaos.rate),
            "--wallets",
            str(chaos.wallets),
            "--clients",
            str(chaos.clients),
            "--workers",
            str(chaos.workers),
        ]
        try:
            inside = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for line in inside.stdout:
                self.stdout.write(line.rstrip("\n"))
                self.stdout.flush()
            returncode = inside.wait()
        finally:
            PrivateServices.load(home).destroy()
        if returncode != 0:
            raise CommandError(f"chaos: a check failed (exit {returncode})", returncode=1)

    def _inside(self, chaos: ChaosOptions, home: Path) -> None:
        services = PrivateServices.load(home)
        try:
            services.start()
            call_command("migrate", verbosity=0, interactive=False)
            ok = chaos_run(chaos, services, say=self._say)
        finally:
            services = PrivateServices.load(home)  # the Redis now running may be a new one
            services.redis_kill()
            services.postgres_stop(mode="fast")
        if not ok:
            sys.exit(1)

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
