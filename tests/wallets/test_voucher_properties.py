"""Consumption vouchers (Shenzhen 2020) against a plain model: random sequences of setting
programmes up, funding them, applying, drawing the seeded lottery, QR payments at
merchants the vouchers are or are not for (category, region, window), refunds, freezes of
a payer, the expiry sweep and the clock moving on, each by the right party or a wrong one
(central-bank policy staff or another of the central bank, either operator's staff, a
holder, a merchant's staff, the system). After every step every balance (the government,
the payers, the merchants, each programme and each voucher), each programme's status,
every transfer's outcome and the code of every refusal agree with the model, and money is
conserved; at the end the unspent value is back with the government, each programme's
totals are what the model counted, and the ledger verifies. Amounts in fen."""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ewallet.money import yuan
from settlement.models import Transfer, TransferLeg
from tests.helpers import key, settle
from tests.wallets.model_checks import (
    attempt,
    held,
    ledger_verified,
    rolled_back,
    stopped_clock,  # noqa: F401  (the `clock` fixture)
)
from tests.wallets.test_escrow import holder_actor
from wallets import selectors, services
from wallets.actors import Actor
from wallets.models import FreezeScope, VoucherGrant, VoucherProgramme

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
PAYERS = {"alice": "ICBC", "bob": "CCB", "carol": "ICBC"}  # -> operator
WALLETS = {"government": "ICBC", **PAYERS}
SHOPS = {  # -> operator, category, region
    "grocer": ("ICBC", "5411", "440303"),
    "diner": ("CCB", "5812", "440303"),
    "hotel": ("ICBC", "7011", "440303"),  # a category no programme here allows
    "futian": ("CCB", "5411", "440304"),  # a region no programme here allows
}
REGIONS = ["440303"]


def operator_of(wallet: str) -> str:
    return WALLETS[wallet] if wallet in WALLETS else SHOPS[wallet][0]


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Who:
    """An actor as the model knows them."""

    operator: str = ""
    holds: str = ""
    merchant: str = ""
    central_bank: bool = False
    policy: bool = False
    system: bool = False


PEOPLE = {
    "policy": Who(central_bank=True, policy=True),
    "central bank": Who(central_bank=True),
    "ICBC staff": Who(operator="ICBC"),
    "CCB staff": Who(operator="CCB"),
    "alice": Who(holds="alice"),
    **{f"{shop} staff": Who(merchant=shop) for shop in SHOPS},
    "system": Who(system=True),
}


def pays_from(who: Who, wallet: str) -> bool:
    return who.operator == operator_of(wallet) or who.holds == wallet


@dataclass
class Move:
    """A transfer queued, as settlement decides it."""

    kind: str
    legs: list[tuple[str, str, int]]  # (from, to, fen)
    state: str = "RECEIVED"
    code: str = ""

    def counts(self) -> bool:
        return self.state != "REJECTED"


@dataclass
class Grant:
    wallet: str
    account: str
    move: Move
    number: int  # in the order they were made (their ids' order)


@dataclass
class Programme:
    voucher: int
    count: int
    mccs: list[str]
    valid_from: datetime
    valid_until: datetime
    seed: int
    account: str
    status: str = "OPEN"
    funding: Move | None = None
    applications: list[tuple[int, str]] = field(default_factory=list)  # (id, wallet)
    grants: list[Grant] = field(default_factory=list)


@dataclass
class Payment:
    payer: str
    shop: str
    move: Move
    refunds: list[Move] = field(default_factory=list)

    def own(self) -> int:  # what the payer's wallet paid, not its vouchers
        return sum(amount for payer, _, amount in self.move.legs if payer == self.payer)


