"""Consumption vouchers ("red envelopes"), as in the Shenzhen Luohu pilot of October 2020:
a district government funds a programme from its wallet, wallets apply, a seeded lottery
grants a fixed voucher to at most `count` of them, and a winner's QR payments at eligible
merchants (an allowed category and region, within the validity window) draw the voucher
before the wallet's own balance. At expiry what is unspent goes back to the programme and
on to the government's wallet.

The money is real: the programme and each grant hold their e-CNY in ledger accounts of
their own (kind ESCROW, so they count in circulation), and what a grant spent or returned
is read from the ledger, never stored here.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from settlement.models import Account, Transfer
from wallets.models.core import Wallet


class VoucherProgrammeStatus(models.TextChoices):
    OPEN = "OPEN", "Taking applications"
    DRAWN = "DRAWN", "Drawn: vouchers granted"
    CLOSED = "CLOSED", "Expired: unspent value returned"


class VoucherProgramme(models.Model):
    name = models.CharField(max_length=120)
    # The district government's wallet: it funds the programme and gets back what is unspent.
    government_wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="funded_voucher_programmes"
    )
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    total = models.BigIntegerField()  # fen; voucher_amount * count
    voucher_amount = models.BigIntegerField()  # fen, each winner's grant
    count = models.PositiveIntegerField()  # at most this many winners
    # ISO 18245 categories and GB/T 2260 regions where the vouchers may be spent.
    mccs = models.JSONField(default=list)
    regions = models.JSONField(default=list)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    seed = models.BigIntegerField()  # the lottery's: the same seed draws the same winners
    status = models.CharField(
        max_length=8, choices=VoucherProgrammeStatus.choices, default=VoucherProgrammeStatus.OPEN
    )
    funding_transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    drawn_at = models.DateTimeField(null=True, blank=True)
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(voucher_amount__gt=0, count__gt=0)
                & Q(total=F("voucher_amount") * F("count")),
                name="voucher_programme_total",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")), name="voucher_programme_window"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class VoucherApplication(models.Model):
    """A wallet's entry in a programme's lottery: one per wallet and programme."""

    programme = models.ForeignKey(
        VoucherProgramme, on_delete=models.PROTECT, related_name="applications"
    )
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "wallet"], name="voucher_application_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.wallet_id} in {self.programme_id}"


class VoucherGrant(models.Model):
    """A lottery winner's voucher: its balance is its own ledger account's."""

    programme = models.ForeignKey(VoucherProgramme, on_delete=models.PROTECT, related_name="grants")
    application = models.OneToOneField(
        VoucherApplication, on_delete=models.PROTECT, related_name="grant"
    )
    # Indexed: a QR payment looks up its payer's grants (one lookup when there are none).
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="voucher_grants")
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()  # fen granted
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["programme", "wallet"], name="voucher_grant_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="voucher_grant_positive"),
        ]

    def __str__(self) -> str:
        return f"voucher {self.pk} of {self.wallet_id}"
