"""Conditional payments (escrow) against a plain model: random sequences of holding,
confirming delivery, approving, agreeing to cancel, the release and timeout sweeps,
ordinary payments, freezes and the clock moving on, each by the right party or a wrong
one (the other party, either operator's staff, a merchant's staff, the central bank, a
third party, the system). After every step each wallet's balance and reserved amount,
each escrow's state and the phases queued to decide it, and the code of every refusal
agree with the model, and money is conserved; after every example the ledger verifies.
Amounts in fen."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ewallet.money import yuan
from settlement.models import Transfer
from settlement.services import pendings_expire
from tests.helpers import key, settle
from tests.wallets.model_checks import (
    attempt,
    held,
    ledger_verified,
    refusal,
    rolled_back,
    stopped_clock,  # noqa: F401  (the `clock` fixture)
)
from tests.wallets.test_escrow import holder_actor
from wallets import services
from wallets.actors import Actor
from wallets.models import Escrow, FreezeScope

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
PAYERS = ["alice", "bob", "carol"]
WALLETS = {"alice": "ICBC", "bob": "CCB", "carol": "ICBC", "shop": "CCB"}  # -> operator


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Who:
    """An actor as the model knows them: whose wallet they hold, whose staff they are."""

    user: str = ""  # the login's name; "" for the system
    operator: str = ""
    holds: str = ""  # a wallet's name
    merchant: str = ""  # the merchant's wallet's name
    central_bank: bool = False


PEOPLE = {
    "alice": Who("alice", holds="alice"),
    "bob": Who("bob", holds="bob"),
    "carol": Who("carol", holds="carol"),
    "shop staff": Who("shop staff", merchant="shop"),
    "ICBC staff": Who("ICBC staff", operator="ICBC"),
    "CCB staff": Who("CCB staff", operator="CCB"),
    "central bank": Who("central bank", central_bank=True),
    "arbiter": Who("arbiter"),
    "system": Who(),
}


def sees_wallet(who: Who, wallet: str) -> bool:
    return (
        who.central_bank or who.operator == WALLETS[wallet] or wallet in (who.holds, who.merchant)
    )


def pays_from(who: Who, wallet: str) -> bool:
    return who.operator == WALLETS[wallet] or who.holds == wallet


def acts_for_payee(who: Who, wallet: str) -> bool:
    return who.operator == WALLETS[wallet] or wallet in (who.holds, who.merchant)


@dataclass
class Phase:
    """A release (POST) or cancellation (VOID) queued for an escrow, as settled."""

    state: str = "RECEIVED"
    code: str = ""
    decided_at: datetime | None = None


@dataclass
class Hold:
    payer: str
    payee: str
    amount: int
    condition: str
    timeout_at: datetime
    release_at: datetime | None
    approver: str
    state: str = "RECEIVED"  # its pending transfer's
    code: str = ""
    agreed: set[str] = field(default_factory=set)
    release: Phase | None = None
    void: Phase | None = None
    expiring: bool = False


ESCROW_STATE = {
    "RECEIVED": "HELD",
    "PENDING": "HELD",
    "POSTED": "RELEASED",
    "VOIDED": "CANCELLED",
    "EXPIRED": "EXPIRED",
    "REJECTED": "REFUSED",
}
ALREADY = {"POSTED": "ALREADY_POSTED", "VOIDED": "ALREADY_VOIDED", "EXPIRED": "ALREADY_EXPIRED"}


class Model:
    """Escrow as the README states it, written apart from the services: a hold reserves
    the amount on the payer's wallet when it settles (what the payer may spend is balance
    - reserved); one thing decides it, once: its condition (the payer confirms, the named
    approver approves, the release sweep once its time comes), both parties agreeing to
    cancel, or the timeout sweep; a release or cancellation queued is settled against the
    timeout and freezes, and a refused release leaves it held."""

    def __init__(self, balances: dict[str, int]) -> None:
        self.balance = dict(balances)
        self.reserved = dict.fromkeys(balances, 0)
        self.total = sum(balances.values())
        self.frozen: set[str] = set()
        self.escrows: list[Hold] = []
        self.payments: list[list[str]] = []  # [state, code] of each ordinary payment
        self.queue: list[tuple] = []  # what settlement decides next, in order

    def free(self, wallet: str) -> int:
        return self.balance[wallet] - self.reserved[wallet]

    def sees(self, who: Who, e: Hold) -> bool:
        return (
            sees_wallet(who, e.payer)
            or sees_wallet(who, e.payee)
            or (who.user != "" and who.user == e.approver)
        )

    def create(self, who, payer, payee, amount, condition, release_in, approver, timeout, now):
        if not pays_from(who, payer):
            return "PERMISSION_DENIED" if who.central_bank else "NOT_FOUND"
        if payer == payee:
            return "SAME_ACCOUNT"
        timeout_at = now + timeout
        release_at = now + release_in if condition == "RELEASE_AT" else None
        if release_at is not None and release_at >= timeout_at:
            return "INVALID_INPUT"
        if condition == "APPROVAL" and approver in (payer, payee):
            return "INVALID_INPUT"
        approving = approver if condition == "APPROVAL" else ""
        hold = Hold(payer, payee, amount, condition, timeout_at, release_at, approving)
        self.escrows.append(hold)
        self.queue.append(("hold", hold, None))
        return ""

    def not_held(self, e: Hold) -> str:
        releasing = e.release is not None and e.release.state != "REJECTED"
        if e.state not in ("RECEIVED", "PENDING") or e.void is not None or releasing:
            return "ESCROW_NOT_HELD"
        return ""

    def _release(self, e: Hold) -> None:
        e.release = Phase()
        self.queue.append(("post", e, e.release))

    def confirm(self, who: Who, e: Hold) -> str:
        if not self.sees(who, e):
            return "NOT_FOUND"
        if e.condition != "PAYER_CONFIRMS":
            return "CONDITION_NOT_MET"
        if not pays_from(who, e.payer):
            return "NOT_THE_PAYER"
        code = self.not_held(e)
        if not code:
            self._release(e)
        return code

    def approve(self, who: Who, e: Hold) -> str:
        if not self.sees(who, e):
            return "NOT_FOUND"
        if e.condition != "APPROVAL":
            return "CONDITION_NOT_MET"
        if who.user == "" or who.user != e.approver:
            return "NOT_THE_APPROVER"
        code = self.not_held(e)
        if not code:
            self._release(e)
        return code

    def cancel(self, who: Who, e: Hold) -> str:
        if not self.sees(who, e):
            return "NOT_FOUND"
        sides = {"payer"} if pays_from(who, e.payer) else set()
        if acts_for_payee(who, e.payee):
            sides.add("payee")
        if not sides:
            return "NOT_A_PARTY"
        code = self.not_held(e)
        if not code:
            e.agreed |= sides
            if e.agreed == {"payer", "payee"}:
                e.void = Phase()
                self.queue.append(("void", e, e.void))
        return code

    def release_due(self, who: Who, now: datetime, retry: timedelta) -> int | str:
        if who != PEOPLE["system"]:
            return "PERMISSION_DENIED"
        due = [
            e
            for e in self.escrows
            if e.condition == "RELEASE_AT"
            and e.release_at <= now < e.timeout_at
            and e.state in ("RECEIVED", "PENDING")
            and e.void is None
            and (
                e.release is None
                or (e.release.state == "REJECTED" and e.release.decided_at <= now - retry)
            )
        ]
        for e in sorted(due, key=lambda e: e.release_at):
            self._release(e)
        return len(due)

    def expire_due(self, now: datetime) -> int:
        due = [e for e in self.escrows if e.state == "PENDING" and e.timeout_at <= now]
        due = [e for e in due if not e.expiring]
        for e in due:
            e.expiring = True
            self.queue.append(("expire", e, None))
        return len(due)

    def pay(self, payer: str, payee: str, amount: int) -> None:
        outcome = ["RECEIVED", ""]
        self.payments.append(outcome)
        self.queue.append(("pay", (payer, payee, amount), outcome))

    def blocked(self, payer: str, payee: str) -> str:
        return "WALLET_FROZEN" if {payer, payee} & self.frozen else ""

    def move(self, payer: str, payee: str, amount: int) -> None:
        self.balance[payer] -= amount
        self.balance[payee] += amount

    def settle(self, now: datetime) -> None:
        for kind, e, phase in self.queue:
            if kind == "pay":
                payer, payee, amount = e
                code = self.blocked(payer, payee) or (
                    "INSUFFICIENT_FUNDS" if amount > self.free(payer) else ""
                )
                phase[:] = ["REJECTED", code] if code else ["SETTLED", ""]
                if not code:
                    self.move(payer, payee, amount)
            elif kind == "hold":
                e.code = self.blocked(e.payer, e.payee) or (
                    "INSUFFICIENT_FUNDS" if e.amount > self.free(e.payer) else ""
                )
                e.state = "REJECTED" if e.code else "PENDING"
                if not e.code:
                    self.reserved[e.payer] += e.amount
            else:  # a phase of a pending transfer: post, void or expire
                if e.state != "PENDING":
                    code = ALREADY.get(e.state, "PENDING_REJECTED")
                elif kind != "expire" and e.timeout_at <= now:
                    code = "PENDING_TIMED_OUT"
                else:
                    code = self.blocked(e.payer, e.payee) if kind == "post" else ""
                if phase is not None:
                    phase.state, phase.code = ("REJECTED", code) if code else ("SETTLED", "")
                    phase.decided_at = now
                if not code:
                    self.reserved[e.payer] -= e.amount
                    if kind == "post":
                        self.move(e.payer, e.payee, e.amount)
                    e.state = {"post": "POSTED", "void": "VOIDED", "expire": "EXPIRED"}[kind]
        self.queue.clear()

    def escrow_view(self, e: Hold) -> tuple:
        def phase(p):
            return None if p is None else (p.state, p.code)

        agreed = ("payer" in e.agreed, "payee" in e.agreed)
        return ESCROW_STATE[e.state], e.code, agreed, phase(e.release), phase(e.void)


# ---------------------------------------------------------------- the real thing


@dataclass
class Parties:
    wallets: dict  # name -> Wallet
    actors: dict  # name -> Actor
    usernames: dict  # approver's name in the model -> username
    freeze_orders: dict = field(default_factory=dict)


@pytest.fixture
def parties(world, audit_key) -> Parties:
    """Alice (ICBC, 1,000), Bob (CCB, 500), Carol (ICBC, 300) and a shop at CCB, with a
    login each, both operators' staff, the central bank and an arbiter."""
    shop = world.merchant("Luohu Fresh Market", operator="CCB")
    wallets = {
        "alice": world.wallet("Alice", klass=2, load=1_000),
        "bob": world.wallet("Bob", klass=2, operator="CCB", load=500),
        "carol": world.wallet("Carol", klass=2, load=300),
        "shop": shop.wallet,
    }
    actors = {name: holder_actor(wallets[name]) for name in PAYERS}
    actors |= {
        "shop staff": shop.staff,
        "ICBC staff": world.staff_of["ICBC"],
        "CCB staff": world.staff_of["CCB"],
        "central bank": world.checker,
        "arbiter": holder_actor(world.wallet("Arbiter", operator="CCB")),
        "system": Actor.system(),
    }
    usernames = {name: actors[name].user.username for name in ("alice", "carol", "arbiter")}
    return Parties(wallets, actors, usernames)


