"""Controllable anonymity: "small amounts anonymous, large amounts traceable".

An anonymous holder (KYC by phone number only, wallet class 4) is known to the central
bank by a pseudonym and by the keyed hash of their phone number (`Holder.identity_link`);
their operator keeps the number. Two things here lean on that hash:

- `LinkedPerson`: one row per hash, the lock a wallet opening takes so that the wallets
  one person holds in a class, across every operator, are counted without a race
  (`WalletClass.wallets_per_person` is the cap).
- `IdentityDisclosure`: the central bank learning who is behind a pseudonym. A central-bank
  issuer asks, with a reason (a court order, an AML case); it takes the approval of
  `approvals_needed` central-bank approvers, none of them the requester; only then may the
  requester and those approvers read the operator's record (name and phone), within an
  access window. Every step is an event in the audit log (settlement.AuditEvent).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class LinkedPerson(models.Model):
    """One person as the central bank knows them across operators: the keyed hash of their
    identity (or phone) number, nothing else. Wallet openings for the person lock this row
    (created on first need), so two operators opening at once count each other's wallet."""

    identity_link = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return f"person {self.identity_link[:12]}…"


class DisclosureState(models.TextChoices):
    REQUESTED = "REQUESTED", "Requested"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    # Never stored: a request still REQUESTED past its `expires_at` reads as EXPIRED.
    EXPIRED = "EXPIRED", "Expired"


class IdentityDisclosure(models.Model):
    """A request to learn the identity behind an anonymous holder's pseudonym."""

    holder = models.ForeignKey("Holder", on_delete=models.PROTECT, related_name="disclosures")
    reason = models.CharField(max_length=240)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    # Unapproved by then, the request lapses (EXPIRED).
    expires_at = models.DateTimeField()
    # How many distinct approvers it takes, fixed when it is made.
    approvals_needed = models.PositiveSmallIntegerField()
    state = models.CharField(
        max_length=10, choices=DisclosureState.choices, default=DisclosureState.REQUESTED
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Once approved, the identity may be read until then.
    access_until = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejection_reason = models.CharField(max_length=240, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(approvals_needed__gte=2), name="disclosure_two_approvals_at_least"
            ),
            models.CheckConstraint(
                condition=~Q(state="EXPIRED"), name="disclosure_expiry_is_not_stored"
            ),
            models.CheckConstraint(
                condition=Q(state="APPROVED", access_until__isnull=False, decided_at__isnull=False)
                | (~Q(state="APPROVED") & Q(access_until__isnull=True)),
                name="disclosure_access_iff_approved",
            ),
            models.CheckConstraint(
                condition=Q(state="REJECTED", rejected_by__isnull=False, decided_at__isnull=False)
                & ~Q(rejection_reason="")
                | (~Q(state="REJECTED") & Q(rejected_by__isnull=True)),
                name="disclosure_rejection_has_who_and_why",
            ),
            models.CheckConstraint(
                condition=Q(rejected_by__isnull=True) | ~Q(rejected_by=F("requested_by")),
                name="disclosure_rejecter_not_requester",
            ),
        ]

    def __str__(self) -> str:
        return f"disclosure {self.pk} of {self.holder.pseudonym}"

    def status(self, now=None) -> DisclosureState:
        """The state as it reads now: a lapsed request is EXPIRED."""
        now = now or timezone.now()
        if self.state == DisclosureState.REQUESTED and now >= self.expires_at:
            return DisclosureState.EXPIRED
        return DisclosureState(self.state)


class DisclosureApproval(models.Model):
    """One central-bank approver's approval of a disclosure. The requester is copied here
    so that the database itself refuses a requester approving their own request."""

    disclosure = models.ForeignKey(
        IdentityDisclosure, on_delete=models.PROTECT, related_name="approvals"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["approved_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["disclosure", "approver"], name="disclosure_one_approval_each"
            ),
            models.CheckConstraint(
                condition=~Q(approver=F("requested_by")), name="disclosure_approver_not_requester"
            ),
        ]

    def __str__(self) -> str:
        return f"approval of disclosure {self.disclosure_id} by {self.approver_id}"
