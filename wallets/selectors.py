"""Reads of the e-CNY product, scoped to who is asking.

`Principal` says who a user is to this system (central bank staff, staff of one operator,
a holder); every queryset an interface shows goes through one of the `*_visible_to`
functions, so a row outside the caller's scope is simply not there (404, never 403).
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from ewallet.errors import ErrorCode, EwalletError
from settlement.models import (
    Account,
    LimitPeriod,
    LimitUsage,
    Transfer,
    TransferLeg,
)
from settlement.rules import limit_periods
from settlement.selectors import MoneyTotals, money_totals
from wallets.models import (
    Holder,
    IssuanceRequest,
    KycMethod,
    Operator,
    OperatorStaff,
    Wallet,
)
from wallets.roles import Role

CENTRAL_BANK_ROLES = frozenset({Role.CB_ISSUER, Role.CB_APPROVER, Role.CB_AUDITOR, Role.CB_POLICY})


@dataclass(frozen=True)
class _Facts:
    roles: frozenset
    operator_id: int | None
    holder_id: int | None


def _load_facts(user) -> _Facts:
    if user.is_superuser:
        roles = frozenset(Role)
    else:
        names = set(user.groups.values_list("name", flat=True))
        roles = frozenset(role for role in Role if role in names)
    operator_id = None
    if Role.OPERATOR_STAFF in roles:
        operator_id = (
            OperatorStaff.objects.filter(user_id=user.pk)
            .values_list("operator_id", flat=True)
            .first()
        )
    holder_id = Holder.objects.filter(user_id=user.pk).values_list("pk", flat=True).first()
    return _Facts(roles, operator_id, holder_id)


@dataclass
class Principal:
    """Who a user is here: roles, the operator they work for, the holder they are."""

    user: object

    @cached_property
    def _facts(self) -> _Facts:
        if not getattr(self.user, "is_authenticated", False):
            return _Facts(frozenset(), None, None)
        from wallets.api.authcache import remembered

        return remembered("principal", self.user.pk, lambda: _load_facts(self.user))

    @property
    def roles(self) -> frozenset[Role]:
        return self._facts.roles

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_central_bank(self) -> bool:
        return bool(self.roles & CENTRAL_BANK_ROLES)

    @property
    def operator_id(self) -> int | None:
        """The operator this user works for, if they hold the operator-staff role."""
        return self._facts.operator_id

    @property
    def holder_id(self) -> int | None:
        return self._facts.holder_id

    @cached_property
    def holder(self) -> Holder | None:
        return None if self.holder_id is None else Holder.objects.get(pk=self.holder_id)

    def sees_identity_of(self, holder: Holder, operator_id: int) -> bool:
        """Central-bank staff know anonymous (phone-only) holders by pseudonym only."""
        if self.holder_id == holder.pk:
            return True
        if self.operator_id is not None and self.operator_id == operator_id:
            return True
        return holder.kyc_method != KycMethod.PHONE_ONLY


def _wallet_scope(principal: Principal) -> Q | None:
    """A filter on Wallet for what the principal may see; None means everything."""
    if principal.is_central_bank:
        return None
    scope = Q(pk__in=[])
    if principal.operator_id is not None:
        scope |= Q(operator_id=principal.operator_id)
    if principal.holder_id is not None:
        scope |= Q(holder_id=principal.holder_id)
    return scope


def wallets_visible_to(principal: Principal) -> QuerySet[Wallet]:
    wallets = Wallet.objects.select_related("holder", "operator", "wallet_class", "account")
    scope = _wallet_scope(principal)
    return wallets if scope is None else wallets.filter(scope)


def wallets_actionable_by(principal: Principal) -> QuerySet[Wallet]:
    """Wallets the principal may act on as their operator: its staff only."""
    if principal.operator_id is None:
        return Wallet.objects.none()
    return wallets_visible_to(principal).filter(operator_id=principal.operator_id)


def payment_wallets(principal: Principal, payer: str, payee: str) -> tuple[Wallet, Wallet]:
    """The two wallets of a payment by number, in one query; the payer must be payable."""
    # Raw SQL: this is on every payment's path, and composing the ORM query cost more
    # than running it.
    found = {
        w.number: w
        for w in Wallet.objects.raw(
            f"SELECT id, number, holder_id, operator_id, account_id, kind, wallet_class_id "
            f"FROM {Wallet._meta.db_table} WHERE number IN (%s, %s)",
            [payer, payee],
        )
    }
    paying = found.get(payer)
    if paying is None or not (
        (principal.holder_id is not None and paying.holder_id == principal.holder_id)
        or (principal.operator_id is not None and paying.operator_id == principal.operator_id)
    ):
        if paying is not None and principal.is_central_bank:
            raise EwalletError(
                ErrorCode.PERMISSION_DENIED, "only the wallet's holder or operator may pay from it"
            )
        raise EwalletError(
            ErrorCode.NOT_FOUND, f"no wallet {payer} you may pay from", field="payer"
        )
    if payee not in found:
        raise EwalletError(ErrorCode.NOT_FOUND, f"no wallet {payee}", field="payee")
    return paying, found[payee]


def accounts_visible_to(principal: Principal) -> QuerySet[Account] | None:
    """Ledger accounts in scope (wallets, and an operator's own vault and reserve)."""
    scope = _wallet_scope(principal)
    if scope is None:
        return None
    accounts = Q(pk__in=Wallet.objects.filter(scope).values("account_id"))
    if principal.operator_id is not None:
        operator = Operator.objects.filter(pk=principal.operator_id)
        accounts |= Q(pk__in=operator.values("vault_account_id"))
        accounts |= Q(pk__in=operator.values("reserve_account_id"))
    return Account.objects.filter(accounts)


def transfers_visible_to(principal: Principal) -> QuerySet[Transfer]:
    transfers = Transfer.objects.all()
    accounts = accounts_visible_to(principal)
    if accounts is None:
        return transfers
    ids = accounts.values("pk")
    touches = TransferLeg.objects.filter(transfer=OuterRef("pk")).filter(
        Q(debit_id__in=ids) | Q(credit_id__in=ids)
    )
    return transfers.filter(Exists(touches))


def issuances_visible_to(principal: Principal) -> QuerySet[IssuanceRequest]:
    requests = IssuanceRequest.objects.select_related("operator", "maker", "checker", "transfer")
    if principal.is_central_bank:
        return requests
    if principal.operator_id is not None:
        return requests.filter(operator_id=principal.operator_id)
    return requests.none()


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
    spent = dict(
        LimitUsage.objects.filter(account_id=wallet.account_id)
        .filter(Q(period=LimitPeriod.DAY, start=day) | Q(period=LimitPeriod.YEAR, start=year))
        .values_list("period", "spent")
    )
    account = wallet.account
    return {
        "daily": LimitUse(account.daily_limit, spent.get(LimitPeriod.DAY, 0)),
        "annual": LimitUse(account.annual_limit, spent.get(LimitPeriod.YEAR, 0)),
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
    """Every leg in or out of the wallet, newest first, with its transfer."""
    legs = (
        TransferLeg.objects.filter(Q(debit_id=wallet.account_id) | Q(credit_id=wallet.account_id))
        .select_related("transfer", "debit__wallet", "credit__wallet")
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
class MoneySupply:
    totals: MoneyTotals
    by_operator: list[dict]
    by_class: list[dict]
    as_of: date


def money_supply() -> MoneySupply:
    """e-CNY in circulation, by operator (vault and wallets) and by wallet class."""
    wallets = Wallet.objects.values("operator_id").annotate(total=Sum("account__balance"))
    in_wallets = {row["operator_id"]: row["total"] or 0 for row in wallets}
    by_operator = [
        {
            "operator": operator.code,
            "vault": operator.vault_account.balance,
            "wallets": in_wallets.get(operator.pk, 0),
            "reserve": operator.reserve_account.balance,
        }
        for operator in Operator.objects.select_related(
            "vault_account", "reserve_account"
        ).order_by("code")
    ]
    by_class = [
        {"wallet_class": row["wallet_class_id"], "wallets": row["total"] or 0}
        for row in Wallet.objects.values("wallet_class_id")
        .annotate(total=Sum("account__balance"))
        .order_by("wallet_class_id")
    ]
    return MoneySupply(
        totals=money_totals(),
        by_operator=by_operator,
        by_class=by_class,
        as_of=timezone.localdate(),
    )