class Model:
    """Vouchers as the README states them, written apart from the services: a programme
    funded once from the government's wallet; a wallet applies once, until the draw and
    within the window; the draw (once funded) grants `random.Random(seed).sample` of the
    application ids in ascending order, at most `count`; a QR payment at a merchant of an
    allowed category and region within the window takes the payer's vouchers first, the
    soonest to expire first, not counting what payments still queued take, and the
    wallet's own balance for the rest, in one transfer; a refund gives back only what the
    wallet paid; past the window the sweep returns each voucher's unspent balance to the
    programme and the programme's to the government, once nothing queued moves them."""

    def __init__(self, balances: dict[str, int]) -> None:
        self.balance = dict(balances)
        self.total = sum(balances.values())
        self.frozen: set[str] = set()
        self.programmes: list[Programme] = []
        self.payments: list[Payment] = []
        self.queue: list[Move] = []
        self.settled: list[Move] = []
        self.grants_made = 0

    def create(self, who: Who, voucher, count, mccs, valid_from, valid_until, seed) -> str:
        if not who.policy:
            return "PERMISSION_DENIED"
        account = f"programme {len(self.programmes)}"
        self.programmes.append(
            Programme(voucher, count, mccs, valid_from, valid_until, seed, account)
        )
        self.balance[account] = 0
        return ""

    def fund(self, who: Who, k: int) -> str:
        programme = self.programmes[k]
        if not pays_from(who, "government"):
            return "NOT_FOUND"
        if programme.funding is not None and programme.funding.counts():
            return ""
        if programme.status != "OPEN":
            return "INVALID_STATE"
        total = programme.voucher * programme.count
        programme.funding = self.queued("VOUCHER_FUND", ("government", programme.account, total))
        return ""

    def apply(self, who: Who, k: int, wallet: str, application: int | None, now) -> str:
        programme = self.programmes[k]
        if not pays_from(who, wallet):
            return "NOT_FOUND"
        if wallet in SHOPS:
            return "INVALID_INPUT"
        if programme.status != "OPEN" or programme.valid_until <= now:
            return "VOUCHER_APPLICATIONS_CLOSED"
        if any(w == wallet for _, w in programme.applications):
            return "VOUCHER_ALREADY_APPLIED"
        programme.applications.append((application, wallet))
        return ""

    def draw(self, who: Who, k: int) -> str:
        programme = self.programmes[k]
        if not who.policy:
            return "PERMISSION_DENIED"
        if programme.status != "OPEN":
            return ""
        if programme.funding is None or programme.funding.state != "SETTLED":
            return "VOUCHER_NOT_FUNDED"
        ids = sorted(a for a, _ in programme.applications)
        winners = random.Random(programme.seed).sample(ids, min(programme.count, len(ids)))
        wallet_of = dict(programme.applications)
        for application in winners:
            wallet = wallet_of[application]
            account = f"voucher {k} {wallet}"
            self.balance[account] = 0
            leg = (programme.account, account, programme.voucher)
            grant = Grant(wallet, account, self.queued("VOUCHER_GRANT", leg), self.grants_made)
            self.grants_made += 1
            programme.grants.append(grant)
        programme.status = "DRAWN"
        return ""

    def winners(self, k: int) -> list[str]:
        return [g.wallet for g in self.programmes[k].grants]

    def pay(self, who: Who, payer: str, shop: str, amount: int, now: datetime) -> str:
        if not pays_from(who, payer):
            return "NOT_FOUND"
        _, mcc, region = SHOPS[shop]
        in_force = [
            (p.valid_until, g.number, g.account)
            for p in self.programmes
            for g in p.grants
            if g.wallet == payer
            and p.status == "DRAWN"
            and p.valid_from <= now < p.valid_until
            and mcc in p.mccs
            and region in REGIONS
        ]
        legs, left = [], amount
        if payer not in self.frozen:
            for _, _, account in sorted(in_force):
                queued = sum(a for m in self.queue for d, _, a in m.legs if d == account)
                take = min(left, self.balance[account] - queued)
                if take > 0:
                    legs.append((account, shop, take))
                    left -= take
        if left:
            legs.append((payer, shop, left))
        self.payments.append(Payment(payer, shop, self.queued("MERCHANT", *legs)))
        return ""

    def refund(self, who: Who, payment: Payment, amount: int) -> str:
        operator = SHOPS[payment.shop][0]
        if not (who.central_bank or who.operator == operator or who.merchant == payment.shop):
            return "NOT_FOUND"
        if who.merchant != payment.shop:
            return "PERMISSION_DENIED"
        if payment.move.state != "SETTLED":
            return "NOT_REFUNDABLE"
        if amount > payment.own() - sum(sum(a for *_, a in r.legs) for r in payment.refunds):
            return "REFUND_EXCEEDS_PAYMENT"
        payment.refunds.append(self.queued("REFUND", (payment.shop, payment.payer, amount)))
        return ""

    def still_moving(self, programme: Programme) -> bool:
        accounts = {programme.account, *(g.account for g in programme.grants)}
        return any(d in accounts or c in accounts for m in self.queue for d, c, _ in m.legs)

    def sweep(self, who: Who, now: datetime) -> int | str:
        if not (who.system or who.policy):
            return "PERMISSION_DENIED"
        swept = 0
        for programme in self.programmes:
            if programme.status != "DRAWN" or programme.valid_until > now:
                continue
            if self.still_moving(programme):
                continue
            back = self.balance[programme.account]
            for grant in programme.grants:
                if self.balance[grant.account] > 0:
                    leg = (grant.account, programme.account, self.balance[grant.account])
                    self.queued("VOUCHER_RETURN", leg)
                    back += leg[2]
            if back:
                self.queued("VOUCHER_RETURN", (programme.account, "government", back))
            programme.status = "CLOSED"
            swept += 1
        return swept

    def queued(self, kind: str, *legs) -> Move:
        move = Move(kind, list(legs))
        self.queue.append(move)
        return move

    def settle(self) -> None:
        for move in self.queue:
            paying = defaultdict(int)
            for debit, credit, amount in move.legs:
                paying[debit] += amount
                if {debit, credit} & self.frozen:
                    move.code = move.code or "WALLET_FROZEN"
            if not move.code and any(a > self.balance[d] for d, a in paying.items()):
                move.code = "INSUFFICIENT_FUNDS"
            move.state = "REJECTED" if move.code else "SETTLED"
            if not move.code:
                for debit, credit, amount in move.legs:
                    self.balance[debit] -= amount
                    self.balance[credit] += amount
                self.settled.append(move)
        self.queue.clear()

    def totals(self, k: int) -> selectors.VoucherTotals:
        """What selectors.voucher_programme_totals reads from the ledger, as counted here."""
        programme = self.programmes[k]
        vouchers = {g.account for g in programme.grants}
        sums: dict[str, int] = defaultdict(int)
        for move in self.settled:
            for debit, credit, amount in move.legs:
                if move.kind == "VOUCHER_FUND" and credit == programme.account:
                    sums["funded"] += amount
                elif move.kind == "VOUCHER_GRANT" and debit == programme.account:
                    sums["granted"] += amount
                elif move.kind == "MERCHANT" and debit in vouchers:
                    sums["spent"] += amount
                elif move.kind == "VOUCHER_RETURN" and credit == programme.account:
                    sums["returned"] += amount
                elif move.kind == "VOUCHER_RETURN" and debit == programme.account:
                    sums["returned_to_government"] += amount
        return selectors.VoucherTotals(
            **{name: sums[name] for name in ("funded", "granted", "spent", "returned")},
            returned_to_government=sums["returned_to_government"],
            outstanding=sum(self.balance[a] for a in vouchers),
            winners=len(programme.grants),
        )


