"""Every business action of the e-CNY product, one function each.

Interfaces (the API, the console, the demo, load runs, management commands and tasks) call
these and nothing else, and repeat none of their rules. Each takes the acting `Actor`,
keyword-only, and checks role, operator scope and state itself (wallets/authority.py):
an object the actor cannot see is NOT_FOUND, one they see but may not act on is
PERMISSION_DENIED. Set-up (`*_ensure`) creates what is missing, changes nothing that
exists, and takes no actor.

Money moves only through `settlement.services.transfer_submit`: these functions decide
which accounts and how much, and the ledger decides whether it can happen (funds, limits,
freezes, a suspended operator), so a refusal there is a REJECTED transfer, never an error.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import Account, AccountKind, AccountStatus, Asset, Transfer, TransferKind
from settlement.services import LegSpec, SubmitOutcome, TransferSpec
from settlement.sql import array_literal, fetch
from wallets.actors import Actor
from wallets.authority import (
    freeze_authority,
    may_lift,
    may_pay_from,
    require_operates_wallet,
    require_role,
    require_sees_wallet,
    require_staff_of,
    require_system,
    sees_holder,
)
from wallets.catalogue import seed_reference_data
from wallets.exceptions import WalletError
from wallets.identity import identity_link
from wallets.models import (
    LIMIT_FIELDS,
    AuditVerification,
    CentralBank,
    FreezeAuthority,
    FreezeOrder,
    FreezeScope,
    Holder,
    HolderKind,
    IssuanceDirection,
    IssuanceRequest,
    IssuanceState,
    KycMethod,
    Operator,
    OperatorStaff,
    OperatorStatus,
    Wallet,
    WalletClass,
    WalletKind,
    WalletStatusChange,
)
from wallets.roles import CENTRAL_BANK_ROLES, Role, role_groups_ensure

# ---------------------------------------------------------------- reference data


def reference_data_ensure() -> None:
    """Wallet classes with the default limits, and one group per role with its console
    permissions, if missing."""
    from django.contrib.auth.models import Group, Permission

    seed_reference_data(WalletClass)
    role_groups_ensure(Group, Permission)


# ---------------------------------------------------------------- institutions


@transaction.atomic
def central_bank_ensure() -> CentralBank:
    """The central bank and its three accounts; created on first use."""
    bank = CentralBank.objects.select_for_update().filter(pk=1).first()
    if bank is not None:
        return bank
    return CentralBank.objects.create(
        pk=1,
        issuance_account=ledger.account_open(
            label="cb:issuance", kind=AccountKind.ISSUANCE, asset=Asset.ECNY
        ),
        backing_account=ledger.account_open(
            label="cb:backing", kind=AccountKind.BACKING, asset=Asset.RESERVE
        ),
        reserve_source_account=ledger.account_open(
            label="cb:reserve-source", kind=AccountKind.RESERVE_SOURCE, asset=Asset.RESERVE
        ),
    )


@transaction.atomic
def operator_onboard(
    *, actor: Actor, code: str, name: str, name_zh: str = "", reserve_deposit: int
) -> Operator:
    """Authorise an operator and credit its opening reserve deposit at the central bank."""
    require_role(actor, Role.CB_APPROVER)
    require_fen(reserve_deposit, field="reserve_deposit")
    code = code.strip().upper()
    if not code or Operator.objects.filter(code=code).exists():
        raise WalletError(ErrorCode.CONFLICT, f"operator {code!r} exists or is empty")
    bank = central_bank_ensure()
    operator = Operator.objects.create(
        code=code,
        name=name,
        name_zh=name_zh,
        reserve_account=ledger.account_open(
            label=f"op:{code}:reserve", kind=AccountKind.RESERVE, asset=Asset.RESERVE
        ),
        vault_account=ledger.account_open(
            label=f"op:{code}:vault", kind=AccountKind.VAULT, asset=Asset.ECNY
        ),
    )
    ledger.transfer_submit(
        kind=TransferKind.RESERVE_DEPOSIT,
        legs=[
            LegSpec(bank.reserve_source_account_id, operator.reserve_account_id, reserve_deposit)
        ],
        idempotency_key=f"operator:{code}:opening-reserve",
        memo=f"opening reserve deposit of {code}",
    )
    return operator


@transaction.atomic
def operator_set_status(*, actor: Actor, operator: Operator, status: OperatorStatus) -> Operator:
    """Suspend or reinstate an operator. The ledger enforces a suspension on every account
    of the operator (reserve, vault, wallets): they may still receive, but nothing debits
    them but a redemption, so its loads, unloads and payments, queued or new, are
    REJECTED with OPERATOR_SUSPENDED, and issuance to it is refused."""
    require_role(actor, Role.CB_APPROVER)
    status = OperatorStatus(status)
    # The row lock orders this against wallet_open, which reads the status under it.
    operator = Operator.objects.select_for_update().get(pk=operator.pk)
    operator.status = status
    operator.save(update_fields=["status"])
    ledger.accounts_set_policy(
        account_ids=[
            operator.reserve_account_id,
            operator.vault_account_id,
            *Wallet.objects.filter(operator=operator).values_list("account_id", flat=True),
        ],
        suspended=status == OperatorStatus.SUSPENDED,
    )
    return operator


def _require_active(operator: Operator) -> None:
    if operator.status != OperatorStatus.ACTIVE:
        raise WalletError(ErrorCode.OPERATOR_SUSPENDED, f"operator {operator.code} is suspended")


@transaction.atomic
def operator_staff_assign(*, actor: Actor, user, operator: Operator) -> OperatorStaff:
    """Make `user` staff of `operator` (the operator-staff role and its scope): an
    administrator's act, or the system's when it seeds users."""
    require_system(actor, "assigning operator staff")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=Role.OPERATOR_STAFF))
    staff, _ = OperatorStaff.objects.update_or_create(user=user, defaults={"operator": operator})
    return staff


# ---------------------------------------------------------------- issuance (maker-checker)


@transaction.atomic
def issuance_request(
    *, actor: Actor, operator: Operator, amount: int, direction: IssuanceDirection
) -> IssuanceRequest:
    """The maker's half: ask to issue to an operator (refused while it is suspended) or to
    redeem from it (allowed: it is how the central bank winds one down)."""
    require_role(actor, Role.CB_ISSUER)
    direction = IssuanceDirection(direction)
    if direction == IssuanceDirection.ISSUE:
        _require_active(Operator.objects.get(pk=operator.pk))  # as it is now, not as passed
    return IssuanceRequest.objects.create(
        operator=operator, direction=direction, amount=require_fen(amount), maker=actor.user
    )


@transaction.atomic
def issuance_approve(*, actor: Actor, request_id: int) -> IssuanceRequest:
    """Approve and submit the transfer; the ledger moves when it settles.

    Issuing moves RESERVE from the operator's reserve to the central bank's backing, and
    ECNY from the issuance account to the operator's vault, as one two-leg transfer: both
    legs settle or neither does. Redemption is the reverse.
    """
    require_role(actor, Role.CB_APPROVER)
    request = _issuance_for_decision(actor, request_id)
    operator = request.operator
    if request.direction == IssuanceDirection.ISSUE:
        _require_active(operator)
    bank = central_bank_ensure()
    reserve = LegSpec(operator.reserve_account_id, bank.backing_account_id, request.amount)
    ecny = LegSpec(bank.issuance_account_id, operator.vault_account_id, request.amount)
    if request.direction == IssuanceDirection.ISSUE:
        kind, legs = TransferKind.ISSUE, [reserve, ecny]
    else:
        kind = TransferKind.REDEEM
        legs = [LegSpec(leg.credit, leg.debit, leg.amount) for leg in (ecny, reserve)]
    request.transfer, _ = ledger.transfer_submit(
        kind=kind,
        legs=legs,
        idempotency_key=f"issuance:{request.pk}",
        memo=f"{request.direction.lower()} {operator.code}",
    )
    request.state = IssuanceState.APPROVED
    request.checker = actor.user
    request.decided_at = timezone.now()
    request.save(update_fields=["transfer", "state", "checker", "decided_at"])
    return request


@transaction.atomic
def issuance_reject(*, actor: Actor, request_id: int, reason: str) -> IssuanceRequest:
    require_role(actor, Role.CB_APPROVER)
    if not reason.strip():
        raise WalletError(ErrorCode.INVALID_INPUT, "a rejection needs a reason", field="reason")
    request = _issuance_for_decision(actor, request_id)
    request.state = IssuanceState.REJECTED
    request.checker = actor.user
    request.reason = reason.strip()[:240]
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "checker", "reason", "decided_at"])
    return request


def _issuance_for_decision(actor: Actor, request_id: int) -> IssuanceRequest:
    request = (
        IssuanceRequest.objects.select_for_update()
        .select_related("operator")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"issuance request {request_id} not found")
    if request.state != IssuanceState.REQUESTED:
        raise WalletError(ErrorCode.INVALID_STATE, f"request is already {request.state}")
    if request.maker_id == actor.user_id:
        raise WalletError(
            ErrorCode.MAKER_CHECKER, "the maker of a request cannot approve or reject it"
        )
    return request


# ---------------------------------------------------------------- holders and wallets


@transaction.atomic
def holder_register(
    *,
    actor: Actor,
    operator: Operator,
    display_name: str,
    kyc_method: KycMethod,
    kind: HolderKind = HolderKind.PERSON,
    phone: str = "",
    id_number: str = "",
    bank_account: str = "",
    user=None,
) -> Holder:
    """Record a holder after KYC at `operator`, by its staff. Identity and bank numbers are
    stored masked; the central bank's link to the same person's records at other operators
    is a keyed hash (wallets/identity.py)."""
    require_staff_of(actor, operator.pk, "records its holders' KYC")
    kyc_method = KycMethod(kyc_method)
    needs_id = kyc_method in (KycMethod.IN_PERSON, KycMethod.REMOTE_ID_BANK, KycMethod.REMOTE_ID)
    if needs_id and not id_number:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, f"{kyc_method} needs an identity number")
    if kyc_method == KycMethod.REMOTE_ID_BANK and not bank_account:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, f"{kyc_method} needs a linked bank account")
    if kyc_method == KycMethod.PHONE_ONLY and not phone:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, "an anonymous wallet needs a phone number")
    if kyc_method == KycMethod.PHONE_ONLY and (id_number or bank_account):
        # Anonymous means the operator keeps the phone number and nothing else.
        raise WalletError(
            ErrorCode.INVALID_INPUT, "a phone-only holder gives no identity or bank number"
        )
    return Holder.objects.create(
        operator=operator,
        kind=HolderKind(kind),
        display_name=display_name,
        kyc_method=kyc_method,
        phone=phone,
        id_number_masked=_mask(id_number),
        bank_account_masked=_mask(bank_account),
        identity_link=identity_link(
            settings.EWALLET_IDENTITY_LINK_KEY,
            id_number=id_number if needs_id else "",
            phone=phone,
        ),
        user=user,
    )


def _mask(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:] if number else ""


@transaction.atomic
def wallet_open(
    *,
    actor: Actor,
    holder: Holder,
    wallet_class: int | None = None,
    kind: WalletKind | None = None,
) -> Wallet:
    """Open a wallet for a holder at the operator that KYC'd them, by its staff; the class
    defaults to the strongest the KYC allows. Another operator's holder is not found."""
    if not sees_holder(actor, holder):
        raise WalletError(ErrorCode.NOT_FOUND, f"no holder {holder.pseudonym}", field="holder_id")
    require_staff_of(actor, holder.operator_id, "opens wallets for its holders")
    # Read under the row lock that operator_set_status takes, so a suspension and an
    # opening cannot cross.
    operator = Operator.objects.select_for_update().get(pk=holder.operator_id)
    _require_active(operator)
    kind = WalletKind(
        kind or (WalletKind.MERCHANT if holder.kind == HolderKind.MERCHANT else WalletKind.PERSONAL)
    )
    if kind == WalletKind.MERCHANT and holder.kind != HolderKind.MERCHANT:
        raise WalletError(ErrorCode.INVALID_INPUT, "only a merchant can open a merchant wallet")
    klass = _class_allowed(holder, wallet_class or holder.strongest_class)
    # 16 digits: two naming the operator, fourteen random; the unique index guards the rest.
    number = f"{operator.pk % 100:02d}{secrets.randbelow(10**14):014d}"
    account = ledger.account_open(
        label=f"wallet:{number}", kind=AccountKind.WALLET, asset=Asset.ECNY, **klass.limits()
    )
    return Wallet.objects.create(
        number=number,
        holder=holder,
        operator=operator,
        wallet_class=klass,
        kind=kind,
        account=account,
    )


