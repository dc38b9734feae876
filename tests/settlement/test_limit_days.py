"""The daily limit's day is Beijing's, to the microsecond of the time a payment was
queued, as settlement reads it back from the ledger (text, parsed once per value)."""

from datetime import UTC, datetime

import pytest

from ewallet.money import yuan
from settlement import doorbell
from settlement.audit.verify import audit_verify
from settlement.models import Transfer
from settlement.services import transfers_settle
from tests.helpers import assert_every_fen_kept


@pytest.fixture(autouse=True)
def queued_until_settled(monkeypatch, audit_key):
    monkeypatch.setattr(doorbell, "ring", lambda: None)
    yield
    assert_every_fen_kept()


def test_a_class_4_wallets_daily_limit_resets_at_beijing_midnight(world):
    """Alice (class 4: 2,000 a payment, 5,000 a day) pays 1,800 a microsecond before
    midnight in Beijing and 1,800 twice at midnight: all settle, the last two on the new
    day. 1,800 more a microsecond later would make 5,400 that day: LIMIT_DAILY."""
    alice, bob = world.wallet("Alice", klass=4, load=8_000), world.wallet("Bob")
    paid_at = [
        datetime(2026, 12, 2, 15, 59, 59, 999_999, tzinfo=UTC),  # 23:59:59.999999 Beijing
        datetime(2026, 12, 2, 16, 0, tzinfo=UTC),  # midnight, 3 December
        datetime(2026, 12, 2, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 16, 0, 0, 1, tzinfo=UTC),
    ]
    payments = [world.pay_later(alice, bob, yuan(1_800)) for _ in paid_at]
    for payment, at in zip(payments, paid_at, strict=True):
        Transfer.objects.filter(pk=payment.pk).update(created_at=at)
    transfers_settle()
    assert [world.state(payment) for payment in payments] == [
        ("SETTLED", ""),
        ("SETTLED", ""),
        ("SETTLED", ""),
        ("REJECTED", "LIMIT_DAILY"),
    ]
    assert audit_verify().ok
