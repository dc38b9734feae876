"""Sub-wallets under races, on PostgreSQL: many pulls against one cap, pulls racing a
revocation, and sweeps racing each other; the cap is never passed and nothing returns
twice."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import Transfer, TransferKind
from settlement.selectors import money_totals
from tests.helpers import World, balance, key, settle
from tests.settlement.test_postgres import in_threads
from wallets import services
from wallets.actors import Actor
from wallets.models import MerchantPayment, SubWallet

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def every_fen_kept(audit_key):
    """After every race: e-CNY in circulation equals what was issued and what backs it, and
    the audit log verifies against the ledger."""
    yield
    settle()
    checkpoint_seal()
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing
    assert audit_verify().ok


def outcome(call) -> str:
    try:
        call()
    except EwalletError as error:
        return str(error.code)
    return "ok"


def pushed(cap_yuan: int):
    world = World.build()
    rides = world.merchant("Shenzhen Rides", mcc="4121")
    alice = world.wallet("Alice", load=1_000)
    sub = services.sub_wallet_push(
        actor=world.staff,
        parent=alice,
        merchant=rides.merchant.code,
        cap=yuan(cap_yuan),
        expires_at=timezone.now() + timedelta(days=1),
    )
    return world, rides, alice, sub


def test_twenty_pulls_racing_against_one_cap_never_pass_it():
    _, rides, alice, sub = pushed(100)  # its funding still queued: pulls count it

    def fare(i: int) -> str:  # 20 fares of 7.00 against 100.00: 14 fit
        return outcome(
            lambda: services.sub_wallet_pull(
                actor=rides.staff, sub_wallet=sub, amount=yuan(7), idempotency_key=key("f")
            )
        )

    results = Counter(in_threads(20, fare))
    settle()
    assert results == {"ok": 14, "SUB_WALLET_EXHAUSTED": 6}
    assert MerchantPayment.objects.filter(payer_wallet=sub.wallet).count() == 14
    assert balance(rides.wallet) == yuan(98)
    assert balance(sub.wallet) == yuan(2)
    assert balance(alice) == yuan(900)


def test_pulls_racing_a_revocation_and_the_return_add_up_to_the_cap():
    world, rides, alice, sub = pushed(60)  # nine fares of 6.00 fit
    settle()

    def act(i: int) -> str:
        if i == 5:
            return outcome(lambda: services.sub_wallet_revoke(actor=world.staff, sub_wallet=sub))
        return outcome(
            lambda: services.sub_wallet_pull(
                actor=rides.staff, sub_wallet=sub, amount=yuan(6), idempotency_key=key("f")
            )
        )

    results = Counter(in_threads(10, act))
    settle()
    assert results["ok"] >= 1 and set(results) <= {"ok", "SUB_WALLET_REVOKED"}
    pulled = balance(rides.wallet)
    assert pulled == yuan(6) * (results["ok"] - 1)
    assert balance(alice) == yuan(1_000) - pulled
    assert balance(sub.wallet) == 0


def test_racing_sweeps_return_what_expired_once():
    _, rides, alice, sub = pushed(80)
    settle()
    services.sub_wallet_pull(
        actor=rides.staff, sub_wallet=sub, amount=yuan(30), idempotency_key=key("f")
    )
    settle()
    past = timezone.now() - timedelta(hours=1)
    SubWallet.objects.filter(pk=sub.pk).update(created_at=past - timedelta(days=1), expires_at=past)
    results = in_threads(6, lambda i: services.sub_wallets_expire(actor=Actor.system()))
    settle()
    assert sorted(results) == [0, 0, 0, 0, 0, 1]
    assert Transfer.objects.filter(kind=TransferKind.SUB_WALLET_RETURN).count() == 1
    assert balance(alice) == yuan(1_000) - yuan(30)
    assert balance(sub.wallet) == 0
