"""Reads of the e-CNY product, scoped to who is asking.

Every queryset an interface shows goes through one of the `*_visible_to` functions, which
apply the rules of `wallets.authority` as filters: a row outside the actor's sight is
simply not there (404, never 403).
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ewallet.errors import ErrorCode
from settlement.models import (
    Account,
    AccountKind,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.rules import limit_periods
from settlement.selectors import MoneyTotals, limit_usage, money_totals
from settlement.usage import DAY, YEAR, CurrentPeriods
from wallets.actors import Actor
from wallets.authority import (
    double_spend_alert_scope,
    escrow_scope,
    holder_scope,
    identity_shown,
    merchant_scope,
    offline_device_scope,
    operated_wallet_scope,
    require_sees_disclosures,
    sees_wallet,
    sub_wallet_scope,
    wallet_scope,
)
from wallets.exceptions import WalletError
from wallets.models import (
    ESCROW_STATE_OF_TRANSFER,
    DeliveryState,
    DisclosureState,
    DoubleSpendAlert,
    Escrow,
    FreezeOrder,
    Holder,
    IdentityDisclosure,
    IssuanceRequest,
    Merchant,
    MerchantPayment,
    OfflineDevice,
    OfflineDeviceState,
    OfflinePayment,
    OfflineSettlement,
    Operator,
    PaymentRequest,
    PaymentRequestKind,
    Refund,
    RequestState,
    SubWallet,
    SubWalletState,
    VoucherGrant,
    VoucherProgramme,
    Wallet,
    WebhookDelivery,
    WebhookEndpoint,
)


def wallets_visible_to(actor: Actor) -> QuerySet[Wallet]:
    wallets = Wallet.objects.select_related("holder", "operator", "wallet_class", "account")
    scope = wallet_scope(actor)
    return wallets if scope is None else wallets.filter(scope)


def wallets_actionable_by(actor: Actor) -> QuerySet[Wallet]:
    """Wallets the actor may act on as their operator (load, unload, class, close)."""
    return wallets_visible_to(actor).filter(operated_wallet_scope(actor))


def holders_visible_to(actor: Actor) -> QuerySet[Holder]:
    holders = Holder.objects.select_related("operator")
    scope = holder_scope(actor)
    return holders if scope is None else holders.filter(scope)


def wallets_with_holder_shown(actor: Actor) -> QuerySet[Wallet]:
    """`wallets_visible_to`, each row with `holder_shown`: the holder's name, or their
    pseudonym where the actor knows them by pseudonym only."""
    return wallets_visible_to(actor).annotate(
        holder_shown=Case(
            When(identity_shown(actor, "holder__"), then=F("holder__display_name")),
            default=F("holder__pseudonym"),
        )
    )


def holders_with_identity_shown(actor: Actor) -> QuerySet[Holder]:
    """`holders_visible_to`, each row with `name_shown` and `phone_shown` (the pseudonym
    and nothing where the actor knows the holder by pseudonym only)."""
    shown = identity_shown(actor)
    return holders_visible_to(actor).annotate(
        name_shown=Case(When(shown, then=F("display_name")), default=F("pseudonym")),
        phone_shown=Case(When(shown, then=F("phone")), default=Value(""), output_field=CharField()),
    )


def operators_with_balances() -> QuerySet[Operator]:
    """Operators, each with `reserve_fen`, `vault_fen` and `wallets_fen` (in its wallets)."""
    in_wallets = (
        Wallet.objects.filter(operator=OuterRef("pk"))
        .values("operator")
        .annotate(total=Sum("account__balance"))
        .values("total")
    )
    return Operator.objects.annotate(
        reserve_fen=F("reserve_account__balance"),
        vault_fen=F("vault_account__balance"),
        wallets_fen=Coalesce(Subquery(in_wallets), 0),
    )


def freeze_orders(*, wallet: Wallet) -> QuerySet[FreezeOrder]:
    """A wallet's freeze orders, newest first: its freeze history."""
    return (
        FreezeOrder.objects.filter(wallet=wallet)
        .select_related("wallet", "operator", "ordered_by", "lifted_by")
        .order_by("-pk")
    )


def freeze_orders_visible_to(actor: Actor) -> QuerySet[FreezeOrder]:
    orders = FreezeOrder.objects.select_related("wallet", "operator", "ordered_by", "lifted_by")
    scope = wallet_scope(actor)
    if scope is None:
        return orders
    return orders.filter(wallet__in=Wallet.objects.filter(scope).values("pk"))


