"""Sub-wallets: a child wallet a holder pushes to a merchant or app (a ride-hailing or
food-delivery app), with a cap and an expiry, that the merchant pulls payments from without
asking the holder each time.

The child is a Wallet of kind SUB with a ledger account of its own, so what it holds is real
money held apart from the parent: pushing moves the cap from the parent into it, each pull
moves from it to the merchant's settlement wallet (a MerchantPayment, so the merchant's
payments list shows it), and revoking or expiry moves what is left back to the parent. Its
state is derived, never stored: REVOKED once revoked, EXPIRED once past `expires_at`,
ACTIVE until then.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from settlement.models import Transfer
from wallets.models.acquiring import Merchant
from wallets.models.core import Wallet


def new_sub_wallet_code() -> str:
    return "sw_" + secrets.token_hex(10)


class SubWalletState(models.TextChoices):
    """Derived from `revoked_at` and the clock (selectors.sub_wallets_visible_to)."""

    ACTIVE = "ACTIVE", "Active"
    REVOKED = "REVOKED", "Revoked"
    EXPIRED = "EXPIRED", "Expired"


class SubWallet(models.Model):
    code = models.CharField(max_length=32, unique=True, default=new_sub_wallet_code)
    parent = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="sub_wallets")
    wallet = models.OneToOneField(Wallet, on_delete=models.PROTECT, related_name="sub_wallet")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="sub_wallets")
    cap = models.BigIntegerField()  # fen, moved from the parent when pushed
    # The transfer that moved the cap in: the ledger may still reject it (funds, limits).
    fund_transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(cap__gt=0), name="sub_wallet_cap_positive"),
            models.CheckConstraint(
                condition=~Q(parent=F("wallet")), name="sub_wallet_not_its_own_parent"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="sub_wallet_expires_later"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="sub_wallet_expiry")]

    def __str__(self) -> str:
        return f"{self.code} for {self.merchant}"