@transaction.atomic
def holder_onboard(
    *,
    actor: Actor,
    operator: Operator | None = None,
    wallet_class: int | None = None,
    **holder_fields,
) -> Wallet:
    """A new holder after KYC at `operator` (by default the actor's own) and their first
    wallet there, both or neither."""
    if operator is None:
        if actor.operator_id is None:
            raise WalletError(ErrorCode.PERMISSION_DENIED, "only operator staff onboard holders")
        operator = Operator.objects.get(pk=actor.operator_id)
    holder = holder_register(actor=actor, operator=operator, **holder_fields)
    return wallet_open(actor=actor, holder=holder, wallet_class=wallet_class)


@transaction.atomic
def wallet_change_class(*, actor: Actor, wallet: Wallet, wallet_class: int) -> Wallet:
    """Upgrade or downgrade, by the wallet's operator; a stronger class needs the KYC for it."""
    require_operates_wallet(actor, wallet)
    klass = _class_allowed(wallet.holder, wallet_class)
    wallet.wallet_class = klass
    wallet.save(update_fields=["wallet_class"])
    ledger.accounts_set_policy(account_ids=[wallet.account_id], limits=klass.limits())
    return wallet


def _class_allowed(holder: Holder, number: int) -> WalletClass:
    klass = WalletClass.objects.filter(number=number).first()
    if klass is None:
        raise WalletError(
            ErrorCode.INVALID_INPUT, f"no wallet class {number}", field="wallet_class"
        )
    if number < holder.strongest_class:
        raise WalletError(
            ErrorCode.KYC_INSUFFICIENT,
            f"{holder.get_kyc_method_display()} allows class {holder.strongest_class} at best",
        )
    return klass


