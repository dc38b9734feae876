"""Conditional payments under races, on PostgreSQL: a confirm racing the cancellation that
would void it, and sweeps racing to release one escrow, each decided once."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import Account, Transfer
from settlement.selectors import money_totals
from tests.helpers import World, key, settle, user_with
from tests.settlement.test_postgres import in_threads
from wallets import services
from wallets.actors import Actor
from wallets.models import Escrow

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def outcome(call) -> str:
    try:
        call()
    except EwalletError as error:
        return str(error.code)
    return "ok"


def login(wallet) -> Actor:
    holder = wallet.holder
    holder.user = user_with(f"holder-{holder.pk}")
    holder.save(update_fields=["user"])
    return Actor.of(holder.user)


def held(wallet) -> tuple[int, int]:
    account = Account.objects.get(pk=wallet.account_id)
    return account.balance, account.reserved


def kept(audit_key) -> None:
    settle()
    checkpoint_seal()
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing
    assert audit_verify().ok


@pytest.mark.parametrize("round_", range(3))
def test_a_confirm_racing_the_last_agreement_to_cancel_decides_once(audit_key, round_):
    world = World.build()
    alice = world.wallet("Alice", load=1_000)
    bob = world.wallet("Bob", operator="CCB")
    alice_login, bob_login = login(alice), login(bob)
    escrows = []
    for _ in range(4):
        escrow = services.escrow_create(
            actor=alice_login,
            payer=alice.number,
            payee=bob.number,
            amount=yuan(100),
            condition="PAYER_CONFIRMS",
            idempotency_key=key("e"),
        )
        services.escrow_cancel(actor=alice_login, escrow=escrow)  # the payer agreed first
        escrows.append(escrow)
    settle()

    def act(i: int) -> str:  # for each escrow: Alice confirms while Bob agrees to cancel
        escrow = escrows[i // 2]
        if i % 2 == 0:
            return outcome(lambda: services.escrow_confirm(actor=alice_login, escrow=escrow))
        return outcome(lambda: services.escrow_cancel(actor=bob_login, escrow=escrow))

    results = in_threads(8, act)
    settle()
    released = 0
    for i, escrow in enumerate(escrows):
        pair = results[2 * i : 2 * i + 2]
        assert sorted(pair) == ["ESCROW_NOT_HELD", "ok"], pair
        escrow = Escrow.objects.select_related("transfer").get(pk=escrow.pk)
        state = services.escrow_state(escrow)
        assert state == ("RELEASED" if pair[0] == "ok" else "CANCELLED")
        released += state == "RELEASED"
        # One phase queued, and it settled.
        phases = Transfer.objects.filter(pending=escrow.transfer)
        assert [p.state for p in phases] == ["SETTLED"]
    assert held(alice) == (yuan(1_000) - yuan(100) * released, 0)
    assert held(bob) == (yuan(100) * released, 0)
    kept(audit_key)


def test_racing_sweeps_release_each_escrow_once(audit_key):
    world = World.build()
    alice = world.wallet("Alice", load=1_000)
    bob = world.wallet("Bob", operator="CCB")
    at = timezone.now() + timedelta(minutes=5)
    escrows = [
        services.escrow_create(
            actor=world.staff_of["ICBC"],
            payer=alice.number,
            payee=bob.number,
            amount=yuan(10),
            condition="RELEASE_AT",
            release_at=at,
            idempotency_key=key("e"),
        )
        for _ in range(5)
    ]
    settle()
    later = at + timedelta(seconds=1)
    queued = in_threads(6, lambda i: services.escrows_release_due(actor=Actor.system(), now=later))
    settle()
    assert sum(queued) == 5
    assert Counter(
        services.escrow_state(Escrow.objects.select_related("transfer").get(pk=e.pk))
        for e in escrows
    ) == {"RELEASED": 5}
    assert Transfer.objects.filter(kind="POST").count() == 5
    assert held(alice) == (yuan(950), 0) and held(bob) == (yuan(50), 0)
    kept(audit_key)
