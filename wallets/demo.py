"""The demo: a small e-CNY economy built and exercised through the services.

Builds the central bank and the eight operators, a few hundred holders across wallet
classes and operators, issues and loads e-CNY, runs a few thousand mixed payments (some
refused by limits, funds and freezes), a short load run, and checks the audit log.
Everything goes through `wallets.services`; settlement happens wherever it is configured
(in-process on the embedded default, `celery worker` processes with a broker).
"""

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Sum

from ewallet.money import yuan
from settlement.models import AccountStatus, Transfer, TransferKind, TransferState
from wallets import services
from wallets.catalogue import OPERATORS
from wallets.loadrun.drivers import InProcessDriver
from wallets.loadrun.population import KYC_MIX as population_kyc_mix
from wallets.loadrun.population import (
    MARKET_SHARE,
    MERCHANT_TRADES,
    Merchant,
    Person,
    Population,
)
from wallets.loadrun.runner import RunOptions, Wallets
from wallets.loadrun.scenarios import SCENARIOS, plan, timeline
from wallets.models import HolderKind, KycMethod, Operator, Wallet
from wallets.roles import Role

# People by KYC strength; class 1 (in person) is rare, anonymous class 4 common.
KYC_MIX = [(KycMethod(method), weight) for method, weight in population_kyc_mix]


@dataclass
class DemoResult:
    people: int = 0
    merchants: int = 0
    payments_submitted: int = 0
    load_run_transfers: int = 0
    load_run_seconds: float = 0.0
    outcomes: Counter = field(default_factory=Counter)


