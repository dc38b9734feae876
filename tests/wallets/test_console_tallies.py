"""The console's dashboard counts come from tallies settlement keeps as it decides, and
they always equal what counting the ledger would give."""

import importlib
from datetime import timedelta

from django.apps import apps
from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone

from ewallet.money import yuan
from settlement import services as ledger
from settlement.models import (
    PAYMENT_KINDS,
    PaymentsPerMinute,
    RejectionTally,
    Transfer,
    TransferKind,
)
from settlement.services import LegSpec
from tests.helpers import key, settle
from wallets.console import selectors as console


def counted_from_the_ledger() -> tuple[dict, dict]:
    per_minute = dict(
        Transfer.objects.filter(kind__in=PAYMENT_KINDS, decided_at__isnull=False)
        .annotate(minute=TruncMinute("decided_at"))
        .values("minute")
        .annotate(n=Count("pk"))
        .values_list("minute", "n")
    )
    rejected = dict(
        Transfer.objects.filter(state="REJECTED")
        .values("reject_code")
        .annotate(n=Count("pk"))
        .values_list("reject_code", "n")
    )
    return per_minute, rejected


def tallies() -> tuple[dict, dict]:
    return (
        dict(PaymentsPerMinute.objects.values_list("minute", "decided")),
        dict(RejectionTally.objects.values_list("reject_code", "rejected")),
    )


def pay(payer, payee, amount):
    ledger.transfer_submit(
        kind=TransferKind.P2P,
        legs=[LegSpec(payer.account_id, payee.account_id, amount)],
        idempotency_key=key("pay"),
    )


def test_tallies_equal_what_counting_the_ledger_gives(world):
    alice = world.wallet("Alice", klass=4, load=1_000)
    bob = world.wallet("Bob", klass=2)
    for amount in (yuan(10), yuan(2_000) + 1, yuan(900), yuan(900), yuan(1)):
        pay(alice, bob, amount)  # one above the single limit, one beyond the funds
    settle()
    pay(bob, alice, yuan(10_000))
    settle()
    assert tallies() == counted_from_the_ledger()
    per_minute, rejected = tallies()
    assert rejected == {"LIMIT_SINGLE": 1, "INSUFFICIENT_FUNDS": 2}
    assert sum(per_minute.values()) == 6
    assert console.rejections_by_code() == [("INSUFFICIENT_FUNDS", 2), ("LIMIT_SINGLE", 1)]


def test_throughput_reads_the_last_full_minute(world):
    now = timezone.now().replace(second=30, microsecond=0)
    minute = now.replace(second=0)
    PaymentsPerMinute.objects.create(minute=minute - timedelta(minutes=1), decided=600)
    PaymentsPerMinute.objects.create(minute=minute, decided=7)  # under way: not yet counted
    PaymentsPerMinute.objects.create(minute=minute - timedelta(minutes=61), decided=99)
    throughput = console.payment_throughput(now=now)
    assert throughput.per_second == 10.0
    assert [n for _, n in throughput.per_minute][-2:] == [600, 7]
    assert sum(n for _, n in throughput.per_minute) == 607


def test_the_migration_counts_what_was_decided_before(world):
    alice = world.wallet("Alice", klass=2, load=100)
    bob = world.wallet("Bob", klass=2)
    pay(alice, bob, yuan(50))
    pay(alice, bob, yuan(51))
    settle()
    expected = counted_from_the_ledger()
    PaymentsPerMinute.objects.all().delete()
    RejectionTally.objects.all().delete()
    migration = importlib.import_module("settlement.migrations.0011_console_tallies")
    migration.count_what_was_decided(apps, None)
    assert tallies() == expected
