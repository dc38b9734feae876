"""`manage.py loadrun` end to end: a population, a run, checks, report.json and
report.html with charts; the same seed gives the same outcomes; --compare; and a run
settled by real celery workers on PostgreSQL."""

import io
import json

import pytest
from django.core.management import call_command

from settlement import doorbell
from settlement.audit.verify import audit_verify
from settlement.models import Transfer
from tests.api.test_end_to_end import server  # noqa: F401  (fixtures)
from wallets.loadrun.runner import cpu_figures
from wallets.models import MerchantPayment, Refund

CHECKS = {"exactly_once", "money_conserved", "no_negative_balance", "audit_verify"}


def run(tmp_path, name, **options) -> dict:
    out = io.StringIO()
    call_command("loadrun", out=str(tmp_path), name=name, no_progress=True, stdout=out, **options)
    assert f"report: {tmp_path / name / 'report.html'}" in out.getvalue()
    return json.loads((tmp_path / name / "report.json").read_text())


def test_a_small_inprocess_run_writes_its_report_and_passes_its_checks(
    transactional_db, audit_key, tmp_path
):
    report = run(
        tmp_path, "small", scenario="payday", transfers=1_500, seed=3, people=120, merchants=15
    )
    assert set(report["checks"]) == CHECKS
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    assert report["transfers"]["accepted"] == 1_500
    assert report["transfers"]["settled"] + report["transfers"]["rejected"] == 1_500
    assert report["achieved_tps"] > 0
    cpu = report["cpu"]  # the machine's CPU while offering and settling
    assert cpu["machine_seconds"] > 0 and cpu["busy_cores"] > 0
    assert cpu["per_transfer_us"] == round(cpu["machine_seconds"] / 1_500 * 1e6, 1)
    parts = cpu["per_transfer_us_by_part"]  # this process submitted (and settled, if inline)
    assert parts["loadrun"] > 0
    assert (parts["settlement workers"] > 0) == (report["options"]["settlement"] == "workers")
    # The parts are the machine's total: other is what the named ones did not use.
    assert (
        sum(parts.values()) == pytest.approx(cpu["per_transfer_us"], abs=0.5) or not parts["other"]
    )
    latency = report["latency_ms"]["submit_to_settled"]
    assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert report["latency_ms"]["offered_to_settled"] is None  # offer times: HTTP runs only
    assert report["scenario"]["name"] == "payday"
    assert [p["name"] for p in report["scenario"]["timeline"]] == ["payday loads", "merchant rush"]
    assert report["population"]["people"] == 120
    assert sum(report["rejections"].values()) == report["transfers"]["rejected"]
    assert report["series"]["backlog"]
    assert report["machine"]["cores"] and report["processes"]
    folder = tmp_path / "small"
    loadrun = next(p for p in report["processes"] if p["name"] == "loadrun")
    times = [t for t, _ in loadrun["rss_over_time_kb"]]
    assert times == sorted(times) and all(kb > 0 for _, kb in loadrun["rss_over_time_kb"])
    for chart in ("throughput.png", "latency.png", "backlog.png", "rejections.png", "memory.png"):
        assert (folder / chart).read_bytes()[:4] == b"\x89PNG"
        assert f'src="{chart}"' in (folder / "report.html").read_text()
    assert not Transfer.objects.filter(state="RECEIVED").exists()
    assert audit_verify().ok


def test_a_retail_run_pays_by_qr_refunds_and_keeps_every_fen(transactional_db, audit_key, tmp_path):
    report = run(
        tmp_path, "retail", scenario="retail", transfers=2_000, seed=5, people=100, merchants=10
    )
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    by_kind = report["transfers"]["accepted_by_kind"]
    assert by_kind["qr"] > 800 and by_kind["refund"] > 0
    assert MerchantPayment.objects.count() == by_kind["qr"]
    assert Refund.objects.count() == by_kind["refund"]
    # Every refund gives back at most what its payment took, to the wallet that paid.
    for refund in Refund.objects.select_related("original", "transfer"):
        payment = MerchantPayment.objects.get(transfer=refund.original)
        assert refund.amount <= payment.amount
        leg = refund.transfer.legs.get()
        assert leg.credit_id == payment.payer_wallet.account_id
    refused = report["transfers"]["refused_at_submit"]
    accepted = report["transfers"]["accepted"]
    assert accepted + sum(refused.values()) == 2_000
    assert set(refused) <= {"NOT_REFUNDABLE"}  # refunds of payments that were rejected