class Demo:
    def __init__(
        self,
        *,
        seed: int,
        people: int,
        merchants: int,
        payments: int,
        load_transfers: int,
        wait_for_settlement: Callable[[], None],
        say: Callable[[str], None] = print,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.people_count = people
        self.merchant_count = merchants
        self.payment_count = payments
        self.load_transfers = load_transfers
        self.wait = wait_for_settlement
        self.say = say
        self.key_seq = 0
        self.result = DemoResult()

    def key(self, prefix: str) -> str:
        self.key_seq += 1
        return f"demo:{prefix}:{self.key_seq}"

    def run(self) -> DemoResult:
        services.reference_data_ensure()
        self.users()
        self.institutions()
        self.population()
        self.issue_and_load()
        self.freezes()
        self.mixed_payments()
        self.load_run()
        return self.result

    # -- set-up ------------------------------------------------------------------------

    def users(self) -> None:
        from django.contrib.auth.models import Group

        User = get_user_model()
        self.issuer = User.objects.create_user("demo-issuer")
        self.approver = User.objects.create_user("demo-approver")
        self.operator_staff = User.objects.create_user("demo-operator")
        self.issuer.groups.add(Group.objects.get(name=Role.CB_ISSUER))
        self.approver.groups.add(
            Group.objects.get(name=Role.CB_APPROVER), Group.objects.get(name=Role.CB_POLICY)
        )
        self.operator_staff.groups.add(Group.objects.get(name=Role.OPERATOR_STAFF))

    def institutions(self) -> None:
        services.central_bank_ensure()
        self.operators = [
            services.operator_onboard(
                actor=self.approver,
                code=code,
                name=name,
                name_zh=name_zh,
                reserve_deposit=yuan(MARKET_SHARE[code] * 2_000_000),
            )
            for code, name, name_zh in OPERATORS
        ]
        self.wait()
        self.say(f"central bank and {len(self.operators)} operators onboarded with reserves")

    def pick_operator(self) -> Operator:
        return self.rng.choices(
            self.operators, weights=[MARKET_SHARE[o.code] for o in self.operators]
        )[0]

    def population(self) -> None:
        methods, weights = zip(*KYC_MIX, strict=True)
        self.people: list[Wallet] = []
        with transaction.atomic():
            for i in range(self.people_count):
                method = self.rng.choices(methods, weights=weights)[0]
                holder = services.holder_register(
                    display_name=f"Person {i:04d}",
                    kyc_method=method,
                    phone=f"138{i:08d}",
                    id_number="" if method == KycMethod.PHONE_ONLY else f"11010119900101{i:04d}",
                    bank_account=f"62220000{i:08d}" if method == KycMethod.REMOTE_ID_BANK else "",
                )
                self.people.append(
                    services.wallet_open(
                        actor=self.operator_staff, holder=holder, operator=self.pick_operator()
                    )
                )
            self.merchants: list[Wallet] = []
            for i in range(self.merchant_count):
                holder = services.holder_register(
                    display_name=f"{self.rng.choice(MERCHANT_TRADES).title()} shop {i:03d}",
                    kind=HolderKind.MERCHANT,
                    kyc_method=KycMethod.IN_PERSON,
                    id_number=f"9144030{i:011d}",
                )
                self.merchants.append(
                    services.wallet_open(
                        actor=self.operator_staff, holder=holder, operator=self.pick_operator()
                    )
                )
        # Merchant popularity is heavy-tailed: a few shops take most payments.
        self.merchant_weights = [self.rng.paretovariate(1.2) for _ in self.merchants]
        self.result.people, self.result.merchants = len(self.people), len(self.merchants)
        classes = Counter(w.wallet_class_id for w in self.people)
        self.say(
            f"{len(self.people)} personal wallets (class 1..4: "
            f"{', '.join(str(classes[c]) for c in range(1, 5))}) and "
            f"{len(self.merchants)} merchant wallets opened"
        )

    def issue_and_load(self) -> None:
        loads = []
        for wallet in self.people:
            cap = wallet.wallet_class.balance_cap or yuan(100_000)
            loads.append((wallet, self.rng.randint(yuan(200), min(cap, yuan(8_000)))))
        need = Counter()
        for wallet, amount in loads:
            need[wallet.operator_id] += amount
        for operator in self.operators:
            request = services.issuance_request(
                actor=self.issuer,
                operator=operator,
                amount=need[operator.pk] * 2 + yuan(1_000_000),
                direction="ISSUE",
            )
            services.issuance_approve(actor=self.approver, request_id=request.pk)
        self.wait()
        with transaction.atomic():
            for wallet, amount in loads:
                services.wallet_load(
                    actor=self.operator_staff,
                    wallet=wallet,
                    amount=amount,
                    idempotency_key=self.key("load"),
                )
        self.wait()
        self.say(f"issued e-CNY to every operator (maker-checker) and loaded {len(loads)} wallets")

    def freezes(self) -> None:
        frozen = self.rng.sample(self.people, max(1, len(self.people) // 40))
        for wallet in frozen:
            services.wallet_set_status(
                actor=self.operator_staff,
                wallet=wallet,
                status=AccountStatus.FROZEN,
                reason="suspected fraud (demo)",
            )
        restricted = self.rng.sample(
            [w for w in self.people if w not in frozen], max(1, len(self.people) // 60)
        )
        for wallet in restricted:
            services.wallet_set_status(
                actor=self.operator_staff,
                wallet=wallet,
                status=AccountStatus.RECEIVE_ONLY,
                reason="dormant wallet, identity to be refreshed (demo)",
            )
        self.say(f"froze {len(frozen)} wallets, made {len(restricted)} receive-only")

    # -- payments ----------------------------------------------------------------------

    def amount(self, median_yuan: float) -> int:
        return max(1, round(self.rng.lognormvariate(0, 0.9) * median_yuan * 100))

    def one_payment(self) -> None:
        payer = self.rng.choice(self.people)
        roll = self.rng.random()
        if roll < 0.62:
            payee = self.rng.choices(self.merchants, weights=self.merchant_weights)[0]
            amount = self.amount(45)
        elif roll < 0.92:
            payee = self.rng.choice(self.people)
            amount = self.amount(300)
        else:  # a big-ticket payment: the smaller classes' limits refuse many of these
            payee = self.rng.choices(self.merchants, weights=self.merchant_weights)[0]
            amount = yuan(self.rng.randint(1_500, 30_000))
        if payee.pk == payer.pk:
            return
        services.payment_submit(
            payer=payer, payee=payee, amount=amount, idempotency_key=self.key("pay")
        )
        self.result.payments_submitted += 1

    def mixed_payments(self) -> None:
        for _ in range(self.payment_count // 250):
            with transaction.atomic():
                for _ in range(250):
                    self.one_payment()
        with transaction.atomic():
            for _ in range(self.payment_count % 250):
                self.one_payment()
        self.wait()
        self.say(f"{self.result.payments_submitted} mixed payments submitted and settled")

    def load_run(self) -> None:
        """A steady load run over the demo's wallets, through the load-run driver: payments
        drawn by the load-run stream (Pareto merchants, everyday amounts), submitted as
        fast as this process can, in set-based chunks of 500."""
        people = [(w.number, w.account_id, w.operator_id) for w in self.people]
        merchants = [(w.number, w.account_id, w.operator_id) for w in self.merchants]
        population = Population(
            seed=self.seed,
            people=tuple(
                Person(i, "", "", w.wallet_class_id, 0) for i, w in enumerate(self.people)
            ),
            merchants=tuple(
                Merchant(i, "", "", weight) for i, weight in enumerate(self.merchant_weights)
            ),
        )
        segments = timeline(SCENARIOS["steady"], self.load_transfers, None)
        driver = InProcessDriver(
            RunOptions(scenario=SCENARIOS["steady"], transfers=self.load_transfers, chunk=500),
            Wallets(people=people, merchants=merchants),
            run=f"demo-{self.seed}",
        )
        started = time.perf_counter()
        driver.run(plan(population, segments, self.seed), segments, started)
        self.wait()
        self.result.load_run_transfers = driver.accepted
        self.result.load_run_seconds = time.perf_counter() - started


def wait_until_settled(timeout: float = 300.0) -> None:
    """Block until no transfer is RECEIVED (settlement may be in another process)."""
    deadline = time.monotonic() + timeout
    while Transfer.objects.filter(state=TransferState.RECEIVED).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("transfers still RECEIVED: is a settlement worker running?")
        time.sleep(0.05)


def payment_outcomes() -> Counter:
    """(state, reject code) -> count, over payments only."""
    rows = (
        Transfer.objects.filter(kind__in=[TransferKind.P2P, TransferKind.MERCHANT])
        .values_list("state", "reject_code")
        .annotate(n=Count("id"))
        .order_by()
    )
    return Counter({(state, code): n for state, code, n in rows})


def circulation_by_operator() -> list[tuple[str, int, int, int]]:
    """(operator, vault, wallets, reserve) balances in fen."""
    wallet_sums = dict(
        Wallet.objects.values_list("operator__code")
        .annotate(total=Sum("account__balance"))
        .order_by()
    )
    return [
        (
            op.code,
            op.vault_account.balance,
            wallet_sums.get(op.code, 0) or 0,
            op.reserve_account.balance,
        )
        for op in Operator.objects.select_related("vault_account", "reserve_account").order_by("pk")
    ]
