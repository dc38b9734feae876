"""Dual-offline hardware wallets, as tried in the Suzhou pilot of December 2020: two devices
pay each other with no network and settle when either syncs (wallets/offline.py holds the
format, the checks and the device simulator; wallets/services/offline.py the rules).

A device is registered to a wallet with its Ed25519 public key and gets a ledger
account of its own (kind ESCROW, so it counts in circulation): its **offline reserve**.
Loading moves e-CNY from the wallet into it, capped by the central bank's risk parameter
for the wallet's class (`OfflineLimit`). A synced payment is paid out of the payer device's
reserve into the payee device's wallet, never more than the reserve holds: what the
reserve pays of each payment (`allocated`) is decided under the payer device's row lock,
first synced first paid, and moved by one or more ledger transfers (`OfflineSettlement`:
a part paid later, when a load settles, or a transfer the ledger refused and tried again).

What was loaded, paid and is left is read from the ledger and these rows, never stored.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from settlement.models import Account, Transfer
from wallets.models.core import Wallet, WalletClass


class OfflineLimit(models.Model):
    """The central bank's risk parameter: the most a hardware wallet registered to a wallet
    of this class may hold offline, in fen (0: none). Edited by central-bank policy staff."""

    wallet_class = models.OneToOneField(
        WalletClass, primary_key=True, on_delete=models.PROTECT, related_name="offline_limit"
    )
    reserve_cap = models.BigIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords(
        excluded_fields=["updated_at", "updated_by"],
        verbose_name="offline limit change",
        verbose_name_plural="offline limit changes",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(reserve_cap__gte=0), name="offline_limit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"offline limit of class {self.wallet_class_id}"


class OfflineDeviceState(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    # A double spend was seen: no more loads or unloads; what its reserve still holds pays
    # its payees' claims as they arrive; every sync answer lists it, so payees refuse it.
    BLOCKED = "BLOCKED", "Blocked (double spend)"


class OfflineDevice(models.Model):
    # 32 hex characters: the first 16 bytes of SHA-256 of the key (wallets/offline.py).
    device_id = models.CharField(max_length=32, unique=True)
    public_key = models.CharField(max_length=64)  # hex, Ed25519
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="offline_devices")
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=80, blank=True)
    # The most it may hold offline, as its certificate says (the class's limit when it was
    # registered); a load is also held to the class's limit now.
    cap = models.BigIntegerField()
    certificate = models.CharField(max_length=512)  # hex, signed by the offline CA
    state = models.CharField(
        max_length=8, choices=OfflineDeviceState.choices, default=OfflineDeviceState.ACTIVE
    )
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_reason = models.CharField(max_length=200, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(cap__gte=0), name="offline_device_cap"),
            models.CheckConstraint(
                condition=Q(state="ACTIVE", blocked_at__isnull=True)
                | Q(state="BLOCKED", blocked_at__isnull=False),
                name="offline_device_blocked_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"device {self.device_id[:8]}… of {self.wallet}"


class OfflinePayment(models.Model):
    """One offline payment a sync brought, once (by its hash), from whichever side."""

    hash = models.CharField(max_length=64, unique=True)  # hex SHA-256 of its canonical bytes
    payer = models.ForeignKey(OfflineDevice, on_delete=models.PROTECT, related_name="payments_sent")
    payee = models.ForeignKey(
        OfflineDevice, on_delete=models.PROTECT, related_name="payments_received"
    )
    amount = models.BigIntegerField()  # fen
    counter = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)
    version = models.PositiveSmallIntegerField()
    signed_at = models.DateTimeField()  # the payer device's clock: its word, not proof
    received_at = models.DateTimeField(default=timezone.now)  # the first sync that had it
    uploaded_by = models.ForeignKey(
        OfflineDevice, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # What the payer's reserve pays of it: decided under the payer device's lock, first
    # synced first paid; less than `amount` only when the reserve was spent twice.
    allocated = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["payer", "counter"], name="offline_payment_chain")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="offline_payment_amount"),
            models.CheckConstraint(condition=Q(counter__gte=1), name="offline_payment_counter"),
            models.CheckConstraint(
                condition=Q(allocated__gte=0) & Q(allocated__lte=F("amount")),
                name="offline_payment_allocated_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"offline payment {self.payer.device_id[:8]}#{self.counter}"

    @property
    def is_unload(self) -> bool:
        return self.payer_id == self.payee_id

    @property
    def shortfall(self) -> int:
        return self.amount - self.allocated


class OfflineSettlement(models.Model):
    """A ledger transfer paying (part of) an offline payment from the payer's reserve."""

    payment = models.ForeignKey(
        OfflinePayment, on_delete=models.PROTECT, related_name="settlements"
    )
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="offline_settlement_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.transfer_id} for {self.payment_id}"


class DoubleSpendShape(models.TextChoices):
    """wallets/offline.py's `Shape`."""

    COUNTER_REUSED = "COUNTER_REUSED", "Counter reused"
    FORK = "FORK", "Forked chain"
    OVER_RESERVE = "OVER_RESERVE", "More than the reserve"


class DoubleSpendAlert(models.Model):
    """A double spend a sync found, for the device's operator (and the central bank). One
    per device, shape and key (the counter reused, the hash forked from); its evidence
    grows as more of the payments arrive."""

    device = models.ForeignKey(OfflineDevice, on_delete=models.PROTECT, related_name="alerts")
    shape = models.CharField(max_length=16, choices=DoubleSpendShape.choices)
    key = models.CharField(max_length=64, blank=True)
    evidence = models.JSONField(default=list)  # hashes (hex) of the payments that show it
    detected_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=240, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "shape", "key"], name="double_spend_alert_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_shape_display()} by {self.device}"