def test_the_same_seed_gives_the_same_run_and_compare_shows_both(
    transactional_db, audit_key, tmp_path
):
    options = {"scenario": "spike", "transfers": 800, "seed": 11, "people": 80, "merchants": 8}
    first = run(tmp_path, "a", **options)
    second = run(tmp_path, "b", flush=True, **options)
    assert first["population"] == second["population"]
    assert first["rejections"] == second["rejections"]
    assert first["transfers"] == second["transfers"]

    out = io.StringIO()
    call_command(
        "loadrun", compare=[str(tmp_path / "a"), str(tmp_path / "b" / "report.json")], stdout=out
    )
    text = out.getvalue()
    assert "A: a" in text and "B: b" in text
    assert "achieved tps" in text and "latency p99 ms" in text
    assert "1.00x" in text  # the same number of transfers offered
    assert "CPU µs per transfer: loadrun" in text


def test_a_paced_run_offers_its_rate(transactional_db, audit_key, tmp_path):
    report = run(tmp_path, "paced", transfers=600, rate=600, seed=2, people=60, merchants=6)
    assert report["offered_tps"] == 600
    assert 400 < report["submitted_tps"] < 800
    assert all(check["ok"] for check in report["checks"].values())


@pytest.mark.worker
def test_a_run_settled_by_real_celery_workers_on_postgres(transactional_db, audit_key, tmp_path):
    from ewallet import celery_app
    from settlement import doorbell

    celery_app.control.purge()
    doorbell.answer()
    report = run(
        tmp_path,
        "workers",
        transfers=3_000,
        seed=4,
        people=200,
        merchants=20,
        settlement="workers",
        workers=2,
        batch_size=500,
    )
    assert report["options"]["settlement"] == "workers"
    assert report["machine"]["database"] == "postgresql"
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    assert report["transfers"]["settled"] + report["transfers"]["rejected"] == 3_000
    workers = [p for p in report["processes"] if p["name"].startswith("celery worker")]
    assert len({p["name"].split(" child")[0] for p in workers}) == 2
    assert all(p["rss_end_kb"] for p in workers)
    parts = report["cpu"]["per_transfer_us_by_part"]  # real worker and server processes
    assert parts["settlement workers"] > 0 and parts["PostgreSQL"] > 0 and parts["loadrun"] > 0


@pytest.mark.worker
def test_a_run_over_http_against_gunicorn_and_a_worker(server, tmp_path):  # noqa: F811
    report = run(
        tmp_path,
        "http",
        scenario="payday",
        transfers=400,
        rate=200,
        seed=6,
        people=60,
        merchants=6,
        via=server.url,
        clients=8,
    )
    assert report["options"]["settlement"] == "external"
    assert report["http_statuses"] == {"202": 400}
    assert report["transfers"]["accepted"] == 400
    assert report["latency_ms"]["http_request"]["count"] == 400
    assert report["latency_ms"]["offered_to_decided"]["count"] == 400
    assert report["options"]["http_batch"] == 1 and report["http_batches"] is None
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]


@pytest.mark.worker
def test_a_retail_run_over_http_asks_pays_by_qr_and_refunds(server, tmp_path):  # noqa: F811
    report = run(
        tmp_path,
        "http-retail",
        scenario="retail",
        transfers=1_400,
        rate=400,
        seed=8,
        people=60,
        merchants=6,
        via=server.url,
        clients=8,
    )
    by_kind = report["transfers"]["accepted_by_kind"]
    assert by_kind["qr"] > 500 and by_kind["refund"] > 0
    refused = report["transfers"]["refused_at_submit"]
    assert report["transfers"]["accepted"] + sum(refused.values()) == 1_400
    assert set(refused) <= {"NOT_REFUNDABLE"}
    # Each QR payment is two exchanges: the till's request (201), the payer's payment (202).
    statuses = report["http_statuses"]
    assert statuses["201"] >= by_kind["qr"] + by_kind["refund"]
    assert MerchantPayment.objects.count() == by_kind["qr"]
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]


@pytest.mark.worker
def test_a_gateway_run_over_http_against_gunicorn_and_a_worker(server, tmp_path):  # noqa: F811
    report = run(
        tmp_path,
        "gateway",
        scenario="payday",
        transfers=600,
        rate=300,
        seed=7,
        people=60,
        merchants=6,
        via=server.url,
        clients=4,
        http_batch=25,
        linger_ms=20,
    )
    batches = report["http_batches"]
    # The payday loads go one by one, the merchant rush in per-operator batches.
    loads = report["scenario"]["timeline"][0]["count"]
    assert report["http_statuses"] == {"202": loads + batches["requests"]}
    assert batches["max_payments"] <= 25 and batches["requests"] < 600 - loads
    assert report["transfers"]["accepted"] == 600
    latency = report["latency_ms"]
    assert latency["offered_to_decided"]["count"] == 600
    assert latency["offered_to_decided"]["p50"] >= latency["submit_to_decided"]["p50"]
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]


