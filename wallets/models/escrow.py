"""Conditional payments (escrow): a payment whose money the ledger holds on the payer's
wallet (a two-phase transfer, DESIGN.md "Transfers and settlement") until its condition
releases it to the payee, both parties agree to cancel it, or its timeout expires it.

The row says what the hold is for: who pays whom, the condition, who may approve, and who
agreed to cancel. Its state is never stored: it is the pending transfer's
(`services.escrow_state`, `selectors.escrows_with_state` as a column).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from settlement.models import Transfer, TransferState
from wallets.models.core import Wallet


class EscrowCondition(models.TextChoices):
    PAYER_CONFIRMS = "PAYER_CONFIRMS", "Released when the payer confirms delivery"
    RELEASE_AT = "RELEASE_AT", "Released at a date and time"
    APPROVAL = "APPROVAL", "Released when the named approver approves"


class EscrowState(models.TextChoices):
    """Derived from the pending transfer: HELD while it holds (or is about to hold) the
    payer's funds, then what decided it; REFUSED when the ledger would not hold them."""

    HELD = "HELD", "Held"
    RELEASED = "RELEASED", "Released to the payee"
    CANCELLED = "CANCELLED", "Cancelled by both parties"
    EXPIRED = "EXPIRED", "Expired unreleased"
    REFUSED = "REFUSED", "Refused by the ledger (nothing held)"


# An escrow's state for each state of its pending transfer.
ESCROW_STATE_OF_TRANSFER = {
    TransferState.RECEIVED: EscrowState.HELD,  # queued: settlement holds it next
    TransferState.PENDING: EscrowState.HELD,
    TransferState.POSTED: EscrowState.RELEASED,
    TransferState.VOIDED: EscrowState.CANCELLED,
    TransferState.EXPIRED: EscrowState.EXPIRED,
    TransferState.REJECTED: EscrowState.REFUSED,
}


class Escrow(models.Model):
    """A conditional payment from one wallet to another: `transfer` is the pending ledger
    transfer holding the amount; `release` and `void` are the phases queued to decide it
    (a POST when the condition is met, a VOID when both parties agreed to cancel)."""

    payer_wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    payee_wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()  # fen
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="escrow")
    condition = models.CharField(max_length=16, choices=EscrowCondition.choices)
    release_at = models.DateTimeField(null=True, blank=True)  # RELEASE_AT only
    approver = models.ForeignKey(  # APPROVAL only
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="escrows_to_approve",
    )
    memo = models.CharField(max_length=140, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Each party's agreement to cancel; both, and the hold is voided.
    payer_cancelled_at = models.DateTimeField(null=True, blank=True)
    payee_cancelled_at = models.DateTimeField(null=True, blank=True)
    # The last POST queued to release it (a refused one may be followed by another), and
    # the VOID queued when both agreed to cancel.
    release = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name_plural = "escrows"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="escrow_positive"),
            models.CheckConstraint(
                condition=~Q(payer_wallet=models.F("payee_wallet")), name="escrow_two_wallets"
            ),
            models.CheckConstraint(
                condition=(
                    Q(condition="PAYER_CONFIRMS", release_at__isnull=True, approver__isnull=True)
                    | Q(condition="RELEASE_AT", release_at__isnull=False, approver__isnull=True)
                    | Q(condition="APPROVAL", release_at__isnull=True, approver__isnull=False)
                ),
                name="escrow_condition_fields",
            ),
        ]
        indexes = [
            # The release sweep: RELEASE_AT escrows by when they fall due.
            models.Index(
                fields=["release_at"], condition=Q(condition="RELEASE_AT"), name="escrow_due"
            )
        ]

    def __str__(self) -> str:
        return f"escrow {self.pk}"
