"""Consumption vouchers, as in the Shenzhen Luohu pilot (October 2020): a programme, its
funding from the government's wallet, applications, the lottery, spending at eligible
merchants (`voucher_legs`, called by `payment_request_pay`) and the return at expiry.

Who does what: central-bank policy staff (`cb_policy`) set a programme up and draw its
lottery; whoever may pay from the government's wallet (its holder, or its operator's
staff) funds it; whoever may pay from a wallet enters it in the lottery; the system (or
policy staff) sweeps expired programmes. Money moves only through the ledger:

    government wallet --VOUCHER_FUND--> programme account --VOUCHER_GRANT--> voucher accounts
    voucher account (+ payer's wallet) --MERCHANT, one transfer--> merchant's wallet
    voucher accounts --VOUCHER_RETURN--> programme account --VOUCHER_RETURN--> government
"""

import random
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import (
    Account,
    AccountKind,
    AccountStatus,
    Asset,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.services import LegSpec, TransferSpec
from wallets.actors import Actor
from wallets.authority import may_pay_from, require_role
from wallets.catalogue import MERCHANT_CATEGORIES, REGIONS
from wallets.exceptions import WalletError
from wallets.models import (
    Merchant,
    VoucherApplication,
    VoucherGrant,
    VoucherProgramme,
    VoucherProgrammeStatus,
    Wallet,
    WalletKind,
)
from wallets.roles import Role

# ---------------------------------------------------------------- the programme


@transaction.atomic
def voucher_programme_create(
    *,
    actor: Actor,
    name: str,
    government_wallet: Wallet,
    voucher_amount: int,
    count: int,
    mccs: list[str],
    regions: list[str],
    valid_from: datetime,
    valid_until: datetime,
    seed: int,
    total: int | None = None,
) -> VoucherProgramme:
    """A programme of `count` vouchers of `voucher_amount` fen, by central-bank policy
    staff, funded from (and returning to) the government's wallet; spendable at merchants
    of the given categories and regions from `valid_from` until `valid_until`."""
    require_role(actor, Role.CB_POLICY)
    voucher_amount = require_fen(voucher_amount)
    if not isinstance(count, int) or count <= 0:
        raise WalletError(
            ErrorCode.INVALID_INPUT, "count must be a positive integer", field="count"
        )
    if total is not None and require_fen(total) != voucher_amount * count:
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            f"total must be voucher amount x count ({voucher_amount * count} fen)",
            field="total",
        )
    if not name.strip() or len(name) > 120:
        raise WalletError(ErrorCode.INVALID_INPUT, "a name of 1 to 120 characters", field="name")
    unknown = sorted(set(mccs) - set(MERCHANT_CATEGORIES))
    if not mccs or unknown:
        raise WalletError(ErrorCode.INVALID_INPUT, f"unknown categories {unknown}", field="mccs")
    unknown = sorted(set(regions) - set(REGIONS))
    if not regions or unknown:
        raise WalletError(ErrorCode.INVALID_INPUT, f"unknown regions {unknown}", field="regions")
    if valid_until <= valid_from:
        raise WalletError(
            ErrorCode.INVALID_INPUT, "valid_until must follow valid_from", field="valid_until"
        )
    if government_wallet.kind != WalletKind.PERSONAL:
        raise WalletError(
            ErrorCode.INVALID_INPUT, "a merchant wallet funds no programme", field="wallet"
        )
    programme = VoucherProgramme.objects.create(
        name=name.strip(),
        government_wallet=government_wallet,
        account=ledger.account_open(
            label=f"voucher-programme:{secrets.token_hex(8)}",
            kind=AccountKind.ESCROW,
            asset=Asset.ECNY,
        ),
        total=voucher_amount * count,
        voucher_amount=voucher_amount,
        count=count,
        mccs=sorted(set(mccs)),
        regions=sorted(set(regions)),
        valid_from=valid_from,
        valid_until=valid_until,
        seed=seed,
        created_by=actor.user,
    )
    return programme


def _locked(programme: VoucherProgramme) -> VoucherProgramme:
    return (
        VoucherProgramme.objects.select_for_update(of=("self",))
        .select_related("funding_transfer", "government_wallet")
        .get(pk=programme.pk)
    )


@transaction.atomic
def voucher_programme_fund(*, actor: Actor, programme: VoucherProgramme) -> VoucherProgramme:
    """Move the programme's total from the government's wallet into the programme's account,
    by whoever may pay from that wallet. Once: a funding queued or settled is answered as it
    is; one the ledger rejected (the wallet short, frozen) may be tried again."""
    programme = _locked(programme)
    government = programme.government_wallet
    if not may_pay_from(actor, government):
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {government.number} you may pay from")
    funding = programme.funding_transfer
    if funding is not None and funding.state != TransferState.REJECTED:
        return programme
    if programme.status != VoucherProgrammeStatus.OPEN:
        raise WalletError(
            ErrorCode.INVALID_STATE, f"programme {programme.pk} is {programme.status}"
        )
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.VOUCHER_FUND,
        legs=[LegSpec(government.account_id, programme.account_id, programme.total)],
        idempotency_key=f"voucher-fund:{programme.pk}:{funding.pk if funding else 0}",
        memo=f"funding {programme.name}"[:140],
    )
    programme.funding_transfer = transfer
    programme.save(update_fields=["funding_transfer"])
    return programme


