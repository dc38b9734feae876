"""Disclosing who is behind an anonymous holder's pseudonym: a central-bank issuer asks,
with a reason; `approvals_needed` (EWALLET_DISCLOSURE_APPROVALS, at least 2) distinct
central-bank approvers approve, none of them the requester; then, within the access
window, the requester and those approvers may read the operator's record (name, phone).

Every step, including each reading, is an event in the audit log (settlement's
`audit_event_record`), written in the same transaction as the step: chained,
checkpointed and rebuilt by `audit verify`. The events name the holder by pseudonym and
the staff by username, never the identity disclosed.

Refusals: PERMISSION_DENIED (wrong role, or reading someone else's disclosure),
NOT_FOUND, INVALID_INPUT (a holder the central bank already knows by name, an empty
reason), MAKER_CHECKER (the requester approving or rejecting their own request),
DUPLICATE_APPROVAL, DISCLOSURE_DECIDED, DISCLOSURE_EXPIRED, DISCLOSURE_NOT_APPROVED
(reading with fewer approvals than needed).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ewallet.errors import ErrorCode
from settlement import services as ledger
from settlement.audit.leaf import timestamp
from wallets.actors import Actor
from wallets.authority import reads_disclosed_identity, require_role, require_sees_disclosures
from wallets.exceptions import WalletError
from wallets.models import (
    DisclosureApproval,
    DisclosureState,
    Holder,
    IdentityDisclosure,
)
from wallets.roles import Role

EVENT_PREFIX = "identity_disclosure."


@dataclass(frozen=True)
class DisclosedIdentity:
    """The operator's KYC record behind a pseudonym, as a disclosure reveals it."""

    disclosure: IdentityDisclosure
    pseudonym: str
    operator: str
    kyc_method: str
    name: str
    phone: str
    kyc_verified_at: datetime
    wallets: list[str]
    read_at: datetime
    audit_event: int  # the log's record of this reading


@transaction.atomic
def identity_disclosure_request(*, actor: Actor, pseudonym: str, reason: str) -> IdentityDisclosure:
    """The maker's half: a central-bank issuer asks to learn who is behind an anonymous
    holder's pseudonym, saying why (e.g. a court order's reference)."""
    require_role(actor, Role.CB_ISSUER)
    reason = (reason or "").strip()
    if not reason:
        raise WalletError(ErrorCode.INVALID_INPUT, "a disclosure needs a reason", field="reason")
    holder = Holder.objects.select_related("operator").filter(pseudonym=pseudonym).first()
    if holder is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"no holder {pseudonym}", field="holder")
    if not holder.is_anonymous:
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            f"holder {holder.pseudonym} is not anonymous: the central bank knows them by name",
            field="holder",
        )
    now = timezone.now()
    disclosure = IdentityDisclosure.objects.create(
        holder=holder,
        reason=reason[:240],
        requested_by=actor.user,
        requested_at=now,
        expires_at=now + timedelta(days=settings.EWALLET_DISCLOSURE_REQUEST_DAYS),
        approvals_needed=settings.EWALLET_DISCLOSURE_APPROVALS,
    )
    _log(
        "requested",
        disclosure,
        actor,
        operator=holder.operator.code,
        reason=disclosure.reason,
        approvals_needed=disclosure.approvals_needed,
        expires_at=timestamp(disclosure.expires_at),
    )
    return disclosure


@transaction.atomic
def identity_disclosure_approve(*, actor: Actor, disclosure_id: int) -> IdentityDisclosure:
    """One checker's approval. The request is approved when the last approval it needs
    comes in; until then reading it is DISCLOSURE_NOT_APPROVED. Racing approvers are
    serialised by the request's row lock, and the database refuses a second approval by
    one approver, or one by the requester, whatever the code above it does."""
    require_role(actor, Role.CB_APPROVER)
    disclosure = _for_decision(actor, disclosure_id)
    if disclosure.approvals.filter(approver_id=actor.user_id).exists():
        raise WalletError(
            ErrorCode.DUPLICATE_APPROVAL,
            f"you approved disclosure {disclosure.pk} already: it needs "
            f"{disclosure.approvals_needed} different approvers",
        )
    now = timezone.now()
    DisclosureApproval.objects.create(
        disclosure=disclosure,
        approver=actor.user,
        requested_by_id=disclosure.requested_by_id,
        approved_at=now,
    )
    approvals = disclosure.approvals.count()
    if approvals >= disclosure.approvals_needed:
        disclosure.state = DisclosureState.APPROVED
        disclosure.decided_at = now
        disclosure.access_until = now + timedelta(days=settings.EWALLET_DISCLOSURE_ACCESS_DAYS)
        disclosure.save(update_fields=["state", "decided_at", "access_until"])
    _log(
        "approved",
        disclosure,
        actor,
        approvals=approvals,
        approvals_needed=disclosure.approvals_needed,
        state=disclosure.state,
        access_until=disclosure.access_until and timestamp(disclosure.access_until),
    )
    return disclosure