def escrow_view(escrow: Escrow) -> tuple:
    def phase(t):
        return None if t is None else (t.state, t.reject_code)

    agreed = (escrow.payer_cancelled_at is not None, escrow.payee_cancelled_at is not None)
    state = services.escrow_state(escrow)
    return state, escrow.transfer.reject_code, agreed, phase(escrow.release), phase(escrow.void)


def agree(p: Parties, model: Model, escrows: list[Escrow], payments: list[Transfer]) -> None:
    """The wallets, the escrows and the payments are as the model says, and no fen was
    made or lost."""
    accounts = {name: wallet.account_id for name, wallet in p.wallets.items()}
    found = held(accounts)
    assert found == {w: (model.balance[w], model.reserved[w]) for w in accounts}
    # Escrow moves money between these wallets only: together they hold what they held.
    assert sum(balance for balance, _ in found.values()) == model.total
    rows = Escrow.objects.select_related("transfer", "release", "void").in_bulk(
        [e.pk for e in escrows]
    )
    assert [escrow_view(rows[e.pk]) for e in escrows] == [
        model.escrow_view(e) for e in model.escrows
    ]
    rows = Transfer.objects.filter(pk__in=[t.pk for t in payments]).values_list(
        "pk", "state", "reject_code"
    )
    outcomes = {pk: [state, code] for pk, state, code in rows}
    assert [outcomes[t.pk] for t in payments] == model.payments


