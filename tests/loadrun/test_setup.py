"""The one builder of economies (wallets/loadrun/setup.py) and the commands built on it:
the demo and `apibench setup`.

Worked examples: 60 people and 6 shops over the eight operators each get a wallet at
their own operator, opened by that operator's one member of staff, in the class their KYC
allows, and the people's hold their opening loads; a second build on the same database
reuses the operators and users; the demo's operators freeze wallets in full and
receive-only and its audit verifies; `apibench setup` writes payers, payees and a token
that pays from a payer.
"""

import io

import pytest
from django.core.management import call_command

from ewallet import celery_app
from ewallet.money import yuan
from wallets import services
from wallets.actors import Actor
from wallets.auth import token_authenticate
from wallets.loadrun.setup import (
    catalogue_operators,
    institutions_ensure,
    population_build,
    population_with_live_caps,
)
from wallets.loadrun.workers import celery_eager
from wallets.models import (
    FreezeAuthority,
    FreezeOrder,
    FreezeScope,
    Operator,
    OperatorStaff,
    Wallet,
)


def build(run: str, *, people: int = 60, merchants: int = 6, seed: int = 1):
    institutions = institutions_ensure(
        prefix="t", operators=catalogue_operators(reserve_yuan_per_share=10_000_000)
    )
    population = population_with_live_caps(seed=seed, people=people, merchants=merchants)
    return (
        institutions,
        population,
        population_build(population, institutions=institutions, run=run),
    )


def test_each_person_and_shop_gets_a_loaded_wallet_at_their_operator_by_its_staff(db):
    institutions, population, wallets = build("a")

    assert sorted(institutions.operators) == sorted(s.code for s in catalogue_operators(
        reserve_yuan_per_share=1
    ))  # fmt: skip
    for operator in institutions.operators.values():
        staff = institutions.staff[operator.pk]
        assert staff.operator_id == operator.pk
        assert OperatorStaff.objects.get(user=staff.user).operator_id == operator.pk
    opened = Wallet.objects.select_related("operator", "account", "holder").in_bulk(
        [w.number for w in wallets.people + wallets.merchants], field_name="number"
    )
    for person, built in zip(population.people, wallets.people, strict=True):
        wallet = opened[built.number]
        assert wallet.operator.code == person.operator == wallet.holder.operator.code
        assert wallet.wallet_class_id == person.wallet_class
        assert wallet.account.balance == person.opening_load
        assert wallet.holder.display_name == f"Person a-{person.index}"
    for shop, built in zip(population.merchants, wallets.merchants, strict=True):
        wallet = opened[built.number]
        assert (wallet.operator.code, wallet.kind, wallet.account.balance) == (
            shop.operator,
            "MERCHANT",
            0,
        )


def test_a_second_build_on_the_same_database_reuses_operators_and_users(db):
    first, _, _ = build("a")
    second, _, wallets = build("b", seed=2)
    assert {c: o.pk for c, o in first.operators.items()} == {
        c: o.pk for c, o in second.operators.items()
    }
    assert [a.user.pk for a in first.staff.values()] == [a.user.pk for a in second.staff.values()]
    assert Operator.objects.count() == 8
    assert Wallet.objects.count() == 2 * 66
    assert all(
        w.account.balance > 0
        for w in Wallet.objects.filter(number__in=[p.number for p in wallets.people])
    )


def test_celery_eager_holds_for_its_block_only():
    before = celery_app.conf.task_always_eager
    with pytest.raises(RuntimeError), celery_eager(not before):
        assert celery_app.conf.task_always_eager is (not before)
        raise RuntimeError
    assert celery_app.conf.task_always_eager is before


def test_the_demo_freezes_as_operators_and_its_audit_verifies(transactional_db, audit_key):
    out = io.StringIO()
    call_command("demo", people=80, merchants=8, payments=300, load_transfers=500, stdout=out)
    text = out.getvalue()
    assert "8 operators onboarded with reserves, one member of staff each" in text
    assert "operators froze 2 wallets in full and made 1 receive-only" in text
    assert "Load run: 500 payments submitted and settled" in text
    assert "Audit: OK" in text
    assert "its operator's lifting was refused (FREEZE_AUTHORITY)" in text
    assert "a wallet on another operator's holder was refused (NOT_FOUND)" in text
    # The central bank's order of the demo's authority step, lifted by the central bank.
    bank = FreezeOrder.objects.get(authority=FreezeAuthority.CENTRAL_BANK)
    assert (bank.scope, bank.in_force, bank.lifted_by.username) == (
        FreezeScope.FULL,
        False,
        "demo-approver",
    )
    orders = FreezeOrder.objects.select_related("wallet").exclude(pk=bank.pk)
    assert sorted(o.scope for o in orders) == [
        FreezeScope.FULL,
        FreezeScope.FULL,
        FreezeScope.RECEIVE_ONLY,
    ]
    for order in orders:
        assert order.authority == FreezeAuthority.OPERATOR
        assert order.operator_id == order.wallet.operator_id
        assert OperatorStaff.objects.get(user=order.ordered_by).operator_id == order.operator_id


def test_apibench_setup_writes_loaded_payers_shops_and_a_token_that_pays(db, tmp_path):
    call_command("apibench", "setup", out=str(tmp_path), payers=5, payees=2, stdout=io.StringIO())
    payers = (tmp_path / "payers.txt").read_text().split()
    payees = (tmp_path / "payees.txt").read_text().split()
    assert (len(payers), len(payees)) == (5, 2)
    wallets = Wallet.objects.select_related("operator", "account").in_bulk(
        payers + payees, field_name="number"
    )
    assert {w.operator.code for w in wallets.values()} == {"BENCH"}
    assert [wallets[n].account.balance for n in payers] == [yuan(100_000)] * 5
    assert {wallets[n].wallet_class_id for n in payers} == {1}
    token = token_authenticate((tmp_path / "token.txt").read_text().strip())
    staff = Actor.of(token.user)
    assert staff.operator_id == wallets[payers[0]].operator_id
    # Each shop's static code, which the same token pays from any payer (bench/wrk/qr.lua).
    codes = (tmp_path / "codes.txt").read_text().split()
    assert len(codes) == 2
    paid = services.payment_request_pay(
        actor=staff, payload=codes[1], wallet=payers[0], amount=1_234, idempotency_key="b1"
    )
    assert paid.payment.merchant.settlement_wallet.number == payees[1]