@pytest.mark.postgres
def test_pgbench_in_the_same_sitting_gives_the_settlement_ratio(
    transactional_db, audit_key, tmp_path
):
    report = run(
        tmp_path,
        "ratio",
        transfers=2_000,
        seed=5,
        people=100,
        merchants=10,
        settlement="inline",
        prequeue=True,
        pgbench=1,
    )
    pgbench = report["pgbench"]
    assert pgbench["tps"] > 0 and pgbench["seconds"] == 1 and pgbench["clients"] == 4
    assert pgbench["command"].startswith("pgbench -c 4 -j 2 -T 1 ")
    assert report["settlement_tps"] > 0
    assert report["settlement_to_pgbench"] == round(report["settlement_tps"] / pgbench["tps"], 2)
    assert all(check["ok"] for check in report["checks"].values())
    # Settling inline, the run answered the doorbell its submissions rang: the next
    # payment rings at once (a flag left up held back every ring for 30 s).
    assert doorbell.raise_flag()
    doorbell.answer()


@pytest.mark.postgres
def test_pgbench_that_cannot_run_says_why(db):
    from django.db import connection

    from wallets.loadrun.pgbench import PgbenchUnavailable, pgbench_run

    where = connection.settings_dict
    with pytest.raises(PgbenchUnavailable, match=r"pgbench failed: .*no_such_database"):
        pgbench_run(
            host=where["HOST"], port=where["PORT"], user=where["USER"], database="no_such_database"
        )


def test_a_shenzhen_2020_run_grants_spends_and_returns_every_voucher_fen(
    transactional_db, audit_key, tmp_path
):
    """Applicants (a few twice, refused), a seeded lottery for half the people, a week of QR
    payments compressed into the run, then the sweep: what was granted was spent or
    returned, and the ledger's checks hold with the programme's transfers in them."""
    report = run(
        tmp_path, "luohu", scenario="shenzhen-2020", transfers=600, seed=7, people=100, merchants=18
    )
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    vouchers = report["vouchers"]
    assert (vouchers["count"], vouchers["applicants"], vouchers["winners"]) == (50, 80, 50)
    assert vouchers["refusals"]["VOUCHER_ALREADY_APPLIED"] == 4
    assert vouchers["granted_fen"] == 50 * 20_000 == vouchers["funded_fen"]
    assert vouchers["spent_fen"] > 0 and vouchers["payments_with_voucher"] > 0
    assert vouchers["granted_fen"] == vouchers["spent_fen"] + vouchers["returned_fen"]
    assert vouchers["returned_to_government_fen"] == vouchers["funded_fen"] - vouchers["spent_fen"]
    assert vouchers["outstanding_fen"] == 0
    assert audit_verify().ok


def test_a_suzhou_2020_run_pays_offline_syncs_late_and_catches_the_cheaters(
    transactional_db, audit_key, tmp_path
):
    """Online payments, then a day offline: cards and terminals pay with no network, sync
    late and out of order; the seeded cheaters are caught and blocked, their payees share
    no more than the cheaters loaded, and the ledger's checks hold with it all in them."""
    report = run(
        tmp_path, "suzhou", scenario="suzhou-2020", transfers=600, seed=12, people=100, merchants=10
    )
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    offline = report["offline"]
    assert (offline["cards"], offline["terminals"]) == (50, 10)
    assert offline["payments_synced"] == offline["payments_accepted_offline"] > 100
    assert offline["synced_fen"] == offline["paid_fen"] + offline["loss_fen"]
    assert offline["paid_out_fen"] == offline["paid_fen"] <= offline["loaded_fen"]
    assert offline["honest_blocked"] == 0
    assert sum(offline["cheaters"].values()) == 2
    assert offline["cheaters_blocked"] == offline["cheaters_double_spent"] > 0
    assert set(offline["double_spends"]) <= {"COUNTER_REUSED", "FORK", "OVER_RESERVE"}
    assert offline["verified"] >= offline["payments_synced"]
    assert offline["verified_per_second"] > 0
    lag = offline["sync_lag_hours"]
    assert 0 < lag["p50"] <= lag["p95"] <= lag["max"] < 24 + 48 + 72
    assert audit_verify().ok


def test_pgbench_gets_a_database_beside_the_runs_own():
    """Runs on two databases of one server (two people's) never share pgbench's tables."""
    from wallets.loadrun.pgbench import database_beside

    assert database_beside("ewallet_a") == "ewallet_a_pgbench"
    assert database_beside("ewallet_a") != database_beside("ewallet_b")
    assert len(database_beside("x" * 63)) <= 63  # PostgreSQL's longest name


def test_cpu_figures_are_per_accepted_transfer_and_per_second_of_the_run():
    figures = cpu_figures(3.0, run_seconds=2.0, transfers=20_000)
    assert figures["per_transfer_us"] == 150.0  # 3 s over 20,000 transfers
    assert figures["busy_cores"] == 1.5
    assert cpu_figures(None, run_seconds=2.0, transfers=20_000) is None  # not Linux
    assert cpu_figures(3.0, run_seconds=2.0, transfers=0) is None
