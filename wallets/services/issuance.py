"""Issuance and redemption, maker-checker: one central-bank user asks, another decides."""

from django.db import transaction
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import require_fen
from settlement import services as ledger
from settlement.models import TransferKind
from settlement.services import LegSpec
from wallets.actors import Actor
from wallets.authority import (
    require_role,
)
from wallets.exceptions import WalletError
from wallets.models import (
    IssuanceDirection,
    IssuanceRequest,
    IssuanceState,
    Operator,
)
from wallets.roles import Role
from wallets.services.institutions import central_bank_ensure, require_operator_active


@transaction.atomic
def issuance_request(
    *, actor: Actor, operator: Operator, amount: int, direction: IssuanceDirection
) -> IssuanceRequest:
    """The maker's half: ask to issue to an operator (refused while it is suspended) or to
    redeem from it (allowed: it is how the central bank winds one down)."""
    require_role(actor, Role.CB_ISSUER)
    direction = IssuanceDirection(direction)
    if direction == IssuanceDirection.ISSUE:
        require_operator_active(Operator.objects.get(pk=operator.pk))  # as it is now, not as passed
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
        require_operator_active(operator)
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
