"""`bench settlement` settles what it queued with the real code and ends on its figure."""

import io
import re

from django.core.management import call_command
from django.db import connection

from settlement.audit.verify import audit_verify
from settlement.bench import CpuSeconds, cpu_now
from settlement.models import Transfer


def test_bench_settles_everything_it_queued_and_prints_the_rate_last(db):
    out = io.StringIO()
    call_command("bench", "settlement", "--transfers", "300", "--accounts", "30", stdout=out)

    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"settlement: \d+ transfers/s", lines[-1])
    # What a transfer cost in CPU: this process always; on PostgreSQL here, its backend too.
    cpu = re.fullmatch(r"CPU per transfer \(µs\): this process ([\d.]+)(.*)", lines[-2])
    assert cpu and float(cpu[1]) > 0
    if connection.vendor == "postgresql":
        assert re.search(r"its PostgreSQL backend [\d.]+, the whole machine [\d.]+", cpu[2])
    payments = Transfer.objects.filter(kind="P2P")
    assert payments.count() == 300
    assert not payments.filter(state="RECEIVED").exists()
    report = audit_verify()
    assert report.ok, report.mismatch  # funded honestly: issuance backed, loads from a vault


def test_the_two_phase_bench_reserves_then_posts_every_payment(db):
    out = io.StringIO()
    call_command(
        "bench", "settlement", "--transfers", "200", "--accounts", "20", "--two-phase", stdout=out
    )
    assert re.fullmatch(
        r"settlement: \d+ two-phase payments/s \(reserve \+ post\)", out.getvalue().splitlines()[-1]
    )
    reserved = Transfer.objects.filter(kind="P2P", timeout_at__isnull=False)
    assert reserved.count() == 200
    posts = Transfer.objects.filter(kind="POST")
    # Every reservation that settled is posted; one refused for funds has nothing to post.
    assert reserved.filter(state="POSTED").count() == posts.filter(state="SETTLED").count()
    assert not reserved.filter(state="PENDING").exists()
    report = audit_verify()
    assert report.ok, report.mismatch


def test_cpu_seconds_subtract_and_scale_field_by_field():
    later = CpuSeconds(process=3.0, backend=5.0, machine=10.0)
    earlier = CpuSeconds(process=1.0, backend=None, machine=4.0)
    assert later - earlier == CpuSeconds(process=2.0, backend=None, machine=6.0)
    assert (later - earlier).scaled(0.5) == CpuSeconds(process=1.0, backend=None, machine=3.0)


def test_cpu_now_counts_this_process_going_up(db):
    before = cpu_now()
    sum(i * i for i in range(300_000))
    assert (cpu_now() - before).process > 0