# ---------------------------------------------------------------- the real thing


@dataclass
class Parties:
    wallets: dict  # name -> Wallet (the government, payers and merchants' wallets)
    shops: dict  # name -> MerchantAt
    actors: dict  # name -> Actor
    freeze_orders: dict = field(default_factory=dict)


@pytest.fixture
def parties(world, audit_key) -> Parties:
    """The Luohu district government's wallet (ICBC, class 1, 2,000); Alice (ICBC, 300,
    with a login of her own), Bob (CCB, 300) and Carol (ICBC, 50); a grocer and a hotel
    acquired by ICBC, a diner and a supermarket in Futian by CCB, each with its staff;
    central-bank policy staff and an approver, both operators' staff, and the system."""
    shops = {
        name: world.merchant(name.title(), operator=operator, mcc=mcc, region=region)
        for name, (operator, mcc, region) in SHOPS.items()
    }
    wallets = {
        "government": world.wallet("Luohu District Government", klass=1, load=2_000),
        "alice": world.wallet("Alice", load=300),
        "bob": world.wallet("Bob", operator="CCB", load=300),
        "carol": world.wallet("Carol", load=50),
    }
    wallets |= {name: shop.wallet for name, shop in shops.items()}
    actors = {
        "policy": world.policy,
        "central bank": world.checker,
        "ICBC staff": world.staff_of["ICBC"],
        "CCB staff": world.staff_of["CCB"],
        "alice": holder_actor(wallets["alice"]),
        **{f"{name} staff": shop.staff for name, shop in shops.items()},
        "system": Actor.system(),
    }
    return Parties(wallets, shops, actors)