def accounts_visible_to(actor: Actor) -> QuerySet[Account] | None:
    """Ledger accounts in scope (wallets and their hardware wallets' reserves, and an
    operator's own vault and reserve)."""
    scope = wallet_scope(actor)
    if scope is None:
        return None
    wallets = Wallet.objects.filter(scope)
    accounts = Q(pk__in=wallets.values("account_id"))
    accounts |= Q(pk__in=OfflineDevice.objects.filter(wallet__in=wallets).values("account_id"))
    if actor.operator_id is not None:
        operator = Operator.objects.filter(pk=actor.operator_id)
        accounts |= Q(pk__in=operator.values("vault_account_id"))
        accounts |= Q(pk__in=operator.values("reserve_account_id"))
    return Account.objects.filter(accounts)


def transfers_visible_to(actor: Actor) -> QuerySet[Transfer]:
    transfers = Transfer.objects.all()
    accounts = accounts_visible_to(actor)
    if accounts is None:
        return transfers
    ids = accounts.values("pk")
    touches = TransferLeg.objects.filter(transfer=OuterRef("pk")).filter(
        Q(debit_id__in=ids) | Q(credit_id__in=ids)
    )
    return transfers.filter(Exists(touches))


def issuances_visible_to(actor: Actor) -> QuerySet[IssuanceRequest]:
    requests = IssuanceRequest.objects.select_related("operator", "maker", "checker", "transfer")
    if actor.is_central_bank:
        return requests
    if actor.operator_id is not None:
        return requests.filter(operator_id=actor.operator_id)
    return requests.none()


def identity_disclosures_visible_to(actor: Actor) -> QuerySet[IdentityDisclosure]:
    """Disclosure requests, each with `approvals_given`: the central bank sees them all;
    to anyone else they are PERMISSION_DENIED as a whole (`authority.sees_disclosures`),
    so that no answer tells whether one exists."""
    require_sees_disclosures(actor)
    return IdentityDisclosure.objects.select_related(
        "holder__operator", "requested_by", "rejected_by"
    ).annotate(approvals_given=Count("approvals"))


def identity_disclosures_in_state(
    disclosures: QuerySet[IdentityDisclosure], state: str
) -> QuerySet[IdentityDisclosure]:
    """Those whose state reads `state` now (`IdentityDisclosure.status`: EXPIRED is a
    request still REQUESTED past its expiry, never stored)."""
    now = timezone.now()
    if state == DisclosureState.EXPIRED:
        return disclosures.filter(state=DisclosureState.REQUESTED, expires_at__lte=now)
    if state == DisclosureState.REQUESTED:
        return disclosures.filter(state=state, expires_at__gt=now)
    return disclosures.filter(state=state)


def unique_row(queryset):
    """The row a unique lookup finds, or None. (`.first()` would order by id, and SQLite
    then walks the table in id order instead of using the unique index.)"""
    return next(iter(queryset[:1]), None)


# ---------------------------------------------------------------- merchants


def _in_merchant_scope(queryset, actor: Actor, prefix: str):
    scope = merchant_scope(actor, prefix)
    return queryset if scope is None else queryset.filter(scope)


def merchants_visible_to(actor: Actor) -> QuerySet[Merchant]:
    merchants = Merchant.objects.select_related("operator", "settlement_wallet")
    return _in_merchant_scope(merchants, actor, "")


def payment_requests_visible_to(actor: Actor) -> QuerySet[PaymentRequest]:
    requests = PaymentRequest.objects.select_related("merchant")
    return _in_merchant_scope(requests, actor, "merchant__")


def payment_requests_with_state(
    actor: Actor, *, now: datetime | None = None
) -> QuerySet[PaymentRequest]:
    """`payment_requests_visible_to`, each with `state`: `services.request_state` as a
    column, so lists filter on it (tests hold the two to agreement)."""
    paid = MerchantPayment.objects.filter(request=OuterRef("pk"))
    return payment_requests_visible_to(actor).annotate(
        state=Case(
            When(cancelled_at__isnull=False, then=Value(RequestState.CANCELLED)),
            When(kind=PaymentRequestKind.STATIC, then=Value(RequestState.OPEN)),
            When(
                Exists(paid.filter(transfer__state=TransferState.SETTLED)),
                then=Value(RequestState.PAID),
            ),
            When(
                Exists(paid.filter(transfer__state=TransferState.RECEIVED)),
                then=Value(RequestState.PENDING),
            ),
            When(expires_at__lte=now or timezone.now(), then=Value(RequestState.EXPIRED)),
            default=Value(RequestState.OPEN),
            output_field=CharField(),
        )
    )