@transaction.atomic
def wallet_class_update(*, actor: Actor, number: int, **limits: int | None) -> WalletClass:
    """Edit a class's limits (fen, None = none) and apply them to every wallet of the class."""
    require_role(actor, Role.CB_POLICY)
    if not set(limits) <= set(LIMIT_FIELDS):
        raise WalletError(ErrorCode.INVALID_INPUT, f"unknown limits: {sorted(limits)}")
    klass = WalletClass.objects.select_for_update().get(number=number)
    for name, value in limits.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise WalletError(ErrorCode.INVALID_AMOUNT, f"{name} must be fen >= 0", field=name)
        setattr(klass, name, value)
    klass.updated_by = actor.user
    klass.updated_at = timezone.now()
    klass._history_user = actor.user  # the change history records who made it
    klass.save()
    ledger.accounts_set_policy(
        account_ids=list(klass.wallets.values_list("account_id", flat=True)),
        limits=klass.limits(),
    )
    return klass


@transaction.atomic
def wallet_classes_apply_preset(*, actor: Actor, preset: str) -> list[WalletClass]:
    """Switch the limits table to a published preset (catalogue.LIMIT_PRESETS), in fen."""
    from wallets.catalogue import LIMIT_PRESETS

    require_role(actor, Role.CB_POLICY)
    if preset not in LIMIT_PRESETS:
        raise WalletError(ErrorCode.INVALID_INPUT, f"no preset {preset!r}", field="preset")
    return [
        wallet_class_update(
            actor=actor,
            number=number,
            **{
                name: None if value is None else value * 100
                for name, value in zip(LIMIT_FIELDS, limits, strict=True)
            },
        )
        for number, limits in sorted(LIMIT_PRESETS[preset]["classes"].items())
    ]