@dataclass
class Seen:
    """What the test made, beside the model: the rows, and each model transfer's."""

    programmes: list = field(default_factory=list)  # VoucherProgramme, as the model's
    accounts: dict = field(default_factory=dict)  # model's name -> ledger account id
    transfers: list = field(default_factory=list)  # (Transfer id, Move)
    payments: list = field(default_factory=list)  # Transfer, as model.payments


def agree(model: Model, seen: Seen) -> None:
    """Every balance, programme and transfer is as the model says, and no fen was made or
    lost."""
    found = held(seen.accounts)
    assert found == {name: (model.balance[name], 0) for name in seen.accounts}
    # Vouchers move money between these accounts only: together they hold what they held.
    assert sum(balance for balance, _ in found.values()) == model.total
    statuses = dict(
        VoucherProgramme.objects.filter(pk__in=[p.pk for p in seen.programmes]).values_list(
            "pk", "status"
        )
    )
    assert [statuses[p.pk] for p in seen.programmes] == [p.status for p in model.programmes]
    outcomes = {
        pk: (state, code)
        for pk, state, code in Transfer.objects.filter(
            pk__in=[pk for pk, _ in seen.transfers]
        ).values_list("pk", "state", "reject_code")
    }
    assert [outcomes[pk] for pk, _ in seen.transfers] == [
        (m.state, m.code) for _, m in seen.transfers
    ]


def amount_of(spec, reference: int) -> int:
    """A number of fen, or (what, d): the reference (what the payer's vouchers and wallet
    hold, what is left to refund) plus d."""
    return spec if isinstance(spec, int) else max(1, reference + spec[1])


def near(what: str):
    return st.tuples(st.just(what), st.integers(-1, 1))


