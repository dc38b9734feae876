"""Random movements against the ledger and against a plain Python model of the rules.

The model below is written from the rules as the README states them, independently of
settlement/rules.py: the payer's status, the payee's, single and daily limits, funds, then
the payee's balance cap.
Every example opens fresh wallets, runs random loads, payments and status changes through
the real services and settlement, and compares every decision and balance to the fen.
"""

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewallet.money import yuan
from settlement.audit.verify import audit_verify
from settlement.models import AccountStatus
from tests.helpers import balance, key, settle
from wallets import services
from wallets.models import WalletClass


@dataclass
class ModelWallet:
    balance: int
    status: str
    cap: int | None
    single: int | None
    daily: int | None
    spent_today: int = 0

    def pay(self, payee: "ModelWallet", amount: int) -> str:
        if self.status in ("FROZEN", "RECEIVE_ONLY"):  # the payer may not send
            return f"WALLET_{self.status}"
        if payee.status == "FROZEN":  # the payee may not receive
            return "WALLET_FROZEN"
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
        if self.cap is not None and self.balance + amount > self.cap:
            return "LIMIT_BALANCE"
        self.balance += amount
        return ""


WALLETS = 4
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
            st.just("status"),
            st.integers(0, WALLETS - 1),
            st.sampled_from(["ACTIVE", "FROZEN", "RECEIVE_ONLY"]),
        ),
        st.tuples(st.just("settle")),
    ),
    min_size=20,
    max_size=60,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(classes=st.lists(st.integers(2, 4), min_size=WALLETS, max_size=WALLETS), ops=operations)
def test_ledger_agrees_with_a_plain_model(world, classes, ops):
    wallets, model = [], []
    for i, klass in enumerate(classes):
        wallet = world.wallet(f"P{i}", klass=klass, operator=("ICBC", "CCB")[i % 2], load=1_000)
        limits = WalletClass.objects.get(number=klass)
        wallets.append(wallet)
        model.append(
            ModelWallet(
                yuan(1_000), "ACTIVE", limits.balance_cap, limits.single_limit, limits.daily_limit
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
            transfer = services.payment_submit(
                payer=wallets[i], payee=wallets[j], amount=amount, idempotency_key=key("prop")
            )
            pending.append((transfer, lambda i=i, j=j, a=amount: model[i].pay(model[j], a)))
        elif op[0] == "load":
            _, i, amount = op
            transfer = services.wallet_load(
                actor=world.staff, wallet=wallets[i], amount=amount, idempotency_key=key("load")
            )
            pending.append((transfer, lambda i=i, a=amount: model[i].load(a)))
        elif op[0] == "status":
            # Status is read when a batch settles, so settle what is queued first.
            settle_all()
            _, i, status = op
            services.wallet_set_status(
                actor=world.staff, wallet=wallets[i], status=AccountStatus(status), reason="test"
            )
            model[i].status = status
        else:
            settle_all()
    settle_all()

    assert [balance(wallet) for wallet in wallets] == [m.balance for m in model]
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.totals.balanced