# ---------------------------------------------------------------- freeze orders and closure


def _status_from_orders(wallet: Wallet) -> AccountStatus:
    """What the orders in force make of a wallet: frozen if any full order is, else
    receive-only if any receive-only order is, else active."""
    scopes = set(
        FreezeOrder.objects.filter(wallet=wallet, lifted_at__isnull=True).values_list(
            "scope", flat=True
        )
    )
    if FreezeScope.FULL in scopes:
        return AccountStatus.FROZEN
    if FreezeScope.RECEIVE_ONLY in scopes:
        return AccountStatus.RECEIVE_ONLY
    return AccountStatus.ACTIVE


def _locked_account(wallet: Wallet) -> Account:
    """The wallet's account, locked: freeze, lift and close on one wallet take turns."""
    account = Account.objects.select_for_update().get(pk=wallet.account_id)
    if account.status == AccountStatus.CLOSED:
        raise WalletError(ErrorCode.WALLET_CLOSED, f"wallet {wallet.number} is closed")
    return account


def _apply_status(
    *, actor: Actor, wallet: Wallet, account: Account, status, reason, order=None
) -> None:
    if account.status != status:
        WalletStatusChange.objects.create(
            wallet=wallet,
            old_status=account.status,
            new_status=status,
            reason=reason,
            actor=actor.user,
            order=order,
        )
        ledger.accounts_set_policy(account_ids=[account.pk], status=status)
    wallet.account.status = status


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise WalletError(ErrorCode.INVALID_INPUT, "this needs a reason", field="reason")
    return reason.strip()[:240]


