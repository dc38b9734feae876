"""python manage.py loadrun --scenario steady --transfers N --seed S --out DIR
python manage.py loadrun --compare RUN_A RUN_B

Builds a seeded population, offers a scenario's transfers (in-process or over HTTP),
lets settlement run (in-process, or N celery workers), checks the ledger, and writes
DIR/<run>/report.json and report.html with charts. See README, "Load runs".
"""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from wallets.api.batch import MAX_ITEMS
from wallets.loadrun.pgbench import PgbenchUnavailable, database_beside, pgbench_run
from wallets.loadrun.report import compare, load_report
from wallets.loadrun.runner import RunOptions, command_line, loadrun
from wallets.loadrun.scenarios import SCENARIOS, transfers_for


class Command(BaseCommand):
    help = "Run a simulated payment load and write a report (or --compare two reports)."

    def add_arguments(self, parser):
        parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="steady")
        parser.add_argument("--transfers", type=int, help="transfers to offer (default 10,000)")
        parser.add_argument("--duration", type=float, help="seconds: with --rate, sets --transfers")
        parser.add_argument(
            "--rate", type=float, help="base offered transfers/s (default: flat out)"
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--people", type=int, help="default: transfers/50, 200 to 20,000")
        parser.add_argument("--merchants", type=int, help="default: people/10")
        parser.add_argument("--via", default="inprocess", help="'inprocess' or an http(s) URL")
        parser.add_argument("--clients", type=int, default=32, help="HTTP clients (threads)")
        parser.add_argument("--wait-ms", type=int, default=0, help="HTTP: ?wait= on each payment")
        parser.add_argument(
            "--http-batch",
            type=int,
            default=1,
            metavar="N",
            help="HTTP: payments per request; above 1, each client gathers them per operator "
            f"for POST /transfers/batch like an acquiring gateway (1 to {MAX_ITEMS})",
        )
        parser.add_argument(
            "--linger-ms",
            type=float,
            default=10.0,
            metavar="M",
            help="with --http-batch: a batch goes when full or when its oldest payment has "
            "waited M ms",
        )
        parser.add_argument(
            "--settlement",
            choices=["auto", "inline", "workers", "external"],
            default="auto",
            help="auto: workers with a broker and inprocess, external over HTTP, else inline",
        )
        parser.add_argument("--workers", type=int, default=2, help="celery workers to start")
        parser.add_argument("--batch-size", type=int, help="transfers per settlement batch")
        parser.add_argument("--chunk", type=int, default=500, help="in-process submit chunk")
        parser.add_argument(
            "--prequeue",
            action="store_true",
            help="queue everything first, then settle: times settlement alone",
        )
        parser.add_argument("--no-verify", action="store_true", help="skip `audit verify`")
        parser.add_argument("--flush", action="store_true", help="empty the database first")
        parser.add_argument("--out", default="var/loadruns")
        parser.add_argument("--name", help="the run's folder name (default: a timestamp)")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--watch",
            type=int,
            nargs="+",
            default=[],
            metavar="PID",
            help="also follow these processes' memory (and their children's), e.g. gunicorn",
        )
        parser.add_argument(
            "--pgbench",
            type=int,
            default=0,
            metavar="SECONDS",
            help="PostgreSQL: first run pgbench (scale 10, 4 clients) this long, for a ratio "
            "measured in the same sitting",
        )
        parser.add_argument("--compare", nargs=2, metavar=("A", "B"))

    def handle(self, *args, **o):
        if o["compare"]:
            try:
                a, b = (load_report(path) for path in o["compare"])
            except (OSError, ValueError) as error:
                raise CommandError(f"cannot read a report: {error}") from error
            self.stdout.write(compare(a, b))
            return
        scenario = SCENARIOS[o["scenario"]]
        transfers = o["transfers"]
        if transfers is None and o["duration"] and o["rate"]:
            transfers = transfers_for(scenario, rate=o["rate"], seconds=o["duration"])
        transfers = transfers or 10_000
        if not 1 <= o["http_batch"] <= MAX_ITEMS:
            raise CommandError(f"--http-batch takes 1 to {MAX_ITEMS} payments")
        if o["http_batch"] > 1 and o["via"] == "inprocess":
            raise CommandError("--http-batch needs --via URL (in-process runs submit in --chunk)")
        if o["http_batch"] > 1 and o["wait_ms"]:
            raise CommandError("--wait-ms is for single payments: /transfers/batch never waits")
        if o["linger_ms"] < 0:
            raise CommandError("--linger-ms cannot be negative")
        settlement = o["settlement"]
        if settlement == "auto":
            if o["via"] != "inprocess":
                settlement = "external"
            elif settings.CELERY_TASK_ALWAYS_EAGER:
                settlement = "inline"
            else:
                settlement = "workers"
        if o["flush"]:
            call_command("flush", interactive=False, verbosity=0)
        baseline = self.pgbench(o["pgbench"]) if o["pgbench"] else None
        options = RunOptions(
            scenario=scenario,
            transfers=transfers,
            seed=o["seed"],
            rate=o["rate"],
            people=o["people"],
            merchants=o["merchants"],
            via=o["via"],
            clients=o["clients"],
            http_batch=o["http_batch"],
            linger_ms=o["linger_ms"],
            settlement=settlement,
            workers=o["workers"],
            batch_size=o["batch_size"],
            chunk=o["chunk"],
            prequeue=o["prequeue"],
            wait_ms=o["wait_ms"],
            verify=not o["no_verify"],
            out=Path(o["out"]),
            name=o["name"],
            command=command_line(sys.argv[1:] if sys.argv[1:2] == ["loadrun"] else ["loadrun"]),
            progress=not o["no_progress"] and sys.stdout.isatty(),
            watch=tuple(o["watch"]),
            pgbench=baseline,
        )
        say = self.stdout.write
        say(
            f"load run: {scenario.name}, {transfers:,} transfers, "
            f"{'rate ' + format(o['rate'], ',.0f') + '/s' if o['rate'] else 'flat out'}, "
            f"via {options.via}"
            + (
                f" in batches of up to {options.http_batch} (linger {options.linger_ms:g} ms)"
                if options.http_batch > 1
                else ""
            )
            + f", settlement {settlement}"
            + (f" ({options.workers} workers)" if settlement == "workers" else "")
        )
        try:
            report, folder = loadrun(options, say=lambda line: say(f"  {line}"))
        except (RuntimeError, TimeoutError) as error:
            raise CommandError(str(error)) from error
        latency = report["latency_ms"]
        from_offer = latency["offered_to_settled"]
        settled_over = "over the settling time" if options.prequeue else "first to last decision"
        say(
            f"  {report['transfers']['accepted']:,} accepted, {report['transfers']['settled']:,} "
            f"settled, {report['transfers']['rejected']:,} rejected; achieved "
            f"{report['achieved_tps'] or 0:,.0f} transfers/s; settlement "
            f"{report['settlement_tps'] or 0:,.0f}/s ({settled_over}); "
            + percentiles("submit->settled", latency["submit_to_settled"])
            + (f"; {percentiles('offered->settled', from_offer)}" if from_offer else "")
        )
        if cpu := report["cpu"]:
            say(
                f"  CPU (the whole machine, from the first offer to the last decision): "
                f"{cpu['per_transfer_us']:,.1f} µs per transfer, {cpu['busy_cores']} of "
                f"{cpu['cores']} cores busy"
            )
            if parts := cpu.get("per_transfer_us_by_part"):
                say(
                    "  CPU per transfer by process: "
                    + ", ".join(f"{part} {us:,.1f} µs" for part, us in parts.items() if us)
                )
        if report["settlement_to_pgbench"]:
            say(
                f"  pgbench {report['pgbench']['tps']:,.0f} tps in the same sitting: settlement "
                f"is {report['settlement_to_pgbench']}x pgbench"
            )
        for name, check in report["checks"].items():
            say(f"  check {name}: {'ok' if check['ok'] else 'FAILED ' + str(check)}")
        say(f"report: {folder / 'report.html'}")
        if not all(check["ok"] for check in report["checks"].values()):
            raise CommandError("a check failed; see the report")

    def pgbench(self, seconds: int) -> dict:
        if connection.vendor != "postgresql":
            raise CommandError("--pgbench needs DATABASE_URL on PostgreSQL")
        where = connection.settings_dict
        database = database_beside(where["NAME"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{database}"')
        self.stdout.write(f"pgbench for {seconds} s on {database}, for the ratio")
        try:
            result = pgbench_run(
                host=where["HOST"] or "localhost",
                port=where["PORT"] or 5432,
                user=where["USER"] or "postgres",
                password=where["PASSWORD"] or None,
                database=database,
                seconds=seconds,
            )
        except PgbenchUnavailable as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"  {result.tps:,.0f} transactions/s ({result.command})")
        return result.as_dict()


def percentiles(name: str, summary: dict) -> str:
    return (
        f"{name} ms p50 {summary['p50']}, p95 {summary['p95']}, p99 {summary['p99']}, "
        f"max {summary['max']}"
    )
