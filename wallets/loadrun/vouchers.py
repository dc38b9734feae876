"""A load run's consumption-voucher programme (a scenario with `vouchers`, e.g.
`shenzhen-2020`), through the services like everything else a run does: before the
payments, the district government's wallet is opened and loaded, the programme set up and
funded, people apply (a few twice, refused) and the lottery is drawn; after them, the
programme is swept as if its week had ended, and the report gets its figures."""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from ewallet.errors import EwalletError
from settlement.models import Transfer, TransferKind, TransferLeg
from settlement.services import transfers_settle
from wallets import selectors, services
from wallets.actors import Actor
from wallets.loadrun.scenarios import VoucherTerms
from wallets.loadrun.setup import Institutions, Wallets
from wallets.models import KycMethod, VoucherGrant, VoucherProgramme, Wallet
from wallets.roles import Role


@dataclass
class VoucherRun:
    programme: VoucherProgramme
    applicants: int
    refused: Counter = field(default_factory=Counter)  # applications refused, by code


def _policy_actor(run: str) -> Actor:
    """The central bank's policy staff for the run (a login of the cb_policy role)."""
    user, _ = User.objects.get_or_create(username=f"loadrun-policy-{run}"[:150])
    user.groups.add(Group.objects.get(name=Role.CB_POLICY))
    return Actor.of(user)


def programme_setup(
    terms: VoucherTerms, *, institutions: Institutions, wallets: Wallets, seed: int, run: str
) -> VoucherRun:
    """The government's wallet (class 1, at the first operator), the programme for a share
    of the people, funded; the applications; the draw; all settled."""
    operator = next(iter(institutions.operators.values()))
    staff = institutions.staff[operator.pk]
    count = max(1, round(len(wallets.people) * terms.winners_share))
    voucher = terms.voucher_yuan * 100
    government = services.holder_onboard(
        actor=staff,
        operator=operator,
        wallet_class=1,
        display_name=f"Luohu District Government {run}",
        kyc_method=KycMethod.IN_PERSON,
        id_number=f"11440303{seed:010d}",
        phone="075582000000",
    )
    services.wallet_load(
        actor=staff, wallet=government, amount=voucher * count, idempotency_key=f"vg:{run}"
    )
    transfers_settle()
    now = timezone.now()
    programme = services.voucher_programme_create(
        actor=_policy_actor(run),
        name=f"Luohu red envelopes {run}",
        government_wallet=government,
        voucher_amount=voucher,
        count=count,
        mccs=list(terms.mccs),
        regions=list(terms.regions),
        valid_from=now,
        valid_until=now + timedelta(days=terms.days),
        seed=seed,
    )
    services.voucher_programme_fund(actor=staff, programme=programme)
    transfers_settle()
    rng = random.Random(f"vouchers:{seed}")
    people = list(range(len(wallets.people)))
    applicants = sorted(rng.sample(people, round(len(people) * terms.applicants_share)))
    twice = set(rng.sample(applicants, round(len(applicants) * terms.repeat_share)))
    by_number = {
        w.number: w
        for w in Wallet.objects.filter(number__in=[wallets.people[i].number for i in applicants])
    }
    result = VoucherRun(programme, applicants=len(applicants))
    for index in applicants:
        opened = wallets.people[index]
        for _ in range(2 if index in twice else 1):
            try:
                services.voucher_apply(
                    actor=wallets.staff[opened.operator_id],
                    programme=programme,
                    wallet=by_number[opened.number],
                )
            except EwalletError as error:
                result.refused[str(error.code)] += 1
    services.voucher_lottery_draw(actor=_policy_actor(run), programme=programme)
    transfers_settle()
    return result


def programme_close(voucher_run: VoucherRun) -> None:
    """The sweep, as at the end of the programme's week, settled."""
    programme = voucher_run.programme
    programme.refresh_from_db()
    services.voucher_programmes_expire(actor=Actor.system(), now=programme.valid_until)
    transfers_settle()


def voucher_report(voucher_run: VoucherRun, *, after: int) -> dict:
    """The run's voucher figures: granted, spent, returned (from the ledger), payments that
    used a voucher, and refusals by code (applications, and payments a voucher was in)."""
    programme = voucher_run.programme
    totals = selectors.voucher_programme_totals(programme)
    from_voucher = TransferLeg.objects.filter(
        transfer_id=OuterRef("pk"),
        debit_id__in=VoucherGrant.objects.filter(programme=programme).values("account_id"),
    )
    with_voucher = Transfer.objects.filter(
        Exists(from_voucher), id__gt=after, kind=TransferKind.MERCHANT
    )
    rejected = dict(
        with_voucher.exclude(reject_code="")
        .values_list("reject_code")
        .annotate(n=Count("pk"))
        .values_list("reject_code", "n")
    )
    return {
        "programme": programme.pk,
        "voucher_fen": programme.voucher_amount,
        "count": programme.count,
        "applicants": voucher_run.applicants,
        "winners": totals.winners,
        "funded_fen": totals.funded,
        "granted_fen": totals.granted,
        "spent_fen": totals.spent,
        "returned_fen": totals.returned,
        "returned_to_government_fen": totals.returned_to_government,
        "outstanding_fen": totals.outstanding,
        "payments_with_voucher": with_voucher.count(),
        "refusals": dict(voucher_run.refused) | rejected,
    }
