"""Building an economy through the services: the institutions (the central bank's maker
and checker, the operators, one member of staff per operator) and a population's holders
and wallets, opened and loaded.

This is the one path from people to holders, wallets and loads: `manage.py loadrun`, the
demo and `apibench setup` all build theirs here. Each step waits for what it queued to be
decided (`settle`: drain the queue in this process by default, or wait for workers) before
the next needs the money.
"""

import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from ewallet.money import yuan
from settlement.models import Transfer, TransferState
from settlement.services import transfers_settle
from wallets import services
from wallets.actors import Actor
from wallets.catalogue import OPERATORS, REGIONS
from wallets.loadrun.population import MARKET_SHARE, Person, Population, population_plan
from wallets.loadrun.population import Merchant as PlannedMerchant
from wallets.models import IssuanceDirection, KycMethod, Merchant, Operator, WalletClass
from wallets.roles import Role

CHUNK = 500  # holders and wallets, or loads, per transaction

Settle = Callable[[], object]


@dataclass(frozen=True)
class OperatorSpec:
    code: str
    name: str
    name_zh: str = ""
    reserve_deposit: int = 0  # fen, credited at the central bank when it is onboarded


def catalogue_operators(*, reserve_yuan_per_share: int) -> list[OperatorSpec]:
    """The eight authorised operators, each with a reserve in proportion to its market
    share (MARKET_SHARE percent times `reserve_yuan_per_share`)."""
    return [
        OperatorSpec(code, name, name_zh, yuan(MARKET_SHARE[code] * reserve_yuan_per_share))
        for code, name, name_zh in OPERATORS
    ]


@dataclass
class Institutions:
    approver: Actor  # the central bank's checker
    issuer: Actor  # and its maker
    operators: dict[str, Operator]  # by code
    staff: dict[int, Actor]  # operator id -> its member of staff


def institutions_ensure(
    *, prefix: str, operators: Sequence[OperatorSpec], settle: Settle = transfers_settle
) -> Institutions:
    """Users `{prefix}-approver`, `{prefix}-issuer` and `{prefix}-staff-{code}`, the
    operators (onboarded unless present: a second run reuses them) and their staff, as the
    system makes staff. Reused users and operators keep what they have."""
    services.reference_data_ensure()
    approver = Actor.of(_user_with_role(f"{prefix}-approver", Role.CB_APPROVER))
    issuer = Actor.of(_user_with_role(f"{prefix}-issuer", Role.CB_ISSUER))
    onboarded = {
        spec.code: Operator.objects.filter(code=spec.code).first()
        or services.operator_onboard(
            actor=approver,
            code=spec.code,
            name=spec.name,
            name_zh=spec.name_zh,
            reserve_deposit=spec.reserve_deposit,
        )
        for spec in operators
    }
    staff = {}
    for code, operator in onboarded.items():
        user, _ = get_user_model().objects.get_or_create(username=f"{prefix}-staff-{code.lower()}")
        services.operator_staff_assign(actor=Actor.system(), user=user, operator=operator)
        staff[operator.pk] = Actor.of(user)
    settle()  # the opening reserve deposits, which issuance draws on
    return Institutions(approver=approver, issuer=issuer, operators=onboarded, staff=staff)


def _user_with_role(username: str, role: Role):
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.groups.add(Group.objects.get(name=role))
    return user


def population_with_live_caps(*, seed: int, people: int, merchants: int) -> Population:
    """`population_plan` with the wallet classes' balance caps as the database has them, so
    no opening load is over its wallet's cap."""
    caps = dict(WalletClass.objects.values_list("number", "balance_cap")) or None
    return population_plan(seed=seed, people=people, merchants=merchants, caps=caps)


class OpenedWallet(NamedTuple):
    number: str
    account_id: int
    operator_id: int


class MerchantRecord(NamedTuple):
    merchant: Merchant
    staff: Actor  # its own staff: asks for payments, refunds
    token: str  # that login's API token


# What each synthetic trade sells, as an ISO 18245 category.
TRADE_MCC = {
    "noodles": "5812",
    "grocery": "5411",
    "pharmacy": "5912",
    "bakery": "5499",
    "tea": "5499",
    "fruit": "5499",
    "hotpot": "5812",
    "books": "5942",
}


@dataclass
class Wallets:
    """A built population's wallets, by person and merchant index, and who acts for each
    operator (its staff, and their API tokens when a run goes over HTTP)."""

    people: list[OpenedWallet]
    merchants: list[OpenedWallet]
    staff: dict[int, Actor] = field(default_factory=dict)  # operator id -> staff
    tokens: dict[int, str] = field(default_factory=dict)  # operator id -> API token
    # By merchant index: the registered merchant and a login of its own staff.
    merchant_records: list[MerchantRecord] = field(default_factory=list)