def who_is(role: str, payer: str, payee: str = "", approver: str = "", agreed=()) -> str:
    """The actor a role names: the payer's or payee's own login (the shop's: its staff),
    their operator's staff, the approver (the arbiter when there is none), the side that
    has not agreed to cancel yet; or any actor."""
    if role == "the other side":
        role = "payee" if "payer" in agreed else "payer"
    return {
        "payer": payer,
        "payee": "shop staff" if payee == "shop" else payee,
        "payer's operator": f"{WALLETS[payer]} staff",
        "payee's operator": f"{WALLETS[payee or payer]} staff",
        "approver": approver or "arbiter",
    }.get(role, role)


def amount_of(spec, free: int) -> int:
    """A number of fen, or ("free", d): what the payer may spend now, plus d."""
    return spec if isinstance(spec, int) else max(1, free + spec[1])


# Mostly the right party, by their role in the escrow; sometimes anyone at all.
creators = st.sampled_from(["payer"] * 10 + ["payer's operator"] * 6 + list(PEOPLE))


def deciding(name: str, *roles: str):
    return st.tuples(st.just(name), st.sampled_from([*roles, *PEOPLE]), escrow_index)


amounts = (
    st.integers(1, yuan(200))
    | st.integers(1, yuan(200))
    | st.integers(1, yuan(1_200))
    | st.tuples(st.just("free"), st.integers(-1, 1))
)
escrow_index = st.integers(0, 2) | st.integers(0, 15)  # counted back from the latest
creating = st.tuples(
    st.just("create"),
    creators,
    st.sampled_from(PAYERS),
    st.sampled_from([1, 2, 3] * 4 + [0]),  # the payee, counted on from the payer; 0: the payer
    amounts,
    st.sampled_from(["PAYER_CONFIRMS", "RELEASE_AT", "APPROVAL"]),
    st.sampled_from([30 * MINUTE, DAY]),  # when a RELEASE_AT escrow falls due
    st.sampled_from(["arbiter"] * 3 + ["carol", "alice"]),  # an APPROVAL escrow's approver
    st.sampled_from([None, None, 2 * 60 * MINUTE, 2 * DAY]),  # its timeout; None: the default
)
# Each operation's strategy, and how often it comes.
OPERATIONS = {
    "create": (creating, 6),
    "confirm": (deciding("confirm", *["payer"] * 5, "payer's operator", *["payee"] * 2), 3),
    "approve": (deciding("approve", *["approver"] * 8), 2),
    "cancel": (
        deciding(
            "cancel",
            *["payer", "payee", "the other side"] * 3,
            "payer's operator",
            "payee's operator",
        ),
        3,
    ),
    "again": (st.tuples(st.just("again"), escrow_index), 1),  # the same create, the same key
    "pay": (
        st.tuples(st.just("pay"), st.sampled_from(PAYERS), st.sampled_from(list(WALLETS)), amounts),
        2,
    ),
    "freeze": (st.tuples(st.just("freeze"), st.sampled_from(list(WALLETS))), 1),
    # or lift it
    "advance": (
        st.tuples(
            st.just("advance"),
            st.sampled_from(
                [10 * MINUTE, 60 * MINUTE, 6 * 60 * MINUTE, DAY, DAY, 3 * DAY, 8 * DAY]
            ),
        ),
        2,
    ),
    # The clock to the next RELEASE_AT escrow's time or the next hold's timeout, or a
    # minute either side of it.
    "advance to": (
        st.tuples(
            st.just("advance to"),
            st.sampled_from(["release", "timeout"]),
            st.sampled_from([-MINUTE, timedelta(0), timedelta(0), MINUTE]),
        ),
        2,
    ),
    "release sweep": (
        st.tuples(st.just("release sweep"), st.sampled_from(["system"] * 4 + ["CCB staff"])),
        3,
    ),
    "timeout sweep": (st.tuples(st.just("timeout sweep")), 2),
    "settle": (st.tuples(st.just("settle")), 4),
}
escrow_operations = st.tuples(
    # Each example begins with an escrow or three made by their payers, held; then anything
    # may happen.
    st.lists(creating.map(lambda op: (op[0], "payer", *op[2:])), min_size=1, max_size=3),
    st.lists(
        st.sampled_from([name for name, (_, n) in OPERATIONS.items() for _ in range(n)]).flatmap(
            lambda name: OPERATIONS[name][0]
        ),
        min_size=10,
        max_size=40,
    ),
).map(lambda both: [*both[0], ("settle",), *both[1]])


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=escrow_operations)
# Each phase at least once in every run, as worked examples: Alice holds 100 for Bob and ...
@example(  # ... it is released by the sweep at its time, not a minute before, and once.
    ops=[
        ("create", "payer", "alice", 1, yuan(100), "RELEASE_AT", 30 * MINUTE, "", None),
        ("settle",),
        ("advance to", "release", -MINUTE),
        ("release sweep", "system"),
        ("advance to", "release", timedelta(0)),
        ("release sweep", "system"),
        ("release sweep", "system"),
        ("settle",),
    ]
)
@example(  # ... Bob may not confirm it for her; both agree to cancel it (Bob twice); nothing
    # releases it then, even before the cancellation settles.
    ops=[
        ("create", "payer", "alice", 1, yuan(100), "PAYER_CONFIRMS", DAY, "", None),
        ("settle",),
        ("confirm", "payee", 0),
        ("cancel", "payee", 0),
        ("cancel", "payee", 0),
        ("cancel", "the other side", 0),
        ("confirm", "payer", 0),
        ("settle",),
        ("cancel", "payee", 0),
    ]
)
@example(  # ... to the shop, on the arbiter's approval, which neither party may give.
    ops=[
        ("create", "payer's operator", "alice", 3, yuan(100), "APPROVAL", DAY, "arbiter", None),
        ("approve", "payer", 0),
        ("approve", "shop staff", 0),
        ("confirm", "payer", 0),
        ("settle",),
        ("approve", "approver", 0),
        ("settle",),
    ]
)
@example(  # ... confirmed at its timeout: too late, the sweep expires it.
    ops=[
        ("create", "payer", "alice", 1, yuan(100), "PAYER_CONFIRMS", DAY, "", 120 * MINUTE),
        ("settle",),
        ("advance to", "timeout", timedelta(0)),
        ("confirm", "payer", 0),
        ("settle",),
        ("timeout sweep",),
        ("timeout sweep",),
        ("settle",),
    ]
)
@example(  # ... due at its time, which is its timeout: the sweep leaves it to expire.
    ops=[
        ("create", "payer", "alice", 1, yuan(100), "RELEASE_AT", 30 * MINUTE, "", 120 * MINUTE),
        ("advance to", "timeout", -MINUTE),
        ("settle",),
        ("advance to", "timeout", timedelta(0)),
        ("release sweep", "system"),
        ("timeout sweep",),
        ("settle",),
    ]
)
@example(  # ... due while Bob's wallet is frozen: the sweep tries again an hour after.
    ops=[
        ("create", "payer", "alice", 1, yuan(100), "RELEASE_AT", 30 * MINUTE, "", None),
        ("settle",),
        ("freeze", "bob"),
        ("advance to", "release", timedelta(0)),
        ("release sweep", "system"),
        ("settle",),
        ("freeze", "bob"),
        ("release sweep", "system"),
        ("advance", 40 * MINUTE),
        ("release sweep", "system"),
        ("advance", 40 * MINUTE),
        ("release sweep", "system"),
        ("settle",),
    ]
)
@example(  # ... Bob's wallet frozen: the release is refused, and done again once it is lifted.
    ops=[
        ("create", "payer", "alice", 1, yuan(100), "PAYER_CONFIRMS", DAY, "", None),
        ("settle",),
        ("freeze", "bob"),
        ("confirm", "payer", 0),
        ("settle",),
        ("freeze", "bob"),
        ("confirm", "payer", 0),
        ("settle",),
    ]
)
def test_escrows_agree_with_a_plain_model(parties, clock, ops):
    with rolled_back():
        run(parties, clock, ops)


