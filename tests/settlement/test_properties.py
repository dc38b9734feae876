"""Random movements against the ledger and against a plain Python model of the rules.

The model below is written from the rules as the README states them, independently of
settlement/rules.py and wallets/services/: freeze orders stack (frozen while any full
order is in force, receive-only while any receive-only one is); a suspended operator's
wallets and vault may receive but not pay; then the payer's status, the payee's, the
payer's operator, single and daily limits, funds, then the payee's balance cap.
Every example opens fresh wallets at two operators, runs random loads, payments, freeze
orders and their lifting, and operator suspensions through the real services and
settlement, and compares every decision and balance to the fen.
"""

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewallet.money import yuan
from settlement.audit.verify import audit_verify
from tests.helpers import World, balance, key, settle
from wallets import services
from wallets.models import WalletClass


@dataclass
class ModelOperator:
    suspended: bool = False


@dataclass
class ModelWallet:
    balance: int
    operator: ModelOperator
    cap: int | None
    single: int | None
    daily: int | None
    spent_today: int = 0
    orders: list = field(default_factory=list)  # scopes of the orders in force, oldest first

    @property
    def status(self) -> str:
        if "FULL" in self.orders:
            return "FROZEN"
        return "RECEIVE_ONLY" if self.orders else "ACTIVE"

    def pay(self, payee: "ModelWallet", amount: int) -> str:
        if self.status in ("FROZEN", "RECEIVE_ONLY"):  # the payer may not send
            return f"WALLET_{self.status}"
        if payee.status == "FROZEN":  # the payee may not receive
            return "WALLET_FROZEN"
        if self.operator.suspended:
            return "OPERATOR_SUSPENDED"
        if self.single is not None and amount > self.single:
            return "LIMIT_SINGLE"
        if self.daily is not None and self.spent_today + amount > self.daily:
            return "LIMIT_DAILY"
        if amount > self.balance:
            return "INSUFFICIENT_FUNDS"
        if payee.cap is not None and payee.balance + amount > payee.cap:
            return "LIMIT_BALANCE"
        self.balance -= amount
        self.spent_today += amount
        payee.balance += amount
        return ""

    def load(self, amount: int) -> str:
        if self.status == "FROZEN":
            return "WALLET_FROZEN"
        if self.operator.suspended:  # the load debits the operator's vault
            return "OPERATOR_SUSPENDED"
        if self.cap is not None and self.balance + amount > self.cap:
            return "LIMIT_BALANCE"
        self.balance += amount
        return ""


WALLETS = 4
SCOPES = ["FULL", "RECEIVE_ONLY"]
amounts = st.one_of(
    st.integers(1, 500),  # small change
    st.integers(1, yuan(3_000)),  # around the class 3 and 4 limits
    st.integers(yuan(3_000), yuan(30_000)),  # beyond them
    # exactly at a limit or a balance, and one fen past it
    st.sampled_from([yuan(n) + d for n in (1_000, 2_000, 5_000, 10_000) for d in (0, 1)]),
)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("pay"), st.integers(0, WALLETS - 1), st.integers(0, WALLETS - 1), amounts
        ),
        st.tuples(st.just("load"), st.integers(0, WALLETS - 1), amounts),
        st.tuples(
            st.just("freeze"),
            st.integers(0, WALLETS - 1),
            st.sampled_from(["FULL", "RECEIVE_ONLY"]),
        ),
        st.tuples(st.just("lift"), st.integers(0, WALLETS - 1)),
        st.tuples(st.just("suspend"), st.integers(0, 1), st.booleans()),
        st.tuples(st.just("settle")),
    ),
    min_size=20,
    max_size=60,
)


@pytest.fixture
def rich_world(db):
    """One world for every example of a run (hypothesis reuses the fixture), with vaults
    deep enough that a long run of random loads cannot drain them."""
    return World.build(issue_yuan=1_000_000_000)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(classes=st.lists(st.integers(2, 4), min_size=WALLETS, max_size=WALLETS), ops=operations)
def test_ledger_agrees_with_a_plain_model(rich_world, classes, ops):
    world = rich_world
    codes = ("ICBC", "CCB")
    wallets, model, model_operators = [], [], [ModelOperator(), ModelOperator()]
    orders = [[] for _ in classes]  # each wallet's orders in force, oldest first
    for code in codes:  # the world outlives an example: undo the last one's suspensions
        services.operator_set_status(
            actor=world.checker, operator=world.operators[code], status="ACTIVE"
        )
    for i, klass in enumerate(classes):
        wallet = world.wallet(f"P{i}", klass=klass, operator=codes[i % 2], load=1_000)
        limits = WalletClass.objects.get(number=klass)
        wallets.append(wallet)
        model.append(
            ModelWallet(
                yuan(1_000),
                model_operators[i % 2],
                limits.balance_cap,
                limits.single_limit,
                limits.daily_limit,
            )
        )

    queued = []  # (transfer, model decision) in submission order, decided at settle time
    pending = []  # model actions waiting for the next settlement, in the same order

    def settle_all() -> None:
        settle()
        for transfer, decide in pending:
            expected = decide()
            assert world.state(transfer) == (
                ("SETTLED", "") if not expected else ("REJECTED", expected)
            ), transfer.idempotency_key
        queued.extend(pending)
        pending.clear()

    for op in ops:
        if op[0] == "pay":
            _, i, j, amount = op
            if i == j:
                continue
            transfer = world.pay_later(wallets[i], wallets[j], amount)
            pending.append((transfer, lambda i=i, j=j, a=amount: model[i].pay(model[j], a)))
        elif op[0] == "load":
            _, i, amount = op
            transfer = services.wallet_load(
                actor=world.staff_of[codes[i % 2]],
                wallet=wallets[i],
                amount=amount,
                idempotency_key=key("load"),
            )
            pending.append((transfer, lambda i=i, a=amount: model[i].load(a)))
        elif op[0] == "freeze":
            # Policy is read when a batch settles, so settle what is queued first.
            settle_all()
            _, i, scope = op
            staff = world.staff_of[codes[i % 2]]
            orders[i].append(
                services.wallet_freeze(actor=staff, wallet=wallets[i], scope=scope, reason="t")
            )
            model[i].orders.append(scope)
        elif op[0] == "lift":
            _, i = op
            if not orders[i]:
                continue
            settle_all()
            staff = world.staff_of[codes[i % 2]]
            services.freeze_lift(actor=staff, order=orders[i].pop(0), reason="t")
            model[i].orders.pop(0)
        elif op[0] == "suspend":
            settle_all()
            _, o, suspended = op
            services.operator_set_status(
                actor=world.checker,
                operator=world.operators[codes[o]],
                status="SUSPENDED" if suspended else "ACTIVE",
            )
            model_operators[o].suspended = suspended
        else:
            settle_all()
    settle_all()

    assert [balance(wallet) for wallet in wallets] == [m.balance for m in model]
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.totals.balanced
