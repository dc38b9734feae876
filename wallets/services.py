"""Every business action of the e-CNY product, one function each.

Interfaces (the demo, management commands, the API and console to come) call these and
nothing else. Money moves only through `settlement.services.transfer_submit`: these
functions decide which accounts and how much, settlement decides whether it can happen.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import AccountKind, AccountStatus, Asset, Transfer, TransferKind
from settlement.services import LegSpec, SubmitOutcome, TransferSpec
from settlement.sql import array_literal, fetch
from wallets.catalogue import seed_reference_data
from wallets.exceptions import WalletError
from wallets.models import (
    LIMIT_FIELDS,
    AuditVerification,
    CentralBank,
    Holder,
    HolderKind,
    IssuanceDirection,
    IssuanceRequest,
    IssuanceState,
    KycMethod,
    Operator,
    OperatorStatus,
    Wallet,
    WalletClass,
    WalletKind,
    WalletStatusChange,
)
from wallets.roles import Role, has_role, require_role

# ---------------------------------------------------------------- reference data


def reference_data_ensure() -> None:
    """Wallet classes with the default limits, and one group per role with its console
    permissions, if missing."""
    from django.contrib.auth.models import Group, Permission

    from wallets.console.permissions import console_groups_ensure

    seed_reference_data(WalletClass, Group)
    console_groups_ensure(Group, Permission)


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
    *, actor, code: str, name: str, name_zh: str = "", reserve_deposit: int
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


def operator_set_status(*, actor, operator: Operator, status: OperatorStatus) -> Operator:
    require_role(actor, Role.CB_APPROVER)
    operator.status = status
    operator.save(update_fields=["status"])
    return operator


# ---------------------------------------------------------------- issuance (maker-checker)


def issuance_request(
    *, actor, operator: Operator, amount: int, direction: IssuanceDirection
) -> IssuanceRequest:
    require_role(actor, Role.CB_ISSUER)
    return IssuanceRequest.objects.create(
        operator=operator,
        direction=IssuanceDirection(direction),
        amount=require_fen(amount),
        maker=actor,
    )


@transaction.atomic
def issuance_approve(*, actor, request_id: int) -> IssuanceRequest:
    """Approve and submit the transfer; the ledger moves when it settles.

    Issuing moves RESERVE from the operator's reserve to the central bank's backing, and
    ECNY from the issuance account to the operator's vault, as one two-leg transfer: both
    legs settle or neither does. Redemption is the reverse.
    """
    require_role(actor, Role.CB_APPROVER)
    request = _issuance_for_decision(actor, request_id)
    operator = request.operator
    if operator.status != OperatorStatus.ACTIVE:
        raise WalletError(ErrorCode.OPERATOR_SUSPENDED, f"operator {operator.code} is suspended")
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
    request.checker = actor
    request.decided_at = timezone.now()
    request.save(update_fields=["transfer", "state", "checker", "decided_at"])
    return request


@transaction.atomic
def issuance_reject(*, actor, request_id: int, reason: str) -> IssuanceRequest:
    require_role(actor, Role.CB_APPROVER)
    if not reason.strip():
        raise WalletError(ErrorCode.INVALID_INPUT, "a rejection needs a reason", field="reason")
    request = _issuance_for_decision(actor, request_id)
    request.state = IssuanceState.REJECTED
    request.checker = actor
    request.reason = reason.strip()[:240]
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "checker", "reason", "decided_at"])
    return request


def _issuance_for_decision(actor, request_id: int) -> IssuanceRequest:
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
    if request.maker_id == actor.pk:
        raise WalletError(
            ErrorCode.MAKER_CHECKER, "the maker of a request cannot approve or reject it"
        )
    return request


# ---------------------------------------------------------------- holders and wallets


def holder_register(
    *,
    display_name: str,
    kyc_method: KycMethod,
    kind: HolderKind = HolderKind.PERSON,
    phone: str = "",
    id_number: str = "",
    bank_account: str = "",
    user=None,
) -> Holder:
    """Record a holder after KYC. Identity and bank numbers are stored masked."""
    kyc_method = KycMethod(kyc_method)
    needs_id = kyc_method in (KycMethod.IN_PERSON, KycMethod.REMOTE_ID_BANK, KycMethod.REMOTE_ID)
    if needs_id and not id_number:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, f"{kyc_method} needs an identity number")
    if kyc_method == KycMethod.REMOTE_ID_BANK and not bank_account:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, f"{kyc_method} needs a linked bank account")
    if kyc_method == KycMethod.PHONE_ONLY and not phone:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, "an anonymous wallet needs a phone number")
    return Holder.objects.create(
        kind=HolderKind(kind),
        display_name=display_name,
        kyc_method=kyc_method,
        phone=phone,
        id_number_masked=_mask(id_number),
        bank_account_masked=_mask(bank_account),
        user=user,
    )


def _mask(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:] if number else ""


@transaction.atomic
def wallet_open(
    *,
    actor,
    holder: Holder,
    operator: Operator,
    wallet_class: int | None = None,
    kind: WalletKind | None = None,
) -> Wallet:
    """Open a wallet at an operator; the class defaults to the strongest the KYC allows."""
    if operator.status != OperatorStatus.ACTIVE:
        raise WalletError(ErrorCode.OPERATOR_SUSPENDED, f"operator {operator.code} is suspended")
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
    *, actor, operator: Operator, wallet_class: int | None = None, **holder_fields
) -> Wallet:
    """A new holder after KYC and their first wallet at `operator`, both or neither."""
    holder = holder_register(**holder_fields)
    return wallet_open(actor=actor, holder=holder, operator=operator, wallet_class=wallet_class)


@transaction.atomic
def wallet_change_class(*, actor, wallet: Wallet, wallet_class: int) -> Wallet:
    """Upgrade or downgrade; a stronger class needs the KYC for it."""
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
def wallet_class_update(*, actor, number: int, **limits: int | None) -> WalletClass:
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
    klass.updated_by = actor
    klass.updated_at = timezone.now()
    klass._history_user = actor  # the change history records who made it
    klass.save()
    ledger.accounts_set_policy(
        account_ids=list(klass.wallets.values_list("account_id", flat=True)),
        limits=klass.limits(),
    )
    return klass


@transaction.atomic
def wallet_classes_apply_preset(*, actor, preset: str) -> list[WalletClass]:
    """Switch the limits table to a published preset (catalogue.LIMIT_PRESETS), in fen."""
    from wallets.catalogue import LIMIT_PRESETS

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


@transaction.atomic
def wallet_set_status(*, actor, wallet: Wallet, status: AccountStatus, reason: str) -> Wallet:
    """Freeze (FROZEN), restrict (RECEIVE_ONLY), unfreeze (ACTIVE) or close a wallet."""
    status = AccountStatus(status)
    if not reason.strip():
        raise WalletError(ErrorCode.INVALID_INPUT, "a status change needs a reason", field="reason")
    account = type(wallet.account).objects.select_for_update().get(pk=wallet.account_id)
    if account.status == AccountStatus.CLOSED:
        raise WalletError(ErrorCode.WALLET_CLOSED, f"wallet {wallet.number} is closed")
    if status == AccountStatus.CLOSED and account.balance != 0:
        raise WalletError(ErrorCode.INVALID_STATE, "unload the balance before closing a wallet")
    WalletStatusChange.objects.create(
        wallet=wallet, old_status=account.status, new_status=status, reason=reason, actor=actor
    )
    ledger.accounts_set_policy(account_ids=[account.pk], status=status)
    wallet.account.status = status
    return wallet


# ---------------------------------------------------------------- money movements


def wallet_load(*, actor, wallet: Wallet, amount: int, idempotency_key: str) -> Transfer:
    """Holder's bank deposit -> e-CNY: the operator's vault pays the wallet."""
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.LOAD,
        legs=[LegSpec(wallet.operator.vault_account_id, wallet.account_id, amount)],
        idempotency_key=idempotency_key,
    )
    return transfer


def wallet_unload(*, actor, wallet: Wallet, amount: int, idempotency_key: str) -> Transfer:
    """e-CNY -> the holder's bank deposit: the wallet pays the operator's vault."""
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.UNLOAD,
        legs=[LegSpec(wallet.account_id, wallet.operator.vault_account_id, amount)],
        idempotency_key=idempotency_key,
    )
    return transfer


def payment_submit(
    *, payer: Wallet, payee: Wallet, amount: int, idempotency_key: str, memo: str = ""
) -> Transfer:
    """A person-to-person or merchant payment, at one operator or across two.

    e-CNY is a central-bank liability, so a payment across operators is a plain ledger
    transfer between the two wallets: no interbank settlement is needed.
    """
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.MERCHANT if payee.kind == WalletKind.MERCHANT else TransferKind.P2P,
        legs=[LegSpec(payer.account_id, payee.account_id, amount)],
        idempotency_key=idempotency_key,
        memo=memo,
    )
    return transfer


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


@dataclass(frozen=True)
class PaymentSpec:
    payer: str  # wallet numbers
    payee: str
    amount: int
    idempotency_key: str
    memo: str = ""


def payments_submit_many(
    *, operator_id: int, payments: Sequence[PaymentSpec]
) -> list[SubmitOutcome]:
    """An operator's batch of payments from its own wallets; each item queued or refused alone.

    One query finds every wallet named; the ledger queues the valid items set-based.
    """
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


def wallet_loads_submit_many(
    *, actor, operator_id: int, loads: Sequence[LoadSpec]
) -> list[SubmitOutcome]:
    """An operator's batch of loads (bank deposits -> e-CNY) into its own wallets, each
    queued or refused alone, like `payments_submit_many`: the vault pays each wallet."""
    vault_id = Operator.objects.values_list("vault_account_id", flat=True).get(pk=operator_id)
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
def audit_verification_request(*, actor) -> AuditVerification:
    """Queue a run of `audit verify` (a Celery job); any central-bank role may ask."""
    central_bank = (Role.CB_ISSUER, Role.CB_APPROVER, Role.CB_AUDITOR, Role.CB_POLICY)
    if not any(has_role(actor, role) for role in central_bank):
        raise WalletError(ErrorCode.PERMISSION_DENIED, "audit verify is for central-bank staff")
    verification = AuditVerification.objects.create(requested_by=actor)
    from wallets.tasks import audit_verification_run as task

    transaction.on_commit(lambda: task.delay(verification.pk))
    return verification


def audit_verification_run(*, verification_id: int) -> AuditVerification:
    """Run `audit verify` for a queued request and record what it found; a second run of
    the same request finds it finished and does nothing."""
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