@transaction.atomic
def wallet_freeze(*, actor: Actor, wallet: Wallet, scope: FreezeScope, reason: str) -> FreezeOrder:
    """Order a freeze (FULL: nothing in or out; RECEIVE_ONLY: nothing out), with a reason.

    The wallet's operator's staff order it for the operator; a central-bank approver for
    the central bank. Orders stack (see FreezeOrder); the ledger enforces the result from
    the next batch on, including on payments already queued.
    """
    require_sees_wallet(actor, wallet)
    authority = freeze_authority(actor, wallet)
    if authority is None:
        raise WalletError(
            ErrorCode.PERMISSION_DENIED,
            "only the wallet's operator or a central-bank approver may freeze it",
        )
    reason = _require_reason(reason)
    account = _locked_account(wallet)
    order = FreezeOrder.objects.create(
        wallet=wallet,
        authority=authority,
        operator_id=wallet.operator_id if authority == FreezeAuthority.OPERATOR else None,
        scope=FreezeScope(scope),
        reason=reason,
        ordered_by=actor.user,
    )
    _apply_status(
        actor=actor,
        wallet=wallet,
        account=account,
        status=_status_from_orders(wallet),
        reason=f"freeze order #{order.pk}: {reason}",
        order=order,
    )
    return order


@transaction.atomic
def freeze_lift(*, actor: Actor, order: FreezeOrder, reason: str) -> FreezeOrder:
    """Lift one order, by the authority that gave it (authority.may_lift); the wallet is
    active again only when no other order is in force."""
    wallet = order.wallet
    require_sees_wallet(actor, wallet)
    if not may_lift(actor, order):
        who = (
            "a central-bank approver"
            if order.authority == FreezeAuthority.CENTRAL_BANK
            else "the operator that gave it"
        )
        raise WalletError(
            ErrorCode.FREEZE_AUTHORITY,
            f"a freeze by the {order.get_authority_display().lower()} is lifted only by {who}",
            authority=order.authority,
        )
    reason = _require_reason(reason)
    account = _locked_account(wallet)
    order = FreezeOrder.objects.select_for_update().get(pk=order.pk)
    if order.lifted_at is not None:
        raise WalletError(ErrorCode.INVALID_STATE, f"freeze order #{order.pk} is already lifted")
    order.lifted_at = timezone.now()
    order.lifted_by = actor.user
    order.lift_reason = reason
    order.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    _apply_status(
        actor=actor,
        wallet=wallet,
        account=account,
        status=_status_from_orders(wallet),
        reason=f"freeze order #{order.pk} lifted: {reason}",
        order=order,
    )
    return order


@transaction.atomic
def wallet_close(*, actor: Actor, wallet: Wallet, reason: str) -> Wallet:
    """Close a wallet for good, by its operator: only when empty and under no freeze."""
    require_operates_wallet(actor, wallet)
    reason = _require_reason(reason)
    account = _locked_account(wallet)
    if account.balance != 0:
        raise WalletError(ErrorCode.INVALID_STATE, "unload the balance before closing a wallet")
    if FreezeOrder.objects.filter(wallet=wallet, lifted_at__isnull=True).exists():
        raise WalletError(ErrorCode.INVALID_STATE, "a wallet under a freeze order cannot close")
    _apply_status(
        actor=actor, wallet=wallet, account=account, status=AccountStatus.CLOSED, reason=reason
    )
    return wallet


# ---------------------------------------------------------------- money movements


def wallet_load(*, actor: Actor, wallet: Wallet, amount: int, idempotency_key: str) -> Transfer:
    """Holder's bank deposit -> e-CNY, by the wallet's operator: its vault pays the wallet."""
    require_operates_wallet(actor, wallet)
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.LOAD,
        legs=[LegSpec(_vault_account_id(wallet.operator_id), wallet.account_id, amount)],
        idempotency_key=idempotency_key,
    )
    return transfer