@transaction.atomic
def voucher_apply(
    *, actor: Actor, programme: VoucherProgramme, wallet: Wallet
) -> VoucherApplication:
    """Enter a personal wallet in the programme's lottery, by whoever may pay from it, once,
    while the programme takes applications (until drawn, and before its window ends)."""
    if not may_pay_from(actor, wallet):
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {wallet.number} you may pay from")
    if wallet.kind != WalletKind.PERSONAL:
        raise WalletError(ErrorCode.INVALID_INPUT, "only personal wallets apply", field="wallet")
    programme = VoucherProgramme.objects.select_for_update().get(pk=programme.pk)
    if programme.status != VoucherProgrammeStatus.OPEN or programme.valid_until <= timezone.now():
        raise WalletError(
            ErrorCode.VOUCHER_APPLICATIONS_CLOSED, f"programme {programme.pk} takes no applications"
        )
    if VoucherApplication.objects.filter(programme=programme, wallet=wallet).exists():
        raise WalletError(
            ErrorCode.VOUCHER_ALREADY_APPLIED, f"wallet {wallet.number} has applied already"
        )
    return VoucherApplication.objects.create(programme=programme, wallet=wallet)


def lottery_winners(application_ids: list[int], *, seed: int, count: int) -> list[int]:
    """The lottery: `count` of the applications (all, if fewer), drawn with `seed` from
    their ids in ascending order, so anyone with the list and the seed draws the same."""
    ordered = sorted(application_ids)
    return random.Random(seed).sample(ordered, min(count, len(ordered)))


@transaction.atomic
def voucher_lottery_draw(*, actor: Actor, programme: VoucherProgramme) -> list[VoucherGrant]:
    """Draw the lottery and grant each winner `voucher_amount` into a voucher account of its
    own, by central-bank policy staff, once the funding has settled. Drawing again grants
    nothing more and answers the grants made."""
    require_role(actor, Role.CB_POLICY)
    programme = _locked(programme)
    if programme.status != VoucherProgrammeStatus.OPEN:
        return list(programme.grants.order_by("pk"))
    funding = programme.funding_transfer
    if funding is None or funding.state != TransferState.SETTLED:
        raise WalletError(
            ErrorCode.VOUCHER_NOT_FUNDED, f"programme {programme.pk}'s funding has not settled"
        )
    applications = dict(
        VoucherApplication.objects.filter(programme=programme).values_list("pk", "wallet_id")
    )
    winners = lottery_winners(list(applications), seed=programme.seed, count=programme.count)
    accounts = {
        application_id: ledger.account_open(
            label=f"voucher:{programme.pk}:{application_id}",
            kind=AccountKind.ESCROW,
            asset=Asset.ECNY,
        )
        for application_id in winners
    }
    outcomes = ledger.transfers_submit_many(
        [
            TransferSpec(
                kind=TransferKind.VOUCHER_GRANT,
                legs=[LegSpec(programme.account_id, accounts[a].pk, programme.voucher_amount)],
                idempotency_key=f"voucher-grant:{programme.pk}:{a}",
                memo=f"voucher of {programme.name}"[:140],
            )
            for a in winners
        ]
    )
    grants = VoucherGrant.objects.bulk_create(
        [
            VoucherGrant(
                programme=programme,
                application_id=a,
                wallet_id=applications[a],
                account=accounts[a],
                amount=programme.voucher_amount,
                transfer_id=outcome.transfer_id,
            )
            for a, outcome in zip(winners, outcomes, strict=True)
        ]
    )
    programme.status = VoucherProgrammeStatus.DRAWN
    programme.drawn_at = timezone.now()
    programme.drawn_by = actor.user
    programme.save(update_fields=["status", "drawn_at", "drawn_by"])
    return grants


