"""`bench settlement` settles what it queued with the real code and ends on its figure."""

import io
import re

from django.core.management import call_command

from settlement.audit.verify import audit_verify
from settlement.models import Transfer


def test_bench_settles_everything_it_queued_and_prints_the_rate_last(db):
    out = io.StringIO()
    call_command("bench", "settlement", "--transfers", "300", "--accounts", "30", stdout=out)

    assert re.fullmatch(r"settlement: \d+ transfers/s", out.getvalue().splitlines()[-1])
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
