"""The report of a run as a dict: what was offered and accepted, what the ledger decided
and when (from the run's transfer rows), latency, rates, memory, the checks, the machine.
`report.py` writes that dict to disk (report.json, charts, report.html) and compares two.
"""

import contextlib
import os
import platform
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

from settlement.models import Transfer
from settlement.selectors import with_visible_at
from wallets.loadrun import stats

ROOT = Path(__file__).resolve().parents[2]
RUN_KINDS = ("P2P", "MERCHANT", "LOAD", "REFUND")


def run_rows(after: int) -> list[tuple]:
    """(id, kind, state, reject_code, created_at, visible_at) of the run's transfers:
    `visible_at` is when the decision was committed (`with_visible_at`)."""
    return list(
        with_visible_at(Transfer.objects.filter(id__gt=after, kind__in=RUN_KINDS))
        .order_by("id")
        .values_list("id", "kind", "state", "reject_code", "created_at", "visible_at")
    )


def build_report(
    *,
    run: str,
    options,
    population,
    segments,
    rows: list[tuple],
    driver,
    watcher,
    checks: dict,
    started_at: datetime,
    started_wall: float,
    load_start: str,
    seconds: dict[str, float],
    rss_end: dict,
) -> dict:
    """The report.json of a run. `rows` as `run_rows` gives them; `started_wall` is the
    time.time() the run's clock starts from; `seconds` the phases' durations."""
    interval = stats.nice_interval(seconds["run"] / 60)
    created = [(r[4].timestamp() - started_wall) for r in rows]
    decided = [(r[5].timestamp() - started_wall) for r in rows if r[5] is not None]
    latencies = [(r[5] - r[4]).total_seconds() * 1000 for r in rows if r[2] == "SETTLED"]
    all_latencies = [(r[5] - r[4]).total_seconds() * 1000 for r in rows if r[5] is not None]
    # From when the driver offered each transfer, the wait before the server took it
    # included. The HTTP drivers note offer times; in-process, submitting is the offer.
    offered_to_settled = offered_to_decided = None
    if options.via != "inprocess":
        settled_ms, decided_ms = latencies_from_offer(rows, driver.offered_at)
        offered_to_settled = stats.latency_summary(settled_ms)
        offered_to_decided = stats.latency_summary(decided_ms)
    rejections = Counter(r[3] for r in rows if r[2] == "REJECTED")
    rejected_series = {
        code: stats.per_interval(
            [r[5].timestamp() - started_wall for r in rows if r[3] == code], interval=interval
        )
        for code in rejections
    }
    decided_series = stats.per_interval(decided, interval=interval)
    first_created = min(created, default=0.0)
    last_decided = max(decided, default=0.0)
    span = last_decided - first_created
    submit_span = (max(created) - first_created) if created else 0.0
    paced = segments and segments[0].rate is not None
    planned_seconds = sum(s.seconds for s in segments)
    offered = [(s.start, s.rate) for s in segments] + [(planned_seconds, 0.0)] if paced else []
    processes = []
    for (name, pid), samples in watcher.rss.items():
        sizes = [size for _, size in samples]
        processes.append(
            {
                "name": name,
                "pid": pid,
                "rss_start_kb": sizes[0],
                "rss_end_kb": rss_end.get((name, pid)) or sizes[-1],
                "rss_max_kb": max(sizes),
                # Enough points to see whether memory is flat, not every sample.
                "rss_over_time_kb": samples[:: max(1, len(samples) // 60)],
            }
        )
    # Prequeued: everything decided over the wall time settlement took. Otherwise the
    # first to the last decision committed.
    settlement_tps = (
        round(len(decided) / seconds["settle_after_submit"], 1)
        if options.prequeue and seconds["settle_after_submit"]
        else stats.rate_between(decided)
    )
    machine = machine_facts()
    machine["load_start"] = load_start
    machine["load_end"] = load_average()
    return {
        "run": run,
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": options.command,
        "scenario": {
            "name": options.scenario.name,
            "description": options.scenario.description,
            "timeline": [
                {
                    "name": s.phase.name,
                    "kind": s.phase.kind,
                    "count": s.count,
                    "rate": s.rate,
                    "start_s": round(s.start, 2),
                    "seconds": round(s.seconds, 2),
                }
                for s in segments
            ],
        },
        "options": {
            "transfers": options.transfers,
            "seed": options.seed,
            "rate": options.rate,
            "via": options.via,
            "clients": options.clients if options.via != "inprocess" else None,
            "http_batch": options.http_batch if options.via != "inprocess" else None,
            "linger_ms": options.linger_ms if options.http_batch > 1 else None,
            "settlement": options.settlement,
            "workers": options.workers if options.settlement == "workers" else None,
            "batch_size": options.batch_size or settings.EWALLET_SETTLEMENT_BATCH_SIZE,
            "prequeue": options.prequeue,
            "wait_ms": options.wait_ms,
        },
        "population": population.summary(),
        "transfers": {
            "offered": options.transfers,
            "accepted": driver.accepted,
            "refused_at_submit": dict(driver.refused),
            "accepted_by_kind": dict(driver.accepted_by_kind) or None,
            "settled": sum(1 for r in rows if r[2] == "SETTLED"),
            "rejected": sum(rejections.values()),
        },
        "offered_tps": round(options.transfers / planned_seconds, 1) if paced else None,
        "submitted_tps": round(len(rows) / submit_span, 1) if submit_span else None,
        "achieved_tps": round(len(decided) / span, 1) if span > 0 else None,
        "settlement_tps": settlement_tps,
        "latency_ms": {
            "submit_to_settled": stats.latency_summary(latencies),
            "submit_to_decided": stats.latency_summary(all_latencies),
            "offered_to_settled": offered_to_settled,
            "offered_to_decided": offered_to_decided,
            "http_request": stats.latency_summary(driver.request_ms) if driver.request_ms else None,
        },
        "http_statuses": dict(driver.statuses) or None,
        "http_batches": {
            "requests": len(driver.batch_sizes),
            "mean_payments": round(sum(driver.batch_sizes) / len(driver.batch_sizes), 1),
            "max_payments": max(driver.batch_sizes),
        }
        if driver.batch_sizes
        else None,
        "rejections": dict(rejections.most_common()),
        "series": {
            "interval_s": interval,
            "submitted": stats.per_interval(created, interval=interval),
            "decided": decided_series,
            "rejected_by_code": rejected_series,
            "backlog": watcher.backlog,
            "offered": offered,
            "latency_histogram_ms": stats.histogram(
                sorted(latencies)[: max(1, int(len(latencies) * 0.999))]
            ),
        },
        "checks": checks,
        "pgbench": options.pgbench,
        "settlement_to_pgbench": _ratio(settlement_tps, options.pgbench),
        "seconds": seconds,
        "machine": machine,
        "processes": processes,
    }


def latencies_from_offer(rows, offered_at: dict[int, float]) -> tuple[list, list]:
    """Milliseconds from each transfer's offer (a wall-clock time, as the driver noted it)
    to its decision: (settled ones, all decided ones). Rows as `run_rows` gives them;
    transfers with no offer time noted are left out."""
    settled, decided = [], []
    for transfer_id, _, state, _, _, decided_at in rows:
        offered = offered_at.get(transfer_id)
        if offered is None or decided_at is None:
            continue
        latency = (decided_at.timestamp() - offered) * 1000
        decided.append(latency)
        if state == "SETTLED":
            settled.append(latency)
    return settled, decided


def _ratio(settlement_tps: float | None, pgbench: dict | None) -> float | None:
    if not settlement_tps or not pgbench or not pgbench.get("tps"):
        return None
    return round(settlement_tps / pgbench["tps"], 2)


def machine_facts() -> dict:
    facts = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": connection.vendor,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            facts["database_version"] = cursor.fetchone()[0]
            for name in ("synchronous_commit", "fsync", "shared_buffers"):
                cursor.execute(f"SHOW {name}")
                facts[name] = cursor.fetchone()[0]
        else:
            cursor.execute("SELECT sqlite_version()")
            facts["database_version"] = cursor.fetchone()[0]
    with contextlib.suppress(OSError):
        facts["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    return facts


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
