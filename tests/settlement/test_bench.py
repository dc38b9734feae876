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