index = st.integers(0, 1) | st.integers(0, 5)  # counted back from the latest
anyone = list(PEOPLE)
OPERATIONS = {
    "create": (
        st.tuples(
            st.just("create"),
            st.sampled_from(["policy"] * 6 + anyone),
            st.sampled_from([yuan(50), yuan(200), 12_345]),  # each voucher
            st.integers(1, 3),  # how many
            st.sampled_from([["5411", "5812"], ["5411"]]),
            st.sampled_from([-60 * MINUTE, 60 * MINUTE]),  # from when, from now
            st.sampled_from([DAY, 7 * DAY]),  # for how long
            st.integers(0, 2**31),  # the lottery's seed
        ),
        2,
    ),
    "fund": (
        st.tuples(st.just("fund"), st.sampled_from(["ICBC staff"] * 6 + anyone), index),
        2,
    ),
    "apply": (
        st.tuples(
            st.just("apply"),
            st.sampled_from(["operator"] * 6 + anyone),
            index,
            st.sampled_from([*PAYERS, *PAYERS, "grocer"]),
        ),
        4,
    ),
    "draw": (st.tuples(st.just("draw"), st.sampled_from(["policy"] * 4 + anyone), index), 2),
    "pay": (
        st.tuples(
            st.just("pay"),
            st.sampled_from(["operator"] * 8 + ["other operator"]),
            st.sampled_from(list(PAYERS)),
            st.sampled_from(["grocer", "grocer", "diner", "hotel", "futian"]),
            st.integers(1, yuan(150)) | st.integers(1, yuan(500)) | near("vouchers"),
        ),
        6,
    ),
    "refund": (
        st.tuples(
            st.just("refund"),
            st.sampled_from(["merchant"] * 6 + ["other merchant", *anyone]),
            index,
            st.integers(1, yuan(100)) | near("refundable"),
        ),
        2,
    ),
    "freeze": (st.tuples(st.just("freeze"), st.sampled_from(list(PAYERS))), 1),  # or lift
    "advance": (
        st.tuples(
            st.just("advance"), st.sampled_from([10 * MINUTE, 50 * MINUTE, 6 * 60 * MINUTE, DAY])
        ),
        2,
    ),
    # The clock to the next start or end of a programme's window, or a minute either side.
    "advance to": (
        st.tuples(st.just("advance to"), st.sampled_from([-MINUTE, timedelta(0), MINUTE])),
        2,
    ),
    "sweep": (
        st.tuples(st.just("sweep"), st.sampled_from(["system"] * 3 + ["policy", "ICBC staff"])),
        2,
    ),
    "settle": (st.tuples(st.just("settle")), 6),
}


@st.composite
def programme_set_up(draw) -> list[tuple]:
    """A programme set up by policy staff: funded, applied for and drawn, mostly."""
    terms = [draw(OPERATIONS["create"][0].map(lambda op: op[2:]))]
    ops = [("create", "policy", *terms[0])]
    if draw(st.sampled_from([True] * 4 + [False])):
        ops += [("fund", "ICBC staff", 0), ("settle",)]
    applicants = st.lists(st.sampled_from(list(PAYERS)), min_size=1, unique=True)
    ops += [("apply", "operator", 0, wallet) for wallet in draw(applicants)]
    if draw(st.sampled_from([True] * 4 + [False])):
        ops += [("draw", "policy", 0), ("settle",)]
    return ops


