"""Merchant acquiring: merchants and their staff, QR payment requests, the payments made
to them, refunds, and webhooks that tell a merchant what happened.

A merchant is a business KYC'd at one operator (its acquirer): a holder of kind MERCHANT
with a merchant wallet that payments settle into. Money still moves only through the
ledger; these rows say what a transfer was for (which request it paid, which payment a
refund gives back) and who may see it.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from settlement.models import Transfer
from wallets.models.core import Holder, Operator, Wallet


def new_merchant_code() -> str:
    return "m_" + secrets.token_hex(8)


def new_request_code() -> str:
    return "pr_" + secrets.token_hex(10)


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class MerchantStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    SUSPENDED = "SUSPENDED", "Suspended"


class Merchant(models.Model):
    """A business that accepts e-CNY, registered by its acquiring operator."""

    code = models.CharField(max_length=24, unique=True, default=new_merchant_code)
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="merchants")
    holder = models.OneToOneField(Holder, on_delete=models.PROTECT, related_name="merchant")
    name = models.CharField(max_length=120)
    # ISO 18245 merchant category code, four digits (wallets/catalogue.py names the common ones).
    mcc = models.CharField(max_length=4)
    # GB/T 2260 administrative division code, six digits (440303: Luohu, Shenzhen).
    region = models.CharField(max_length=6)
    settlement_wallet = models.OneToOneField(
        Wallet, on_delete=models.PROTECT, related_name="merchant"
    )
    status = models.CharField(
        max_length=12, choices=MerchantStatus.choices, default=MerchantStatus.ACTIVE
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(mcc__regex=r"^[0-9]{4}$"), name="merchant_mcc"),
            models.CheckConstraint(
                condition=Q(region__regex=r"^[0-9]{6}$"), name="merchant_region"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class MerchantStaff(models.Model):
    """A merchant's own login: it sees its merchant's payments, requests, refunds and
    webhooks, and acts for it (requests, refunds, webhooks), nothing else."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_staff"
    )
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="staff")

    class Meta:
        verbose_name_plural = "merchant staff"

    def __str__(self) -> str:
        return f"{self.user} at {self.merchant}"


class PaymentRequestKind(models.TextChoices):
    DYNAMIC = "DYNAMIC", "Dynamic (amount and order set by the merchant, paid once)"
    STATIC = "STATIC", "Static collection code (the payer enters the amount)"


class RequestState(models.TextChoices):
    """A request's state, derived from its payments and the clock, never stored
    (services.request_state; selectors.payment_requests_with_state as a column)."""

    OPEN = "OPEN", "Open"
    PENDING = "PENDING", "Paid, the payment not settled yet"
    PAID = "PAID", "Paid"
    EXPIRED = "EXPIRED", "Expired"
    CANCELLED = "CANCELLED", "Cancelled"


class PaymentRequest(models.Model):
    """What a merchant's QR code carries: a dynamic request for one amount and order, paid
    once before it expires, or a static collection code paid any number of times. Its
    signed payload (wallets/qr.py) is what the code shows; paying checks the signature."""

    code = models.CharField(max_length=32, unique=True, default=new_request_code)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="requests")
    kind = models.CharField(max_length=8, choices=PaymentRequestKind.choices)
    amount = models.BigIntegerField(null=True, blank=True)  # fen; none on a static code
    order_reference = models.CharField(max_length=64, blank=True)
    memo = models.CharField(max_length=140, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # none on a static code
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="DYNAMIC", amount__gt=0, expires_at__isnull=False)
                    | Q(kind="STATIC", amount__isnull=True)
                ),
                name="request_amount_by_kind",
            ),
            # A merchant's order is asked for once: the reference names one dynamic request.
            models.UniqueConstraint(
                fields=["merchant", "order_reference"],
                condition=Q(kind="DYNAMIC") & ~Q(order_reference=""),
                name="request_order_once",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class MerchantPayment(models.Model):
    """A payment to a merchant through one of its payment requests: the ledger transfer,
    and what it paid for."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payments")
    request = models.ForeignKey(PaymentRequest, on_delete=models.PROTECT, related_name="payments")
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="+")
    payer_wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="merchant_payment_positive")
        ]

    def __str__(self) -> str:
        return f"payment {self.transfer_id} to {self.merchant}"


class Refund(models.Model):
    """Money a merchant gives back on a payment it received: a REFUND transfer from its
    wallet to the paying wallet, linked to the original. The refunds of one payment that
    are not rejected never add up to more than it."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="refunds")
    original = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="refunds")
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=240, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_positive")]

    def __str__(self) -> str:
        return f"refund {self.transfer_id} of {self.original_id}"


class WebhookEndpoint(models.Model):
    """A merchant's URL that receives signed events. After a rotation the previous secret
    still signs, beside the new one, until `previous_secret_until`."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=80, default=new_webhook_secret)
    previous_secret = models.CharField(max_length=80, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.url


class WebhookEventType(models.TextChoices):
    PAYMENT_SETTLED = "payment.settled", "Payment settled"
    PAYMENT_REJECTED = "payment.rejected", "Payment rejected"
    REFUND_SETTLED = "refund.settled", "Refund settled"
    REFUND_REJECTED = "refund.rejected", "Refund rejected"


class WebhookEvent(models.Model):
    """Something a merchant is told: written in the transaction that decided it (an outbox),
    so no decided payment goes untold and none is told twice by a retry of that batch."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=24, choices=WebhookEventType.choices)
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="+")
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["transfer", "type"], name="event_once_per_transfer")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.transfer_id}"


class DeliveryState(models.TextChoices):
    PENDING = "PENDING", "Pending"
    DELIVERED = "DELIVERED", "Delivered"
    FAILED = "FAILED", "Failed (retries exhausted)"


class WebhookDelivery(models.Model):
    """One event to one endpoint: retried with backoff until delivered or given up."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="PENDING"),
                name="delivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event}"


class WebhookAttempt(models.Model):
    """The delivery log: every attempt, what came back and how long it took."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=240, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.delivery_id}"
