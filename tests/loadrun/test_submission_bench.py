"""`submitbench` submits through the real services, rolls every chunk back, and says what
a transfer cost and how many statements a chunk sent."""

import io
import re

from django.core.management import call_command
from django.db import connection

from settlement.models import Transfer, TransferState


def test_the_submission_bench_leaves_nothing_queued_and_prints_its_figures(db, audit_key):
    out = io.StringIO()
    call_command("submitbench", "--people", "40", "--chunks", "3", "--chunk", "50", stdout=out)
    text = out.getvalue()
    assert "submitted 150 payments in chunks of 50" in text
    statements = int(re.search(r"\((\d+) statements a chunk\)", text).group(1))
    # Each operator's part: its wallets (with their assets) and its insert, on PostgreSQL;
    # SQLite inserts the legs in a statement of their own. No savepoint, no asset lookup,
    # but the chunk's own savepoint and its release.
    operators = 8
    per_operator = 2 if connection.vendor == "postgresql" else 3
    assert statements <= operators * per_operator + 3
    cpu = re.search(r"CPU per transfer \(µs\): this process ([\d.]+)", text)
    assert float(cpu.group(1)) > 0
    assert ("its PostgreSQL backend" in text) == (connection.vendor == "postgresql")
    assert float(re.search(r"submission: ([\d.]+) µs per transfer", text).group(1)) > 0
    # The chunks reuse the first chunk's prepared statements, as a load run's committed
    # chunks do: a chunk rolled back made psycopg forget them, so none ran in more than one
    # chunk, at most once per operator.
    prepared = re.search(r"the busiest ran (\d+) times", text)
    if connection.vendor == "postgresql":
        assert int(prepared.group(1)) > operators
    else:
        assert prepared is None
    # Every chunk was rolled back: only the population's opening loads are in the ledger.
    assert not Transfer.objects.filter(state=TransferState.RECEIVED).exists()
    assert not Transfer.objects.filter(idempotency_key__contains="submitbench").exists()