def merchant_payments_visible_to(actor: Actor) -> QuerySet[MerchantPayment]:
    payments = MerchantPayment.objects.select_related(
        "merchant", "request", "transfer", "payer_wallet"
    )
    return _in_merchant_scope(payments, actor, "merchant__")


def merchant_payments_with_refunds(actor: Actor) -> QuerySet[MerchantPayment]:
    """`merchant_payments_visible_to`, each with `refunded` (its refunds not rejected, in
    fen) and `refundable` (what is left to refund of a settled payment, as
    `services.refundable` counts it; none of one not settled)."""
    given = (
        Refund.objects.filter(original_id=OuterRef("transfer_id"))
        .exclude(transfer__state=TransferState.REJECTED)
        .values("original_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    # What the payer's own wallet paid: the part its vouchers paid is not refunded.
    voucher_paid = (
        TransferLeg.objects.filter(transfer_id=OuterRef("transfer_id"))
        .exclude(debit__kind=AccountKind.WALLET)
        .values("transfer_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return merchant_payments_visible_to(actor).annotate(
        refunded=Coalesce(Subquery(given), 0),
        refundable=Case(
            When(
                transfer__state=TransferState.SETTLED,
                then=F("amount") - Coalesce(Subquery(voucher_paid), 0) - F("refunded"),
            ),
            default=Value(0),
        ),
    )


# ---------------------------------------------------------------- sub-wallets


def _child_legs(side: str, **filters) -> Coalesce:
    """Fen moved into (`credit_id`) or out of (`debit_id`) a sub-wallet's own account by
    transfers not rejected: queued ones count, so what a pull or return has claimed is not
    claimed twice before it settles."""
    legs = (
        TransferLeg.objects.filter(**{side: OuterRef("wallet__account_id")}, **filters)
        .exclude(transfer__state=TransferState.REJECTED)
        .values(side)
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(legs), 0)


def sub_wallets_with_money(
    queryset: QuerySet[SubWallet], *, now: datetime | None = None
) -> QuerySet[SubWallet]:
    """Each sub-wallet with `state` (REVOKED, EXPIRED or ACTIVE), `pulled` (its merchant's
    pulls not rejected), `returned` (moved back to the parent, not rejected) and `unspent`:
    what came in (its funding, refunds of pulls) less what went out, all not rejected. While
    ACTIVE, `unspent` is what the merchant may still pull; once ended, what is owed back to
    the parent. The services decide from these same columns."""
    pulls = (
        MerchantPayment.objects.filter(payer_wallet_id=OuterRef("wallet_id"))
        .exclude(transfer__state=TransferState.REJECTED)
        .values("payer_wallet_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return queryset.annotate(
        state=Case(
            When(revoked_at__isnull=False, then=Value(SubWalletState.REVOKED)),
            When(expires_at__lte=now or timezone.now(), then=Value(SubWalletState.EXPIRED)),
            default=Value(SubWalletState.ACTIVE),
            output_field=CharField(),
        ),
        pulled=Coalesce(Subquery(pulls), 0),
        returned=_child_legs("debit_id", transfer__kind=TransferKind.SUB_WALLET_RETURN),
        unspent=_child_legs("credit_id") - _child_legs("debit_id"),
    )


def sub_wallets_visible_to(actor: Actor, *, now: datetime | None = None) -> QuerySet[SubWallet]:
    """Sub-wallets the actor sees (authority.sees_sub_wallet), with their money."""
    subs = SubWallet.objects.select_related(
        "parent", "wallet__account", "merchant", "fund_transfer"
    )
    scope = sub_wallet_scope(actor)
    return sub_wallets_with_money(subs if scope is None else subs.filter(scope), now=now)


def refunds_visible_to(actor: Actor) -> QuerySet[Refund]:
    refunds = Refund.objects.select_related("merchant", "original", "transfer")
    return _in_merchant_scope(refunds, actor, "merchant__")


def refund_of(transfer_field: str = "pk") -> Subquery:
    """For a query of transfers (or rows naming one in `transfer_field`): the payment a
    refund transfer gives back, none for any other transfer."""
    return Subquery(
        Refund.objects.filter(transfer_id=OuterRef(transfer_field)).values("original_id")[:1]
    )


def webhooks_visible_to(actor: Actor) -> QuerySet[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.select_related("merchant")
    return _in_merchant_scope(endpoints, actor, "merchant__")


def webhooks_with_delivery_counts(actor: Actor) -> QuerySet[WebhookEndpoint]:
    """`webhooks_visible_to`, each with `pending` (deliveries still being tried) and
    `failed` (given up): one query for a page of endpoints."""

    def counted(state: DeliveryState):
        deliveries = (
            WebhookDelivery.objects.filter(endpoint=OuterRef("pk"), state=state)
            .order_by()
            .values("endpoint")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(deliveries), 0)

    return webhooks_visible_to(actor).annotate(
        pending=counted(DeliveryState.PENDING), failed=counted(DeliveryState.FAILED)
    )


def webhook_deliveries_visible_to(actor: Actor) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.select_related("event", "endpoint__merchant")
    return _in_merchant_scope(deliveries, actor, "endpoint__merchant__")


# ---------------------------------------------------------------- one wallet


@dataclass(frozen=True)
class LimitUse:
    limit: int | None
    used: int

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


def wallet_limit_usage(wallet: Wallet, *, at: datetime | None = None) -> dict[str, LimitUse]:
    """How much of today's and this year's payment limits the wallet has used."""
    day, year = limit_periods(at or timezone.now())
    account = Account.objects.get(pk=wallet.account_id)
    current = CurrentPeriods(
        account.day_start, account.day_spent, account.year_start, account.year_spent
    )
    spent = limit_usage({account.pk: current}, [(day, year)])
    return {
        "daily": LimitUse(account.daily_limit, spent.get((account.pk, DAY, day), 0)),
        "annual": LimitUse(account.annual_limit, spent.get((account.pk, YEAR, year), 0)),
    }


def wallet_history(
    wallet: Wallet,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    state: str | None = None,
    counterparty: Account | None = None,
) -> QuerySet[TransferLeg]:
    """Every leg in or out of the wallet, newest first, with its transfer and, for a
    refund, `refund_of`: the payment it gives back."""
    legs = (
        TransferLeg.objects.filter(Q(debit_id=wallet.account_id) | Q(credit_id=wallet.account_id))
        .select_related("transfer", "debit__wallet", "credit__wallet")
        .annotate(refund_of=refund_of("transfer_id"))
        .order_by("-id")
    )
    if since is not None:
        legs = legs.filter(transfer__created_at__gte=since)
    if until is not None:
        legs = legs.filter(transfer__created_at__lt=until)
    if kind:
        legs = legs.filter(transfer__kind=kind)
    if state:
        legs = legs.filter(transfer__state=state)
    if counterparty is not None:
        legs = legs.filter(Q(debit=counterparty) | Q(credit=counterparty))
    return legs


# ---------------------------------------------------------------- money supply


@dataclass(frozen=True)
class OperatorCirculation:
    operator_id: int
    code: str
    vault: int  # fen
    wallets: int
    reserve: int  # RESERVE not yet pledged for e-CNY

    @property
    def circulation(self) -> int:
        return self.vault + self.wallets


def circulation_by_operator() -> list[OperatorCirculation]:
    """e-CNY in circulation at each operator (its vault and its wallets), and its reserve,
    by operator code: the API's money supply, the dashboard, the demo and the console's
    operator list all read it from here (the list through `operators_with_balances`)."""
    return [
        OperatorCirculation(
            operator_id=operator.pk,
            code=operator.code,
            vault=operator.vault_fen,
            wallets=operator.wallets_fen,
            reserve=operator.reserve_fen,
        )
        for operator in operators_with_balances().order_by("code")
    ]


@dataclass(frozen=True)
class MoneySupply:
    totals: MoneyTotals
    by_operator: list[OperatorCirculation]
    by_class: list[dict]
    as_of: date


def money_supply(*, actor: Actor) -> MoneySupply:
    """e-CNY in circulation, by operator (vault and wallets) and by wallet class: the
    central bank's view."""
    if not actor.is_central_bank:
        raise WalletError(ErrorCode.PERMISSION_DENIED, "money supply is for central-bank staff")
    by_class = [
        {"wallet_class": row["wallet_class_id"], "wallets": row["total"] or 0}
        for row in Wallet.objects.values("wallet_class_id")
        .annotate(total=Sum("account__balance"))
        .order_by("wallet_class_id")
    ]
    return MoneySupply(
        totals=money_totals(),
        by_operator=circulation_by_operator(),
        by_class=by_class,
        as_of=timezone.localdate(),
    )


# ---------------------------------------------------------------- conditional payments


def escrows_visible_to(actor: Actor) -> QuerySet[Escrow]:
    escrows = Escrow.objects.select_related(
        "payer_wallet", "payee_wallet", "transfer", "approver", "created_by", "release", "void"
    )
    scope = escrow_scope(actor)
    return escrows if scope is None else escrows.filter(scope)


def escrows_with_state(actor: Actor) -> QuerySet[Escrow]:
    """`escrows_visible_to`, each with `state` (services.escrow_state) as a column, to filter
    and order by."""
    return escrows_visible_to(actor).annotate(
        state=Case(
            *(
                When(transfer__state=t, then=Value(str(e)))
                for t, e in ESCROW_STATE_OF_TRANSFER.items()
            ),
            output_field=CharField(),
        )
    )


# ---------------------------------------------------------------- vouchers


def voucher_programmes_visible_to(actor: Actor) -> QuerySet[VoucherProgramme]:
    """A programme's terms are public (who funds it, how much, where and when it is spent):
    every signed-in actor sees every programme; what each wallet won, only who sees it."""
    if not actor.is_authenticated:
        return VoucherProgramme.objects.none()
    return VoucherProgramme.objects.select_related("government_wallet").order_by("-pk")


@dataclass(frozen=True)
class VoucherTotals:
    """A programme's money, in fen, read from the ledger's settled transfers."""

    funded: int  # from the government's wallet into the programme
    granted: int  # from the programme into winners' vouchers
    spent: int  # from vouchers into merchants' wallets
    returned: int  # from vouchers back to the programme at expiry
    returned_to_government: int  # from the programme back to the government's wallet
    outstanding: int  # still on the vouchers
    winners: int


def voucher_programme_totals(programme: VoucherProgramme) -> VoucherTotals:
    """Two aggregate queries: the programme's settled legs by kind, and its grants."""
    grant_accounts = VoucherGrant.objects.filter(programme=programme).values("account_id")
    settled = TransferLeg.objects.filter(transfer__state=TransferState.SETTLED)
    programme_account = programme.account_id
    legs = settled.filter(
        Q(debit_id=programme_account)
        | Q(credit_id=programme_account)
        | Q(debit_id__in=Subquery(grant_accounts))
    ).aggregate(
        funded=Sum("amount", filter=Q(transfer__kind="VOUCHER_FUND")),
        granted=Sum("amount", filter=Q(transfer__kind="VOUCHER_GRANT")),
        spent=Sum("amount", filter=Q(transfer__kind="MERCHANT")),
        returned=Sum(
            "amount", filter=Q(transfer__kind="VOUCHER_RETURN", credit_id=programme_account)
        ),
        returned_to_government=Sum(
            "amount", filter=Q(transfer__kind="VOUCHER_RETURN", debit_id=programme_account)
        ),
    )
    grants = VoucherGrant.objects.filter(programme=programme).aggregate(
        winners=Count("pk"), outstanding=Sum("account__balance")
    )
    return VoucherTotals(
        **{name: value or 0 for name, value in legs.items()},
        outstanding=grants["outstanding"] or 0,
        winners=grants["winners"],
    )


def wallet_vouchers(*, actor: Actor, wallet: Wallet) -> QuerySet[VoucherGrant]:
    """A wallet's vouchers with their programme and balance (`account.balance`), for
    whoever sees the wallet; NOT_FOUND for anyone else."""
    if not sees_wallet(actor, wallet):
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {wallet.number}")
    return (
        VoucherGrant.objects.filter(wallet=wallet)
        .select_related("programme", "account")
        .order_by("pk")
    )


# ---------------------------------------------------------------- offline hardware wallets


def _device_legs(side: str, kinds, states) -> Coalesce:
    """Fen moved into (`credit_id`) or out of (`debit_id`) a device's reserve account by
    transfers of `kinds` in `states`."""
    legs = (
        TransferLeg.objects.filter(
            **{side: OuterRef("account_id")},
            transfer__kind__in=kinds,
            transfer__state__in=states,
        )
        .values(side)
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(legs), 0)


def _sent(field: str) -> Coalesce:
    rows = (
        OfflinePayment.objects.filter(payer_id=OuterRef("pk"))
        .values("payer_id")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(rows), 0)


def offline_devices_with_reserve(queryset: QuerySet[OfflineDevice]) -> QuerySet[OfflineDevice]:
    """Each device with its reserve, in fen: `loaded` (loads settled: all it may ever pay
    out), `loading` (loads queued), `claimed` (the payments it signed that reached the
    server, unloads included), `allocated` (what its reserve pays of them), `paid_out`
    (settled out of the reserve), `available` (loaded less allocated: what it can still
    pay), `shortfall` (claimed less allocated: what its payees lose). The services decide
    from the same figures, under the device's lock."""
    loads = [TransferKind.OFFLINE_LOAD]
    outs = [TransferKind.OFFLINE_PAYMENT, TransferKind.OFFLINE_UNLOAD]
    return queryset.annotate(
        loaded=_device_legs("credit_id", loads, [TransferState.SETTLED]),
        loading=_device_legs("credit_id", loads, [TransferState.RECEIVED]),
        paid_out=_device_legs("debit_id", outs, [TransferState.SETTLED]),
        claimed=_sent("amount"),
        allocated=_sent("allocated"),
        available=F("loaded") - F("allocated"),
        shortfall=F("claimed") - F("allocated"),
    )


def offline_devices_visible_to(actor: Actor) -> QuerySet[OfflineDevice]:
    """Hardware wallets the actor sees (authority.sees_offline_device), with their reserve."""
    devices = OfflineDevice.objects.select_related(
        "wallet__holder", "wallet__operator", "account"
    ).order_by("-created_at", "-pk")
    scope = offline_device_scope(actor)
    return offline_devices_with_reserve(devices if scope is None else devices.filter(scope))


def offline_payments_visible_to(actor: Actor) -> QuerySet[OfflinePayment]:
    """Offline payments whose payer or payee device the actor sees, with `paid` (settled
    to the payee) and `queued` (on its way)."""
    payments = OfflinePayment.objects.select_related(
        "payer__wallet", "payee__wallet", "uploaded_by"
    ).order_by("-received_at", "-pk")
    scope = offline_device_scope(actor, "payer__")
    if scope is not None:
        payments = payments.filter(scope | offline_device_scope(actor, "payee__"))
    return offline_payments_with_settlement(payments)


def offline_payments_with_settlement(queryset: QuerySet[OfflinePayment]) -> QuerySet:
    def moved(state):
        rows = (
            OfflineSettlement.objects.filter(payment_id=OuterRef("pk"), transfer__state=state)
            .values("payment_id")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return Coalesce(Subquery(rows), 0)

    return queryset.annotate(
        paid=moved(TransferState.SETTLED), queued=moved(TransferState.RECEIVED)
    )


def offline_payment_state(payment) -> str:
    """Of a payment from `offline_payments_with_settlement`: SHORT, the payer's reserve pays
    less than the amount (a double spend); SETTLED, all of it paid; QUEUED, on its way;
    HELD, the ledger refused its transfer (the payee's wallet frozen, closed or at its cap)
    and a later sync tries again."""
    if payment.allocated < payment.amount:
        return "SHORT"
    if payment.paid == payment.amount:
        return "SETTLED"
    if payment.paid + payment.queued == payment.amount:
        return "QUEUED"
    return "HELD"


def double_spend_alerts_visible_to(actor: Actor) -> QuerySet[DoubleSpendAlert]:
    """Double-spend alerts the actor sees: the device's operator's staff and the central
    bank (authority.sees_double_spend_alert), newest first."""
    alerts = DoubleSpendAlert.objects.select_related(
        "device__wallet__operator", "acknowledged_by"
    ).order_by("-detected_at", "-pk")
    scope = double_spend_alert_scope(actor)
    return alerts if scope is None else alerts.filter(scope)


def blocked_devices() -> list[str]:
    """The ids of every blocked device: the list each sync answer carries, so that a
    payee device refuses their payments from then on."""
    return list(
        OfflineDevice.objects.filter(state=OfflineDeviceState.BLOCKED)
        .order_by("device_id")
        .values_list("device_id", flat=True)
    )