@transaction.atomic
def voucher_programmes_expire(*, actor: Actor, now: datetime | None = None) -> int:
    """The sweep: for each drawn programme past its window, return every voucher's unspent
    balance to the programme, then the programme's whole balance to the government's
    wallet (transfers settle in arrival order, so the returns land first). By the system
    or central-bank policy staff; a programme is swept once, when nothing queued (a grant,
    a payment made within the window) still moves its money. Returns how many were."""
    if not actor.is_system:
        require_role(actor, Role.CB_POLICY)
    now = now or timezone.now()
    swept = 0
    due = VoucherProgramme.objects.select_for_update(of=("self",)).filter(
        status=VoucherProgrammeStatus.DRAWN, valid_until__lte=now
    )
    for programme in due.select_related("government_wallet").order_by("pk"):
        if _still_moving(programme):
            continue  # the next sweep returns what these leave
        unspent = list(
            VoucherGrant.objects.filter(programme=programme, account__balance__gt=0)
            .order_by("pk")
            .values_list("pk", "account_id", "account__balance")
        )
        returns = [
            TransferSpec(
                kind=TransferKind.VOUCHER_RETURN,
                legs=[LegSpec(account_id, programme.account_id, balance)],
                idempotency_key=f"voucher-return:{grant_id}",
                memo=f"unspent voucher of {programme.name}"[:140],
            )
            for grant_id, account_id, balance in unspent
        ]
        back = Account.objects.get(pk=programme.account_id).balance + sum(b for *_, b in unspent)
        if back:
            returns.append(
                TransferSpec(
                    kind=TransferKind.VOUCHER_RETURN,
                    legs=[
                        LegSpec(programme.account_id, programme.government_wallet.account_id, back)
                    ],
                    idempotency_key=f"voucher-close:{programme.pk}",
                    memo=f"unspent value of {programme.name}"[:140],
                )
            )
        ledger.transfers_submit_many(returns)
        programme.status = VoucherProgrammeStatus.CLOSED
        programme.closed_at = now
        programme.save(update_fields=["status", "closed_at"])
        swept += 1
    return swept


def _still_moving(programme: VoucherProgramme) -> bool:
    """Whether a transfer queued but not yet settled debits or credits the programme's or
    its vouchers' accounts: their balances are not final yet."""
    accounts = [
        programme.account_id,
        *VoucherGrant.objects.filter(programme=programme).values_list("account_id", flat=True),
    ]
    queued = TransferLeg.objects.filter(transfer__state=TransferState.RECEIVED)
    return (
        queued.filter(debit_id__in=accounts).exists()
        or queued.filter(credit_id__in=accounts).exists()
    )


# ---------------------------------------------------------------- spending


@dataclass(frozen=True)
class VoucherUse:
    grant_id: int
    account_id: int
    amount: int


def voucher_eligible(programme: VoucherProgramme, merchant: Merchant, at: datetime) -> bool:
    """Where and when a programme's vouchers are spent: a merchant of an allowed category
    and region, within the validity window, while the programme runs."""
    return (
        programme.status == VoucherProgrammeStatus.DRAWN
        and programme.valid_from <= at < programme.valid_until
        and merchant.mcc in programme.mccs
        and merchant.region in programme.regions
    )


def voucher_uses(payer: Wallet, merchant: Merchant, amount: int) -> list[VoucherUse]:
    """What of a payment to `merchant` the payer's vouchers cover, the soonest to expire
    first: nothing at an ineligible merchant or outside the window, where the wallet's own
    balance pays it all. One indexed lookup when the payer holds no voucher in force.

    Called inside the payment's transaction; the grants' rows are locked so that two
    payments by one wallet do not both count on the same voucher, and what is still
    queued against a voucher (not yet settled) is not counted as available."""
    now = timezone.now()
    grants = list(
        VoucherGrant.objects.filter(
            wallet_id=payer.pk,
            programme__status=VoucherProgrammeStatus.DRAWN,
            programme__valid_from__lte=now,
            programme__valid_until__gt=now,
        )
        .select_related("programme")
        .order_by("programme__valid_until", "pk")
    )
    grants = [g for g in grants if voucher_eligible(g.programme, merchant, now)]
    if not grants:
        return []
    # A frozen or closed wallet spends nothing, its vouchers included.
    if Account.objects.get(pk=payer.account_id).status != AccountStatus.ACTIVE:
        return []
    ids = [g.account_id for g in grants]
    list(VoucherGrant.objects.select_for_update().filter(pk__in=[g.pk for g in grants]))
    balances = dict(Account.objects.filter(pk__in=ids).values_list("pk", "balance"))
    queued = dict(
        TransferLeg.objects.filter(debit_id__in=ids, transfer__state=TransferState.RECEIVED)
        .values("debit_id")
        .annotate(total=Sum("amount"))
        .values_list("debit_id", "total")
    )
    uses, left = [], amount
    for grant in grants:
        available = balances[grant.account_id] - queued.get(grant.account_id, 0)
        take = min(left, available)
        if take > 0:
            uses.append(VoucherUse(grant.pk, grant.account_id, take))
            left -= take
        if not left:
            break
    return uses


def voucher_legs(payer: Wallet, merchant: Merchant, amount: int) -> list[LegSpec]:
    """A QR payment's legs into the merchant's wallet: the vouchers first, then the
    wallet's own balance for the rest; one transfer, so all of it settles or none."""
    receiving = merchant.settlement_wallet.account_id
    uses = voucher_uses(payer, merchant, amount)
    legs = [LegSpec(use.account_id, receiving, use.amount) for use in uses]
    own = amount - sum(use.amount for use in uses)
    if own:
        legs.append(LegSpec(payer.account_id, receiving, own))
    return legs