voucher_operations = st.tuples(
    # Each example begins with a programme or two set up, then anything may happen.
    st.lists(programme_set_up(), min_size=1, max_size=3),
    st.lists(
        st.sampled_from([name for name, (_, n) in OPERATIONS.items() for _ in range(n)]).flatmap(
            lambda name: OPERATIONS[name][0]
        ),
        min_size=10,
        max_size=40,
    ),
).map(lambda both: [op for set_up in both[0] for op in set_up] + both[1])
# Alice and Bob win a programme of 200 each, open since an hour ago, for a week ...
LUOHU = [
    ("create", "policy", yuan(200), 2, ["5411", "5812"], -60 * MINUTE, 7 * DAY, 20201012),
    ("fund", "ICBC staff", 0),
    ("settle",),
    ("apply", "operator", 0, "alice"),
    ("apply", "operator", 0, "bob"),
    ("draw", "policy", 0),
    ("settle",),
]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=voucher_operations)
@example(  # ... Alice pays 236.80 at the grocer (200 of it the voucher's), then 12.50 of her
    # own; Bob pays at the hotel and in Futian from his own; the grocer refunds Alice only
    # what her wallet paid; at the end of the window Bob's 200 goes back, and on to the
    # government with the programme's rest.
    ops=[
        *LUOHU,
        ("pay", "operator", "alice", "grocer", 23_680),
        ("pay", "operator", "alice", "grocer", 1_250),
        ("settle",),
        ("pay", "operator", "bob", "hotel", yuan(100)),
        ("pay", "operator", "bob", "futian", yuan(100)),
        ("settle",),
        ("refund", "merchant", 3, ("refundable", 1)),
        ("refund", "merchant", 3, ("refundable", 0)),
        ("advance to", -MINUTE),
        ("sweep", "system"),
        ("advance to", timedelta(0)),
        ("pay", "operator", "bob", "grocer", yuan(10)),
        ("sweep", "system"),
        ("settle",),
        ("sweep", "system"),
    ]
)
@example(  # ... two payments queued together do not both count on Alice's voucher; a third
    # queued at the end of the window holds the sweep back until it settles.
    ops=[
        *LUOHU,
        ("pay", "operator", "alice", "diner", yuan(150)),
        ("pay", "operator", "alice", "grocer", yuan(100)),
        ("settle",),
        ("advance to", -MINUTE),
        ("pay", "operator", "bob", "grocer", yuan(20)),
        ("advance to", timedelta(0)),
        ("sweep", "system"),
        ("settle",),
        ("sweep", "policy"),
        ("settle",),
    ]
)
@example(  # ... Bob's wallet is frozen: he spends no voucher either, until it is lifted.
    ops=[
        *LUOHU,
        ("freeze", "bob"),
        ("pay", "operator", "bob", "grocer", yuan(50)),
        ("settle",),
        ("freeze", "bob"),
        ("pay", "operator", "bob", "grocer", yuan(50)),
        ("settle",),
    ]
)
@example(  # ... and Alice wins a programme of a day's 50 too: she pays 100 at the grocer,
    # the day's voucher first, then 30 at the diner, which only the week's allows.
    ops=[
        *LUOHU,
        ("create", "policy", yuan(50), 1, ["5411"], -60 * MINUTE, DAY, 7),
        ("fund", "ICBC staff", 0),
        ("settle",),
        ("apply", "operator", 0, "alice"),
        ("draw", "policy", 0),
        ("settle",),
        ("pay", "operator", "alice", "grocer", yuan(100)),
        ("pay", "operator", "alice", "diner", yuan(30)),
        ("settle",),
    ]
)
@example(  # ... no draw before the funding settles, nor applications after the draw; Carol
    # pays with her own money before the window opens, with the voucher once it has.
    ops=[
        ("create", "policy", yuan(50), 1, ["5411"], 60 * MINUTE, DAY, 7),
        ("apply", "operator", 0, "carol"),
        ("apply", "operator", 0, "carol"),
        ("apply", "operator", 0, "grocer"),
        ("apply", "CCB staff", 0, "alice"),
        ("draw", "policy", 0),
        ("fund", "ICBC staff", 0),
        ("draw", "policy", 0),
        ("settle",),
        ("draw", "central bank", 0),
        ("draw", "policy", 0),
        ("apply", "operator", 0, "bob"),
        ("draw", "policy", 0),
        ("settle",),
        ("pay", "operator", "carol", "grocer", yuan(10)),
        ("advance to", timedelta(0)),
        ("pay", "operator", "carol", "grocer", yuan(10)),
        ("settle",),
    ]
)
@example(  # ... a programme nobody draws in time: applications close at the end of its
    # window; drawn after it, its one voucher goes back at the next sweep.
    ops=[
        ("create", "policy", yuan(50), 1, ["5411"], -60 * MINUTE, DAY, 3),
        ("apply", "operator", 0, "alice"),
        ("advance to", -MINUTE),
        ("apply", "operator", 0, "bob"),
        ("advance to", timedelta(0)),
        ("apply", "operator", 0, "carol"),
        ("fund", "ICBC staff", 0),
        ("settle",),
        ("draw", "policy", 0),
        ("settle",),
        ("sweep", "system"),
        ("settle",),
    ]
)
def test_vouchers_agree_with_a_plain_model(parties, clock, ops):
    with rolled_back():
        run(parties, clock, ops)