def wallet_unload(*, actor: Actor, wallet: Wallet, amount: int, idempotency_key: str) -> Transfer:
    """e-CNY -> the holder's bank deposit, by the wallet's operator: the wallet pays its
    vault."""
    require_operates_wallet(actor, wallet)
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.UNLOAD,
        legs=[LegSpec(wallet.account_id, _vault_account_id(wallet.operator_id), amount)],
        idempotency_key=idempotency_key,
    )
    return transfer


def _vault_account_id(operator_id: int) -> int:
    return Operator.objects.values_list("vault_account_id", flat=True).get(pk=operator_id)


def payment_submit(
    *, actor: Actor, payer: str, payee: str, amount: int, idempotency_key: str, memo: str = ""
) -> tuple[Transfer, Wallet, Wallet]:
    """A person-to-person or merchant payment between two wallet numbers, at one operator or
    across two, by the payer's holder or the payer's operator's staff (authority.may_pay_from).
    Returns the queued transfer and the two wallets.

    e-CNY is a central-bank liability, so a payment across operators is a plain ledger
    transfer between the two wallets: no interbank settlement is needed.
    """
    found = _payment_wallets(payer, payee)
    paying = found.get(payer)
    if paying is None or not may_pay_from(actor, paying):
        if paying is not None and actor.is_central_bank:
            raise WalletError(
                ErrorCode.PERMISSION_DENIED, "only the wallet's holder or operator may pay from it"
            )
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {payer} you may pay from", field="payer")
    receiving = found.get(payee)
    if receiving is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {payee}", field="payee")
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.MERCHANT if receiving.kind == WalletKind.MERCHANT else TransferKind.P2P,
        legs=[LegSpec(paying.account_id, receiving.account_id, amount)],
        idempotency_key=idempotency_key,
        memo=memo,
    )
    return transfer, paying, receiving


def _payment_wallets(payer: str, payee: str) -> dict[str, Wallet]:
    """The two wallets of a payment by number, in one query."""
    # Raw SQL: this is on every payment's path, and composing the ORM query cost more than
    # running it.
    return {
        w.number: w
        for w in Wallet.objects.raw(
            f"SELECT id, number, holder_id, operator_id, account_id, kind, wallet_class_id "
            f"FROM {Wallet._meta.db_table} WHERE number IN (%s, %s)",
            [payer, payee],
        )
    }


def _wallet_rows(numbers: set[str]) -> list[tuple]:
    """(number, account_id, operator_id, kind) of the wallets named."""
    if connection.vendor == "postgresql":  # one array parameter, not thousands of them
        return fetch(
            "SELECT number, account_id, operator_id, kind FROM "
            f"{Wallet._meta.db_table} WHERE number = ANY(%s::text[])",
            [array_literal(sorted(numbers))],
        )
    return list(
        Wallet.objects.filter(number__in=numbers).values_list(
            "number", "account_id", "operator_id", "kind"
        )
    )


def _batch_operator(actor: Actor, what: str) -> int:
    """Batches are an operator's (its gateway's): the actor's operator."""
    if actor.operator_id is None:
        raise WalletError(ErrorCode.PERMISSION_DENIED, f"only operator staff submit {what}")
    return actor.operator_id


@dataclass(frozen=True)
class PaymentSpec:
    payer: str  # wallet numbers
    payee: str
    amount: int
    idempotency_key: str
    memo: str = ""


def payments_submit_many(*, actor: Actor, payments: Sequence[PaymentSpec]) -> list[SubmitOutcome]:
    """The actor's operator's batch of payments from its own wallets; each item queued or
    refused alone. One query finds every wallet named; the ledger queues the valid items
    set-based."""
    operator_id = _batch_operator(actor, "batches of payments")
    numbers = {number for spec in payments for number in (spec.payer, spec.payee)}
    # Tuples, not models: building a thousand model instances cost more than the query.
    wallets = {
        number: (account_id, wallet_operator, kind)
        for number, account_id, wallet_operator, kind in _wallet_rows(numbers)
    }
    outcomes: dict[int, SubmitOutcome] = {}
    queued: list[tuple[int, TransferSpec]] = []
    for index, spec in enumerate(payments):
        payer, payee = wallets.get(spec.payer), wallets.get(spec.payee)
        if payer is None or payer[1] != operator_id:
            error = WalletError(
                ErrorCode.NOT_FOUND, f"no wallet {spec.payer} at this operator", field="payer"
            )
            outcomes[index] = SubmitOutcome(error=error)
        elif payee is None:
            error = WalletError(ErrorCode.NOT_FOUND, f"no wallet {spec.payee}", field="payee")
            outcomes[index] = SubmitOutcome(error=error)
        else:
            kind = TransferKind.MERCHANT if payee[2] == WalletKind.MERCHANT else TransferKind.P2P
            legs = [LegSpec(payer[0], payee[0], spec.amount)]
            queued.append((index, TransferSpec(kind, legs, spec.idempotency_key, spec.memo)))
    submitted = ledger.transfers_submit_many([spec for _, spec in queued])
    outcomes.update((index, outcome) for (index, _), outcome in zip(queued, submitted, strict=True))
    return [outcomes[index] for index in range(len(payments))]