def run(p: Parties, clock, ops) -> None:
    default_timeout = timedelta(seconds=django_settings.EWALLET_ESCROW_TIMEOUT_SECONDS)
    retry = timedelta(seconds=django_settings.EWALLET_ESCROW_RETRY_SECONDS)
    accounts = {name: wallet.account_id for name, wallet in p.wallets.items()}
    model = Model({name: balance for name, (balance, _) in held(accounts).items()})
    p.freeze_orders.clear()
    escrows: list[Escrow] = []
    created: list[dict] = []  # each escrow's create call, to make again
    payments: list[Transfer] = []
    for op in ops:
        name = op[0]
        if name == "create":
            _, who, payer, step, amount, condition, release_in, approver, timeout = op
            names = list(WALLETS)
            payee = names[(names.index(payer) + step) % len(names)]
            who = who_is(who, payer)
            amount = amount_of(amount, model.free(payer))
            timeout = timeout or default_timeout
            call = dict(
                actor=p.actors[who],
                payer=p.wallets[payer].number,
                payee=p.wallets[payee].number,
                amount=amount,
                condition=condition,
                idempotency_key=key("escrow"),
                release_at=clock.now + release_in if condition == "RELEASE_AT" else None,
                approver=p.usernames[approver] if condition == "APPROVAL" else None,
                timeout=timeout,
            )
            expected = model.create(
                PEOPLE[who],
                payer,
                payee,
                amount,
                condition,
                release_in,
                approver,
                timeout,
                clock.now,
            )
            outcome = attempt(services.escrow_create, **call)
            assert outcome.code == expected, op
            event(f"create {condition}: {outcome.code or 'held'}")
            if outcome.value is not None:
                escrows.append(outcome.value)
                created.append(call)
        elif name in ("confirm", "approve", "cancel"):
            if not escrows:
                continue
            _, who, k = op
            k = len(escrows) - 1 - k % len(escrows)
            e = model.escrows[k]
            who = who_is(who, e.payer, e.payee, e.approver, e.agreed)
            expected = getattr(model, name)(PEOPLE[who], e)
            service = getattr(services, f"escrow_{name}")
            got = refusal(service, actor=p.actors[who], escrow=escrows[k])
            assert got == expected, (op, model.escrow_view(e))
            event(f"{name}: {got or 'done'}")
        elif name == "again":
            if not escrows:
                continue
            k = len(escrows) - 1 - op[1] % len(escrows)
            assert services.escrow_create(**created[k]).pk == escrows[k].pk
        elif name == "pay":
            _, payer, payee, amount = op
            if payer == payee:
                continue
            amount = amount_of(amount, model.free(payer))
            transfer, _, _ = services.payment_submit(
                actor=p.actors[f"{WALLETS[payer]} staff"],
                payer=p.wallets[payer].number,
                payee=p.wallets[payee].number,
                amount=amount,
                idempotency_key=key("pay"),
            )
            payments.append(transfer)
            model.pay(payer, payee, amount)
        elif name == "freeze":
            wallet = op[1]
            staff = p.actors[f"{WALLETS[wallet]} staff"]
            if wallet in model.frozen:
                services.freeze_lift(
                    actor=staff, order=p.freeze_orders.pop(wallet), reason="cleared"
                )
                model.frozen.discard(wallet)
            else:
                p.freeze_orders[wallet] = services.wallet_freeze(
                    actor=staff, wallet=p.wallets[wallet], scope=FreezeScope.FULL, reason="review"
                )
                model.frozen.add(wallet)
        elif name == "advance":
            clock.advance(op[1])
        elif name == "advance to":
            _, what, nudge = op
            held_ = [e for e in model.escrows if e.state in ("RECEIVED", "PENDING")]
            times = [e.release_at for e in held_ if e.release_at] if what == "release" else []
            times += [e.timeout_at for e in held_] if what == "timeout" else []
            later = [t + nudge for t in times if t + nudge > clock.now]
            if not later:
                continue
            clock.advance(min(later) - clock.now)
        elif name == "release sweep":
            who = op[1]
            expected = model.release_due(PEOPLE[who], clock.now, retry)
            outcome = attempt(services.escrows_release_due, actor=p.actors[who])
            assert (outcome.code or outcome.value) == expected, op
            event(f"release sweep: {outcome.code or outcome.value}")
        elif name == "timeout sweep":
            assert pendings_expire() == model.expire_due(clock.now)
        else:
            settle()
            model.settle(clock.now)
        agree(p, model, escrows, payments)
    settle()
    model.settle(clock.now)
    agree(p, model, escrows, payments)
    # Past every timeout the sweep ends every hold still standing: nothing stays reserved.
    clock.advance(default_timeout + DAY)
    assert pendings_expire() == model.expire_due(clock.now)
    settle()
    model.settle(clock.now)
    agree(p, model, escrows, payments)
    assert set(model.reserved.values()) == {0}
    for e in model.escrows:
        event(f"escrow ends {ESCROW_STATE[e.state]}")
    assert all(e.state not in ("RECEIVED", "PENDING") for e in model.escrows)
    ledger_verified()