def run(p: Parties, clock, ops) -> None:
    start = {name: wallet.account_id for name, wallet in p.wallets.items()}
    model = Model({name: balance for name, (balance, _) in held(start).items()})
    seen = Seen(accounts=dict(start))
    p.freeze_orders.clear()

    def made(transfer_id: int, move: Move) -> None:
        seen.transfers.append((transfer_id, move))

    for op in ops:
        name = op[0]
        if name == "create":
            _, who, voucher, count, mccs, starts, lasts, seed = op
            valid_from = clock.now + starts
            expected = model.create(
                PEOPLE[who], voucher, count, mccs, valid_from, valid_from + lasts, seed
            )
            outcome = attempt(
                services.voucher_programme_create,
                actor=p.actors[who],
                name="Luohu red envelopes",
                government_wallet=p.wallets["government"],
                voucher_amount=voucher,
                count=count,
                mccs=mccs,
                regions=REGIONS,
                valid_from=valid_from,
                valid_until=valid_from + lasts,
                seed=seed,
            )
            assert outcome.code == expected, op
            if outcome.value is not None:
                seen.programmes.append(outcome.value)
                seen.accounts[model.programmes[-1].account] = outcome.value.account_id
        elif name in ("fund", "apply", "draw"):
            if not seen.programmes:
                continue
            k = len(seen.programmes) - 1 - op[2] % len(seen.programmes)
            programme, ours = seen.programmes[k], model.programmes[k]
            if name == "fund":
                funding = ours.funding
                expected = model.fund(PEOPLE[op[1]], k)
                outcome = attempt(
                    services.voucher_programme_fund, actor=p.actors[op[1]], programme=programme
                )
                assert outcome.code == expected, op
                if ours.funding is not funding:
                    made(outcome.value.funding_transfer_id, ours.funding)
            elif name == "apply":
                wallet = op[3]
                who = f"{operator_of(wallet)} staff" if op[1] == "operator" else op[1]
                outcome = attempt(
                    services.voucher_apply,
                    actor=p.actors[who],
                    programme=programme,
                    wallet=p.wallets[wallet],
                )
                application = None if outcome.value is None else outcome.value.pk
                expected = model.apply(PEOPLE[who], k, wallet, application, clock.now)
                assert outcome.code == expected, op
            else:
                drawn = ours.status != "OPEN"
                expected = model.draw(PEOPLE[op[1]], k)
                outcome = attempt(
                    services.voucher_lottery_draw, actor=p.actors[op[1]], programme=programme
                )
                assert outcome.code == expected, op
                if outcome.value is not None:
                    wallet_ids = {w.pk: n for n, w in p.wallets.items()}
                    assert [wallet_ids[g.wallet_id] for g in outcome.value] == model.winners(k)
                    for grant, row in zip(ours.grants, outcome.value, strict=True):
                        seen.accounts[grant.account] = row.account_id
                        if not drawn:
                            made(row.transfer_id, grant.move)
        elif name == "pay":
            _, role, payer, shop, amount = op
            operator = PAYERS[payer]
            if role == "other operator":
                operator = "CCB" if operator == "ICBC" else "ICBC"
            who = f"{operator} staff"
            vouchers = sum(
                model.balance[g.account]
                for programme in model.programmes
                for g in programme.grants
                if g.wallet == payer
            )
            amount = amount_of(amount, vouchers)
            expected = model.pay(PEOPLE[who], payer, shop, amount, clock.now)
            request = services.payment_request_create(
                actor=p.shops[shop].staff, merchant=p.shops[shop].merchant, amount=amount
            )
            outcome = attempt(
                services.payment_request_pay,
                actor=p.actors[who],
                payload=services.request_payload(request),
                wallet=p.wallets[payer].number,
                idempotency_key=key("qr"),
            )
            assert outcome.code == expected, op
            if outcome.value is not None:
                move = model.payments[-1].move
                made(outcome.value.transfer.pk, move)
                seen.payments.append(outcome.value.transfer)
                # The vouchers first (the soonest to expire first), then the wallet's own.
                legs = TransferLeg.objects.filter(transfer=outcome.value.transfer).order_by("seq")
                assert list(legs.values_list("debit_id", "amount")) == [
                    (seen.accounts[d], a) for d, _, a in move.legs
                ]
                voucher_fen = sum(a for d, _, a in move.legs if d != payer)
                assert outcome.value.voucher_fen == voucher_fen
                own = move.legs[-1][0] == payer
                event(f"paid by: {'vouchers ' * bool(voucher_fen)}{'own money' * own}")
        elif name == "refund":
            if not model.payments:
                continue
            _, role, n, amount = op
            n = len(model.payments) - 1 - n % len(model.payments)
            payment = model.payments[n]
            other = "diner" if payment.shop == "grocer" else "grocer"
            who = {"merchant": payment.shop, "other merchant": other}.get(role)
            who = f"{who} staff" if who else role
            left = payment.own() - sum(sum(a for *_, a in r.legs) for r in payment.refunds)
            amount = amount_of(amount, left)
            expected = model.refund(PEOPLE[who], payment, amount)
            outcome = attempt(
                services.refund_create,
                actor=p.actors[who],
                original=seen.payments[n],
                amount=amount,
                idempotency_key=key("refund"),
            )
            assert outcome.code == expected, op
            if outcome.value is not None:
                made(outcome.value.transfer_id, payment.refunds[-1])
        elif name == "freeze":
            wallet = op[1]
            staff = p.actors[f"{PAYERS[wallet]} staff"]
            if wallet in model.frozen:
                order = p.freeze_orders.pop(wallet)
                services.freeze_lift(actor=staff, order=order, reason="cleared")
                model.frozen.discard(wallet)
            else:
                p.freeze_orders[wallet] = services.wallet_freeze(
                    actor=staff, wallet=p.wallets[wallet], scope=FreezeScope.FULL, reason="review"
                )
                model.frozen.add(wallet)
            continue
        elif name == "advance":
            clock.advance(op[1])
            continue
        elif name == "advance to":
            times = [t for q in model.programmes for t in (q.valid_from, q.valid_until)]
            later = [t + op[1] for t in times if t + op[1] > clock.now]
            if later:
                clock.advance(min(later) - clock.now)
            continue
        elif name == "sweep":
            expected = model.sweep(PEOPLE[op[1]], clock.now)
            outcome = attempt(services.voucher_programmes_expire, actor=p.actors[op[1]])
            assert (outcome.code or outcome.value) == expected, op
            event(f"sweep: {expected}")
            agree(model, seen)
            continue
        else:
            settle()
            model.settle()
            agree(model, seen)
            continue
        event(f"{name}: {expected or 'done'}")
        agree(model, seen)
    settle()
    model.settle()
    agree(model, seen)
    # Past every window the sweep returns what every drawn programme did not spend.
    ends = [q.valid_until for q in model.programmes]
    clock.advance(max([clock.now, *ends]) - clock.now + MINUTE)
    assert services.voucher_programmes_expire(actor=Actor.system()) == model.sweep(
        PEOPLE["system"], clock.now
    )
    settle()
    model.settle()
    agree(model, seen)
    for k, programme in enumerate(seen.programmes):
        assert selectors.voucher_programme_totals(programme) == model.totals(k)
        if model.programmes[k].status == "CLOSED":
            assert model.balance[model.programmes[k].account] == 0
            assert all(model.balance[g.account] == 0 for g in model.programmes[k].grants)
    assert VoucherGrant.objects.filter(programme__in=seen.programmes).count() == sum(
        len(q.grants) for q in model.programmes
    )
    ledger_verified()