@dataclass(frozen=True)
class LoadSpec:
    wallet: str  # wallet number
    amount: int
    idempotency_key: str


def wallet_loads_submit_many(*, actor: Actor, loads: Sequence[LoadSpec]) -> list[SubmitOutcome]:
    """The actor's operator's batch of loads (bank deposits -> e-CNY) into its own wallets,
    each queued or refused alone, like `payments_submit_many`: the vault pays each wallet."""
    operator_id = _batch_operator(actor, "batches of loads")
    vault_id = _vault_account_id(operator_id)
    wallets = {
        number: (account_id, wallet_operator)
        for number, account_id, wallet_operator, _ in _wallet_rows({spec.wallet for spec in loads})
    }
    outcomes: dict[int, SubmitOutcome] = {}
    queued: list[tuple[int, TransferSpec]] = []
    for index, spec in enumerate(loads):
        wallet = wallets.get(spec.wallet)
        if wallet is None or wallet[1] != operator_id:
            error = WalletError(
                ErrorCode.NOT_FOUND, f"no wallet {spec.wallet} at this operator", field="wallet"
            )
            outcomes[index] = SubmitOutcome(error=error)
        else:
            legs = [LegSpec(vault_id, wallet[0], spec.amount)]
            queued.append((index, TransferSpec(TransferKind.LOAD, legs, spec.idempotency_key)))
    submitted = ledger.transfers_submit_many([spec for _, spec in queued])
    outcomes.update((index, outcome) for (index, _), outcome in zip(queued, submitted, strict=True))
    return [outcomes[index] for index in range(len(loads))]


# ---------------------------------------------------------------- audit verification


@transaction.atomic
def audit_verification_request(*, actor: Actor) -> AuditVerification:
    """Queue a run of `audit verify` (a Celery job); any central-bank role may ask."""
    if not actor.roles & CENTRAL_BANK_ROLES:
        raise WalletError(ErrorCode.PERMISSION_DENIED, "audit verify is for central-bank staff")
    verification = AuditVerification.objects.create(requested_by=actor.user)
    # Late import: the task module imports this one (the task is a thin interface to it).
    from wallets.tasks import audit_verification_run as task

    transaction.on_commit(lambda: task.delay(verification.pk))
    return verification


def audit_verification_run(*, actor: Actor, verification_id: int) -> AuditVerification:
    """Run `audit verify` for a queued request and record what it found, as the system (the
    request was authorised when it was made); a second run of the same request finds it
    finished and does nothing."""
    require_system(actor, "running a queued audit verification")
    from settlement.audit.verify import audit_verify

    with transaction.atomic():
        verification = (
            AuditVerification.objects.select_for_update().filter(pk=verification_id).first()
        )
        if verification is None or verification.finished_at is not None:
            return verification
        verification.started_at = timezone.now()
        verification.save(update_fields=["started_at"])
    report = audit_verify()
    if report.ok:
        totals = report.totals
        summary = (
            f"OK: {report.leaves} leaves, {report.checkpoints} checkpoints, "
            f"{report.transfers} transfers; circulation {totals.circulation} fen == "
            f"-issuance == backing"
        )
    else:
        summary = f"FAILED at {report.mismatch}"
    AuditVerification.objects.filter(pk=verification_id, finished_at__isnull=True).update(
        finished_at=timezone.now(),
        ok=report.ok,
        summary=summary,
        leaves=report.leaves,
        checkpoints=report.checkpoints,
        seconds=report.seconds,
    )
    return AuditVerification.objects.get(pk=verification_id)