def population_build(
    population: Population,
    *,
    institutions: Institutions,
    run: str,
    issue_extra: int = yuan(10_000_000),
    settle: Settle = transfers_settle,
) -> Wallets:
    """Issue each operator twice its people's opening loads plus `issue_extra` fen (maker
    and checker), register every person and merchant at their operator and open their
    wallet (by its staff), and load each person's wallet with their opening load.

    `run` names the holders ("Person {run}-{index}"). Raises RuntimeError when an issuance
    is rejected (an operator's reserve is spent: run on a fresh database)."""
    operators, staff = institutions.operators, institutions.staff
    _issue(population, institutions, issue_extra, settle)

    def person(p: Person) -> OpenedWallet:
        method = KycMethod(p.kyc)
        return _onboard(
            staff[operators[p.operator].pk],
            operators[p.operator],
            wallet_class=p.wallet_class,
            display_name=f"Person {run}-{p.index}",
            kyc_method=method,
            phone=_phone(run, p.index),
            id_number="" if method == KycMethod.PHONE_ONLY else f"3101011990{p.index:08d}",
            bank_account=f"6222{p.index:012d}" if method == KycMethod.REMOTE_ID_BANK else "",
        )

    regions = sorted(REGIONS)

    def merchant(m: PlannedMerchant) -> MerchantRecord:
        operator = operators[m.operator]
        registered = services.merchant_register(
            actor=staff[operator.pk],
            operator=operator,
            name=f"{m.trade.title()} shop {run}-{m.index}",
            mcc=TRADE_MCC.get(m.trade, "5999"),  # miscellaneous retail
            region=regions[m.index % len(regions)],
            licence_number=f"9131{m.index:014d}",
        )
        token, issued = services.merchant_staff_enrol(
            actor=staff[operator.pk], merchant=registered, name=f"till {run}", ttl=timedelta(days=1)
        )
        return MerchantRecord(registered, Actor.of(issued.user), token)

    people = _in_chunks(population.people, person)
    merchant_records = _in_chunks(population.merchants, merchant)
    merchants = [
        OpenedWallet(wallet.number, wallet.account_id, wallet.operator_id)
        for wallet in (record.merchant.settlement_wallet for record in merchant_records)
    ]
    _load_opening(population.people, people, staff)
    settle()
    return Wallets(
        people=people, merchants=merchants, staff=dict(staff), merchant_records=merchant_records
    )


def _issue(population: Population, institutions: Institutions, extra: int, settle: Settle) -> None:
    need = Counter()
    for person in population.people:
        need[person.operator] += person.opening_load
    transfer_ids = []
    for code, operator in institutions.operators.items():
        amount = need[code] * 2 + extra
        if amount == 0:  # no one to load at this operator, and no room asked for
            continue
        request = services.issuance_request(
            actor=institutions.issuer,
            operator=operator,
            amount=amount,
            direction=IssuanceDirection.ISSUE,
        )
        approved = services.issuance_approve(actor=institutions.approver, request_id=request.pk)
        transfer_ids.append(approved.transfer_id)
    settle()
    if Transfer.objects.filter(pk__in=transfer_ids, state=TransferState.REJECTED).exists():
        raise RuntimeError(
            "an issuance was rejected (an operator's reserve ran out): start from an empty "
            "database (loadrun --flush)"
        )


def _phone(run: str, index: int) -> str:
    """A made-up mobile number per person and run: an anonymous wallet is capped at one per
    phone number across operators, so a second run on the same database must not reuse the
    first's numbers. Four digits from the run's name, then the person's index."""
    return f"1{zlib.crc32(run.encode()) % 10_000:04d}{index:06d}"


def _onboard(actor: Actor, operator: Operator, **holder_fields) -> OpenedWallet:
    wallet = services.holder_onboard(actor=actor, operator=operator, **holder_fields)
    return OpenedWallet(wallet.number, wallet.account_id, wallet.operator_id)


def _in_chunks(items: Sequence, make: Callable) -> list:
    made = []
    for start in range(0, len(items), CHUNK):
        with transaction.atomic():
            made += [make(item) for item in items[start : start + CHUNK]]
    return made


def _load_opening(
    people: Iterable[Person], wallets: Sequence[OpenedWallet], staff: dict[int, Actor]
) -> None:
    """Each operator's loads as its batches (one transaction a chunk); keyed by wallet
    number, which is never reused, so a second build on the same database loads afresh."""
    by_operator: dict[int, list[services.LoadSpec]] = defaultdict(list)
    for person, wallet in zip(people, wallets, strict=True):
        by_operator[wallet.operator_id].append(
            services.LoadSpec(wallet.number, person.opening_load, f"opening:{wallet.number}")
        )
    for operator_id, loads in by_operator.items():
        for start in range(0, len(loads), CHUNK):
            outcomes = services.wallet_loads_submit_many(
                actor=staff[operator_id], loads=loads[start : start + CHUNK]
            )
            refused = [outcome.error for outcome in outcomes if outcome.error is not None]
            if refused:
                raise RuntimeError(f"opening loads refused: {refused[0]}")
