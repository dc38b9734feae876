"""Sub-wallets against a plain model: random sequences of pushing (a cap, an expiry),
pulls by the merchant's staff, refunds of pulls, revoking, the expiry sweep, freezes of the
parent and the clock moving on, each by the right party or a wrong one (the holder, the
other holder, either operator's staff, the other merchant's staff, the central bank, the
system). After every step each wallet's balance (parents, children, merchants), each
sub-wallet's state and money (unspent, pulled, returned) and every transfer's outcome,
and the code of every refusal agree with the model, and money is conserved; at the end
every sub-wallet has given back what it did not spend, and the ledger verifies. Amounts
in fen."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ewallet.money import yuan
from settlement.models import Transfer, TransferKind, TransferLeg
from tests.helpers import key, settle
from tests.wallets.model_checks import (
    attempt,
    held,
    ledger_verified,
    rolled_back,
    stopped_clock,  # noqa: F401  (the `clock` fixture)
)
from tests.wallets.test_subwallets import holder_login
from wallets import selectors, services
from wallets.actors import Actor
from wallets.models import FreezeScope, SubWallet

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
PARENTS = {"alice": "ICBC", "bob": "CCB"}  # -> operator
MERCHANTS = {"rides": "ICBC", "food": "CCB"}


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Who:
    """An actor as the model knows them: whose wallet they hold, whose staff they are."""

    operator: str = ""
    holds: str = ""  # a parent wallet's name
    merchant: str = ""  # a merchant's name
    central_bank: bool = False


PEOPLE = {
    "alice": Who(holds="alice"),
    "bob": Who(holds="bob"),
    "rides staff": Who(merchant="rides"),
    "food staff": Who(merchant="food"),
    "ICBC staff": Who(operator="ICBC"),
    "CCB staff": Who(operator="CCB"),
    "central bank": Who(central_bank=True),
    "system": Who(),
}


@dataclass
class Move:
    """A transfer queued, as settlement decides it."""

    amount: int
    state: str = "RECEIVED"
    code: str = ""
    decided_at: datetime | None = None
    refunds: list["Move"] = field(default_factory=list)  # a pull's

    def counts(self) -> bool:  # what the services count: queued or settled, not rejected
        return self.state != "REJECTED"


@dataclass
class Sub:
    parent: str
    merchant: str
    expires_at: datetime
    funding: Move
    revoked: bool = False
    pulls: list[Move] = field(default_factory=list)
    returns: list[Move] = field(default_factory=list)

    def state(self, now: datetime) -> str:
        if self.revoked:
            return "REVOKED"
        return "EXPIRED" if self.expires_at <= now else "ACTIVE"

    def pulled(self) -> int:
        return sum(p.amount for p in self.pulls if p.counts())

    def returned(self) -> int:
        return sum(r.amount for r in self.returns if r.counts())

    def unspent(self) -> int:
        came = [self.funding, *(r for p in self.pulls for r in p.refunds)]
        went = [*self.pulls, *self.returns]
        return sum(m.amount for m in came if m.counts()) - sum(m.amount for m in went if m.counts())


class Model:
    """Sub-wallets as the README states them, written apart from the services: pushing
    moves the cap from the parent into a child wallet; the merchant it was pushed to
    pulls from it, while it is active, up to what is left of the cap (queued pulls
    counted); refunds of a pull go back into it; revoking it, or the sweep once it has
    expired, returns what is left to the parent, not again within an hour of a return
    the ledger refused."""

    def __init__(self, balances: dict[str, int], retry: timedelta) -> None:
        self.balance = dict(balances)
        self.total = sum(balances.values())
        self.retry = retry
        self.frozen: set[str] = set()
        self.subs: list[Sub] = []
        self.order_references: set[tuple[str, str]] = set()
        self.queue: list[tuple[str, str, Move]] = []  # (from, to, move), in order

    def child(self, k: int) -> str:
        return f"sub {k}"

    def sees_sub(self, who: Who, sub: Sub) -> bool:
        return (
            who.central_bank
            or who.operator == PARENTS[sub.parent]
            or who.holds == sub.parent
            or who.merchant == sub.merchant
        )

    def push(self, who: Who, parent: str, merchant: str, cap: int, expires_at: datetime):
        if not (who.central_bank or who.operator == PARENTS[parent] or who.holds == parent):
            return "NOT_FOUND"
        if not (who.operator == PARENTS[parent] or who.holds == parent):
            return "PERMISSION_DENIED"
        sub = Sub(parent, merchant, expires_at, Move(cap))
        self.subs.append(sub)
        self.balance[self.child(len(self.subs) - 1)] = 0
        self.queue.append((parent, self.child(len(self.subs) - 1), sub.funding))
        return ""

    def pull(self, who: Who, k: int, amount: int, order: str, now: datetime):
        sub = self.subs[k]
        if not self.sees_sub(who, sub):
            return "NOT_FOUND"
        if who.merchant != sub.merchant:
            return "PERMISSION_DENIED"
        state = sub.state(now)
        if state != "ACTIVE":
            return f"SUB_WALLET_{state}"
        if amount > sub.unspent():
            return "SUB_WALLET_EXHAUSTED"
        if order and (sub.merchant, order) in self.order_references:
            return "CONFLICT"
        if order:
            self.order_references.add((sub.merchant, order))
        pull = Move(amount)
        sub.pulls.append(pull)
        self.queue.append((self.child(k), sub.merchant, pull))
        return ""

    def refund(self, who: Who, k: int, pull: Move, amount: int) -> str:
        merchant = self.subs[k].merchant
        seen = who.central_bank or who.operator == MERCHANTS[merchant] or who.merchant == merchant
        if not seen:
            return "NOT_FOUND"
        if who.merchant != merchant:
            return "PERMISSION_DENIED"
        if pull.state != "SETTLED":
            return "NOT_REFUNDABLE"
        if amount > pull.amount - sum(r.amount for r in pull.refunds if r.counts()):
            return "REFUND_EXCEEDS_PAYMENT"
        refund = Move(amount)
        pull.refunds.append(refund)
        self.queue.append((merchant, self.child(k), refund))
        return ""

    def revoke(self, who: Who, k: int, now: datetime) -> str:
        sub = self.subs[k]
        if not self.sees_sub(who, sub):
            return "NOT_FOUND"
        if not (who.operator == PARENTS[sub.parent] or who.holds == sub.parent):
            return "PERMISSION_DENIED"
        if sub.state(now) == "ACTIVE":
            sub.revoked = True
        self.give_back(k, now)
        return ""

    def give_back(self, k: int, now: datetime) -> bool:
        sub = self.subs[k]
        left = sub.unspent()
        if left <= 0:
            return False
        last = sub.returns[-1] if sub.returns else None
        if last is not None and last.state == "REJECTED" and last.decided_at > now - self.retry:
            return False
        back = Move(left)
        sub.returns.append(back)
        self.queue.append((self.child(k), sub.parent, back))
        return True

    def sweep(self, who: Who, now: datetime) -> int | str:
        if who != PEOPLE["system"]:
            return "PERMISSION_DENIED"
        ended = [
            k
            for k, sub in enumerate(self.subs)
            if (sub.revoked or sub.expires_at <= now) and self.balance[self.child(k)] > 0
        ]
        return sum(self.give_back(k, now) for k in ended)

    def settle(self, now: datetime) -> None:
        for payer, payee, move in self.queue:
            if {payer, payee} & self.frozen:
                move.code = "WALLET_FROZEN"
            elif move.amount > self.balance[payer]:
                move.code = "INSUFFICIENT_FUNDS"
            move.state = "REJECTED" if move.code else "SETTLED"
            move.decided_at = now
            if not move.code:
                self.balance[payer] -= move.amount
                self.balance[payee] += move.amount
        self.queue.clear()

    def sub_view(self, k: int, now: datetime) -> tuple:
        sub = self.subs[k]
        returns = [(r.amount, r.state, r.code) for r in sub.returns]
        funding = (sub.funding.state, sub.funding.code)
        return sub.state(now), sub.unspent(), sub.pulled(), sub.returned(), funding, returns


# ---------------------------------------------------------------- the real thing


@dataclass
class Parties:
    wallets: dict  # name -> Wallet (parents and merchants' wallets)
    merchants: dict  # name -> Merchant
    actors: dict  # name -> Actor
    freeze_orders: dict = field(default_factory=dict)


@pytest.fixture
def parties(world, audit_key) -> Parties:
    """Alice (ICBC, 1,000) and Bob (CCB, 500) with their own logins; a ride-hailing app
    acquired by ICBC and a food-delivery app by CCB, each with its staff; both operators'
    staff, the central bank and the system."""
    rides = world.merchant("Shenzhen Rides", mcc="4121")
    food = world.merchant("Futian Food Delivery", operator="CCB", mcc="5812")
    alice = world.wallet("Alice", klass=2, load=1_000)
    bob = world.wallet("Bob", klass=2, operator="CCB", load=500)
    return Parties(
        wallets={"alice": alice, "bob": bob, "rides": rides.wallet, "food": food.wallet},
        merchants={"rides": rides.merchant, "food": food.merchant},
        actors={
            "alice": holder_login(world, alice),
            "bob": holder_login(world, bob),
            "rides staff": rides.staff,
            "food staff": food.staff,
            "ICBC staff": world.staff_of["ICBC"],
            "CCB staff": world.staff_of["CCB"],
            "central bank": world.checker,
            "system": Actor.system(),
        },
    )


def agree(p: Parties, model: Model, subs: list[SubWallet], moves: list, now) -> None:
    """Every wallet, sub-wallet and pull is as the model says, and no fen was made or
    lost."""
    accounts = {name: wallet.account_id for name, wallet in p.wallets.items()}
    accounts |= {model.child(k): sub.wallet.account_id for k, sub in enumerate(subs)}
    found = held(accounts)
    assert found == {name: (model.balance[name], 0) for name in accounts}
    # Sub-wallets move money between these wallets only: together they hold what they held.
    assert sum(balance for balance, _ in found.values()) == model.total
    rows = selectors.sub_wallets_with_money(
        SubWallet.objects.select_related("fund_transfer").filter(pk__in=[s.pk for s in subs])
    ).in_bulk()
    returns: dict[int, list] = {}
    for account, amount, state, code in (
        TransferLeg.objects.filter(
            debit_id__in=[s.wallet.account_id for s in subs],
            transfer__kind=TransferKind.SUB_WALLET_RETURN,
        )
        .order_by("transfer_id")
        .values_list("debit_id", "amount", "transfer__state", "transfer__reject_code")
    ):
        returns.setdefault(account, []).append((amount, state, code))
    views = []
    for sub in subs:
        row = rows[sub.pk]
        funding = (row.fund_transfer.state, row.fund_transfer.reject_code)
        money = (row.state, row.unspent, row.pulled, row.returned)
        views.append((*money, funding, returns.get(sub.wallet.account_id, [])))
    assert views == [model.sub_view(k, now) for k in range(len(subs))]
    # Each pull and each refund of one settled, or was refused, as the model says.
    outcomes = {
        pk: (state, code)
        for pk, state, code in Transfer.objects.filter(pk__in=[t.pk for t, _ in moves]).values_list(
            "pk", "state", "reject_code"
        )
    }
    assert [outcomes[t.pk] for t, _ in moves] == [(m.state, m.code) for _, m in moves]


def who_is(role: str, sub: Sub | None = None, parent: str = "") -> str:
    """The actor a role names: the parent's holder or operator's staff, the staff of the
    merchant the sub-wallet was pushed to or of the other one; or any actor."""
    parent = sub.parent if sub else parent
    merchant = sub.merchant if sub else ""
    other = "food" if merchant == "rides" else "rides"
    return {
        "holder": parent,
        "operator": f"{PARENTS[parent]} staff",
        "merchant's operator": f"{MERCHANTS.get(merchant, 'CCB')} staff",
        "merchant": f"{merchant} staff",
        "other merchant": f"{other} staff",
    }.get(role, role)


def amount_of(spec, reference: int) -> int:
    """A number of fen, or (what, d): the reference (what may be spent, what is left)
    plus d."""
    return spec if isinstance(spec, int) else max(1, reference + spec[1])


def near(what: str):
    return st.tuples(st.just(what), st.integers(-1, 1))


index = st.integers(0, 2) | st.integers(0, 15)  # counted back from the latest
anyone = list(PEOPLE)
OPERATIONS = {
    "push": (
        st.tuples(
            st.just("push"),
            st.sampled_from(["holder"] * 6 + ["operator"] * 3 + anyone),
            st.sampled_from(list(PARENTS)),
            st.sampled_from(list(MERCHANTS)),
            st.integers(1, yuan(300)) | st.integers(1, yuan(1_200)) | near("free"),
            st.sampled_from([DAY, 3 * DAY, 7 * DAY]),
        ),
        5,
    ),
    "pull": (
        st.tuples(
            st.just("pull"),
            st.sampled_from(["merchant"] * 10 + ["other merchant", "holder", *anyone]),
            index,
            st.integers(1, yuan(100)) | near("unspent"),
            st.sampled_from(["", "", "", "order-1", "order-2"]),
        ),
        8,
    ),
    "refund": (
        st.tuples(
            st.just("refund"),
            st.sampled_from(["merchant"] * 6 + ["other merchant", "merchant's operator", *anyone]),
            index,
            st.integers(1, yuan(50)) | near("refundable"),
        ),
        3,
    ),
    "revoke": (
        st.tuples(
            st.just("revoke"),
            st.sampled_from(["holder"] * 4 + ["operator"] * 2 + ["merchant", *anyone]),
            index,
        ),
        3,
    ),
    "freeze": (st.tuples(st.just("freeze"), st.sampled_from(list(PARENTS))), 1),  # or lift
    "advance": (
        st.tuples(
            st.just("advance"),
            st.sampled_from([10 * MINUTE, 50 * MINUTE, 6 * 60 * MINUTE] * 2 + [DAY, 3 * DAY]),
        ),
        3,
    ),
    # The clock to the next expiry, or a minute either side of it.
    "advance to": (
        st.tuples(st.just("advance to"), st.sampled_from([-MINUTE, timedelta(0), MINUTE])),
        2,
    ),
    "sweep": (st.tuples(st.just("sweep"), st.sampled_from(["system"] * 4 + ["ICBC staff"])), 3),
    "settle": (st.tuples(st.just("settle")), 6),
}
sub_wallet_operations = st.tuples(
    # Each example begins with a sub-wallet or two pushed by their holders, funded; then
    # anything may happen.
    st.lists(
        st.tuples(
            st.just("push"),
            st.just("holder"),
            st.sampled_from(list(PARENTS)),
            st.sampled_from(list(MERCHANTS)),
            st.integers(1, yuan(300)),
            st.sampled_from([DAY, 3 * DAY, 7 * DAY]),
        ),
        min_size=1,
        max_size=2,
    ),
    st.lists(
        st.sampled_from([name for name, (_, n) in OPERATIONS.items() for _ in range(n)]).flatmap(
            lambda name: OPERATIONS[name][0]
        ),
        min_size=10,
        max_size=30,
    ),
).map(lambda both: [*both[0], ("settle",), *both[1]])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=sub_wallet_operations)
# Each phase at least once in every run, as worked examples: Alice pushes 100 to the ride
# app and ...
@example(  # ... it pulls to the cap, not a fen more; refunds 20; she revokes; 20 come back, and
    # 10 refunded after that at the next sweep.
    ops=[
        ("push", "holder", "alice", "rides", yuan(100), DAY),
        ("pull", "merchant", 0, ("unspent", 1), "order-1"),
        ("pull", "merchant", 0, yuan(60), "order-1"),
        ("pull", "merchant", 0, ("unspent", 0), "order-2"),
        ("settle",),
        ("pull", "merchant", 0, 1, ""),
        ("refund", "merchant", 0, yuan(20)),
        ("refund", "merchant", 0, ("refundable", 1)),
        ("settle",),
        ("revoke", "holder", 0),
        ("pull", "merchant", 0, 1, ""),
        ("revoke", "holder", 0),
        ("settle",),
        ("refund", "merchant", 0, yuan(10)),
        ("settle",),
        ("sweep", "system"),
        ("settle",),
    ]
)
@example(  # ... it pulls 30 and the rest goes back at expiry, once; a refund after, too.
    ops=[
        ("push", "holder", "alice", "rides", yuan(100), DAY),
        ("pull", "merchant", 0, yuan(30), ""),
        ("settle",),
        ("advance to", -MINUTE),
        ("sweep", "system"),
        ("advance to", timedelta(0)),
        ("pull", "merchant", 0, 1, ""),
        ("sweep", "system"),
        ("sweep", "system"),
        ("settle",),
        ("refund", "merchant", 0, yuan(10)),
        ("sweep", "system"),
        ("settle",),
        ("sweep", "system"),
        ("settle",),
    ]
)
@example(  # ... she is frozen at expiry: the return is refused, and tried again an hour after.
    ops=[
        ("push", "holder", "alice", "rides", yuan(100), DAY),
        ("settle",),
        ("freeze", "alice"),
        ("advance to", timedelta(0)),
        ("sweep", "system"),
        ("settle",),
        ("freeze", "alice"),
        ("sweep", "system"),
        ("advance", 50 * MINUTE),
        ("revoke", "holder", 0),
        ("sweep", "system"),
        ("advance", 50 * MINUTE),
        ("sweep", "system"),
        ("settle",),
    ]
)
def test_sub_wallets_agree_with_a_plain_model(parties, clock, ops):
    with rolled_back():
        run(parties, clock, ops)


def run(p: Parties, clock, ops) -> None:
    retry = timedelta(seconds=django_settings.EWALLET_SUB_WALLET_RETRY_SECONDS)
    start = {name: wallet.account_id for name, wallet in p.wallets.items()}
    model = Model({name: balance for name, (balance, _) in held(start).items()}, retry)
    p.freeze_orders.clear()
    subs: list[SubWallet] = []
    moves: list[tuple[Transfer, Move]] = []  # each pull's and refund's transfer, and the model's
    for op in ops:
        name = op[0]
        if name == "push":
            _, role, parent, merchant, cap, lasts = op
            who = who_is(role, parent=parent)
            cap = amount_of(cap, model.balance[parent])
            expected = model.push(PEOPLE[who], parent, merchant, cap, clock.now + lasts)
            outcome = attempt(
                services.sub_wallet_push,
                actor=p.actors[who],
                parent=p.wallets[parent],
                merchant=p.merchants[merchant].code,
                cap=cap,
                expires_at=clock.now + lasts,
            )
            assert outcome.code == expected, op
            event(f"push: {expected or 'done'}")
            if outcome.value is not None:
                subs.append(outcome.value)
        elif name in ("pull", "refund", "revoke"):
            if not subs:
                continue
            k = len(subs) - 1 - op[2] % len(subs)
            sub = model.subs[k]
            who = who_is(op[1], sub)
            if name == "pull":
                _, _, _, amount, order = op
                amount = amount_of(amount, sub.unspent())
                expected = model.pull(PEOPLE[who], k, amount, order, clock.now)
                outcome = attempt(
                    services.sub_wallet_pull,
                    actor=p.actors[who],
                    sub_wallet=subs[k],
                    amount=amount,
                    idempotency_key=key("pull"),
                    order_reference=order,
                )
                assert outcome.code == expected, (op, model.sub_view(k, clock.now))
                if expected == "SUB_WALLET_EXHAUSTED":
                    assert outcome.extra == {"remaining_fen": sub.unspent()}
                if outcome.value is not None:
                    moves.append((outcome.value.transfer, sub.pulls[-1]))
            elif name == "refund":
                ours = [(t, m) for t, m in moves if any(m is q for q in sub.pulls)]
                if not ours:
                    continue
                transfer, pull = ours[len(ours) - 1 - op[2] % len(ours)]
                left = pull.amount - sum(r.amount for r in pull.refunds if r.counts())
                amount = amount_of(op[3], left)
                expected = model.refund(PEOPLE[who], k, pull, amount)
                outcome = attempt(
                    services.refund_create,
                    actor=p.actors[who],
                    original=transfer,
                    amount=amount,
                    idempotency_key=key("refund"),
                )
                assert outcome.code == expected, (op, model.sub_view(k, clock.now))
                if outcome.value is not None:
                    moves.append((outcome.value.transfer, pull.refunds[-1]))
            else:
                expected = model.revoke(PEOPLE[who], k, clock.now)
                outcome = attempt(
                    services.sub_wallet_revoke, actor=p.actors[who], sub_wallet=subs[k]
                )
            assert outcome.code == expected, (op, model.sub_view(k, clock.now))
            event(f"{name}: {expected or 'done'}")
        elif name == "freeze":
            wallet = op[1]
            staff = p.actors[f"{PARENTS[wallet]} staff"]
            if wallet in model.frozen:
                order = p.freeze_orders.pop(wallet)
                services.freeze_lift(actor=staff, order=order, reason="cleared")
                model.frozen.discard(wallet)
            else:
                p.freeze_orders[wallet] = services.wallet_freeze(
                    actor=staff, wallet=p.wallets[wallet], scope=FreezeScope.FULL, reason="review"
                )
                model.frozen.add(wallet)
        elif name == "advance":
            clock.advance(op[1])
        elif name == "advance to":
            later = [s.expires_at + op[1] for s in model.subs]
            later = [t for t in later if t > clock.now]
            if not later:
                continue
            clock.advance(min(later) - clock.now)
        elif name == "sweep":
            expected = model.sweep(PEOPLE[op[1]], clock.now)
            outcome = attempt(services.sub_wallets_expire, actor=p.actors[op[1]])
            assert (outcome.code or outcome.value) == expected, op
            event(f"sweep: {expected}")
        else:
            settle()
            model.settle(clock.now)
        agree(p, model, subs, moves, clock.now)
    settle()
    model.settle(clock.now)
    agree(p, model, subs, moves, clock.now)
    # The freezes lifted and every sub-wallet past its expiry and the retry wait, the sweep
    # gives back what every one of them did not spend.
    for wallet in list(model.frozen):
        services.freeze_lift(
            actor=p.actors[f"{PARENTS[wallet]} staff"],
            order=p.freeze_orders.pop(wallet),
            reason="cleared",
        )
        model.frozen.discard(wallet)
    clock.advance(8 * DAY)
    assert services.sub_wallets_expire(actor=Actor.system()) == model.sweep(
        PEOPLE["system"], clock.now
    )
    settle()
    model.settle(clock.now)
    agree(p, model, subs, moves, clock.now)
    assert all(sub.unspent() == 0 for sub in model.subs)
    ledger_verified()