@transaction.atomic
def identity_disclosure_reject(
    *, actor: Actor, disclosure_id: int, reason: str
) -> IdentityDisclosure:
    """A checker's refusal, with a reason: one is enough, whatever approvals came before."""
    require_role(actor, Role.CB_APPROVER)
    reason = (reason or "").strip()
    if not reason:
        raise WalletError(ErrorCode.INVALID_INPUT, "a rejection needs a reason", field="reason")
    disclosure = _for_decision(actor, disclosure_id)
    disclosure.state = DisclosureState.REJECTED
    disclosure.decided_at = timezone.now()
    disclosure.rejected_by = actor.user
    disclosure.rejection_reason = reason[:240]
    disclosure.save(update_fields=["state", "decided_at", "rejected_by", "rejection_reason"])
    _log("rejected", disclosure, actor, reason=disclosure.rejection_reason)
    return disclosure


@transaction.atomic
def identity_disclosure_read(*, actor: Actor, disclosure_id: int) -> DisclosedIdentity:
    """The identity behind the pseudonym, for the requester or one of the approvers of an
    approved disclosure, within its access window; each reading is logged."""
    disclosure = _find(actor, disclosure_id, lock=False)
    if not reads_disclosed_identity(actor, disclosure):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED,
            "only the requester and the approvers of a disclosure read the identity",
        )
    now = timezone.now()
    status = disclosure.status(now)
    if status != DisclosureState.APPROVED:
        approvals = disclosure.approvals.count()
        raise WalletError(
            ErrorCode.DISCLOSURE_NOT_APPROVED,
            f"disclosure {disclosure.pk} is {status} with {approvals} of the "
            f"{disclosure.approvals_needed} approvals it needs",
            state=str(status),
            approvals=approvals,
            approvals_needed=disclosure.approvals_needed,
        )
    if now >= disclosure.access_until:
        raise WalletError(
            ErrorCode.DISCLOSURE_EXPIRED,
            f"disclosure {disclosure.pk} could be read until {disclosure.access_until:%Y-%m-%d}",
        )
    holder = Holder.objects.select_related("operator").get(pk=disclosure.holder_id)
    event = _log("read", disclosure, actor)
    return DisclosedIdentity(
        disclosure=disclosure,
        pseudonym=holder.pseudonym,
        operator=holder.operator.code,
        kyc_method=holder.kyc_method,
        name=holder.display_name,
        phone=holder.phone,
        kyc_verified_at=holder.kyc_verified_at,
        wallets=list(holder.wallets.order_by("pk").values_list("number", flat=True)),
        read_at=now,
        audit_event=event.pk,
    )


def _find(actor: Actor, disclosure_id: int, *, lock: bool) -> IdentityDisclosure:
    require_sees_disclosures(actor)
    found = IdentityDisclosure.objects.select_related("holder", "requested_by")
    if lock:
        found = found.select_for_update(of=("self",))
    disclosure = found.filter(pk=disclosure_id).first()
    if disclosure is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"disclosure {disclosure_id} not found")
    return disclosure


def _for_decision(actor: Actor, disclosure_id: int) -> IdentityDisclosure:
    disclosure = _find(actor, disclosure_id, lock=True)
    if disclosure.requested_by_id == actor.user_id:
        raise WalletError(
            ErrorCode.MAKER_CHECKER, "the requester of a disclosure cannot approve or reject it"
        )
    status = disclosure.status()
    if status == DisclosureState.EXPIRED:
        raise WalletError(
            ErrorCode.DISCLOSURE_EXPIRED,
            f"disclosure {disclosure.pk} lapsed unapproved on {disclosure.expires_at:%Y-%m-%d}",
        )
    if status != DisclosureState.REQUESTED:
        raise WalletError(
            ErrorCode.DISCLOSURE_DECIDED,
            f"disclosure {disclosure.pk} is already {status}",
            state=str(status),
        )
    return disclosure


def _log(step: str, disclosure: IdentityDisclosure, actor: Actor, **details):
    """The audit log's record of a step: pseudonym and usernames, never the identity."""
    return ledger.audit_event_record(
        kind=EVENT_PREFIX + step,
        data={
            "disclosure": disclosure.pk,
            "holder": disclosure.holder.pseudonym,
            "by": actor.user.get_username(),
            **details,
        },
    )
