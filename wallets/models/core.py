"""The e-CNY product: the central bank, operators, holders, wallet classes and wallets.

Every money-holding object owns a ledger account (settlement.Account). Policy lives here
(a wallet's class and its limits, a freeze and its reason) and is copied onto the account,
which is what settlement enforces.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from ewallet.money import format_fen
from settlement.models import Account, AccountStatus, Transfer


class CentralBank(models.Model):
    """Tier 1. A single row: the issuer of e-CNY and keeper of operators' reserves."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    code = models.CharField(max_length=16, default="PBOC")
    name = models.CharField(max_length=120, default="People's Bank of China")
    issuance_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    backing_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    reserve_source_account = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="central_bank_singleton")]

    def __str__(self) -> str:
        return self.name


class OperatorStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    SUSPENDED = "SUSPENDED", "Suspended"


class Operator(models.Model):
    """Tier 2: a commercial bank or licensed payment institution that runs wallets."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=120)
    name_zh = models.CharField(max_length=60, blank=True)
    status = models.CharField(
        max_length=12, choices=OperatorStatus.choices, default=OperatorStatus.ACTIVE
    )
    reserve_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    vault_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.code


class KycMethod(models.TextChoices):
    IN_PERSON = "IN_PERSON", "In person at the operator"
    REMOTE_ID_BANK = "REMOTE_ID_BANK", "Remote ID check with a linked bank account"
    REMOTE_ID = "REMOTE_ID", "Remote ID check, no linked bank account"
    PHONE_ONLY = "PHONE_ONLY", "Phone number only (anonymous)"


# The strongest wallet class (lowest number) each kind of KYC allows.
KYC_STRONGEST_CLASS = {
    KycMethod.IN_PERSON: 1,
    KycMethod.REMOTE_ID_BANK: 2,
    KycMethod.REMOTE_ID: 3,
    KycMethod.PHONE_ONLY: 4,
}


class HolderKind(models.TextChoices):
    PERSON = "PERSON", "Person"
    MERCHANT = "MERCHANT", "Merchant"


def new_pseudonym() -> str:
    return "h_" + secrets.token_hex(12)


class Holder(models.Model):
    """A person or merchant KYC'd at one operator. Identity numbers are kept masked.

    A person who banks at two operators is two holders, one KYC record at each; only the
    central bank sees that they are one person, through `identity_link` (wallets/identity.py).
    """

    operator = models.ForeignKey("Operator", on_delete=models.PROTECT, related_name="holders")
    kind = models.CharField(max_length=10, choices=HolderKind.choices, default=HolderKind.PERSON)
    display_name = models.CharField(max_length=120)
    # What the central bank sees of an anonymous (class 4) holder.
    pseudonym = models.CharField(max_length=32, unique=True, default=new_pseudonym)
    kyc_method = models.CharField(max_length=16, choices=KycMethod.choices)
    phone = models.CharField(max_length=20, blank=True)
    id_number_masked = models.CharField(max_length=24, blank=True)
    bank_account_masked = models.CharField(max_length=24, blank=True)
    # The central bank's keyed hash of the identity (or phone) number; "" for records made
    # before it was kept, whose full numbers were never stored.
    identity_link = models.CharField(max_length=64, blank=True, db_index=True)
    kyc_verified_at = models.DateTimeField(default=timezone.now)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        # By pseudonym: a row's name shows in page titles, console history and choices,
        # where nobody asked whether the viewer may know the holder. Names and numbers are
        # shown only where they did (`Actor.sees_identity_of`).
        return self.pseudonym

    @property
    def is_anonymous(self) -> bool:
        """Known to the central bank by pseudonym only: KYC'd by phone number alone."""
        return self.kyc_method == KycMethod.PHONE_ONLY

    @property
    def strongest_class(self) -> int:
        return KYC_STRONGEST_CLASS[KycMethod(self.kyc_method)]


class WalletClass(models.Model):
    """Limits per wallet class, in fen; null means no limit. Edited by the central bank."""

    number = models.PositiveSmallIntegerField(primary_key=True)
    name = models.CharField(max_length=60)
    kyc_requirement = models.CharField(max_length=120)
    balance_cap = models.BigIntegerField(null=True, blank=True)
    single_limit = models.BigIntegerField(null=True, blank=True)
    daily_limit = models.BigIntegerField(null=True, blank=True)
    annual_limit = models.BigIntegerField(null=True, blank=True)
    # How many open personal wallets of this class one person may hold across all
    # operators, counted through their identity link; null means no cap.
    wallets_per_person = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Every change of limits, with who made it and when (the console shows it).
    history = HistoricalRecords(
        excluded_fields=["updated_at", "updated_by"],
        verbose_name="wallet-class limit change",
        verbose_name_plural="wallet-class limit changes",
    )

    class Meta:
        verbose_name_plural = "wallet classes"
        constraints = [
            models.CheckConstraint(
                condition=Q(number__gte=1, number__lte=4), name="wallet_class_1_to_4"
            )
        ]

    def __str__(self) -> str:
        return f"class {self.number}"

    def limits(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in LIMIT_FIELDS}


LIMIT_FIELDS = ("balance_cap", "single_limit", "daily_limit", "annual_limit")


class WalletKind(models.TextChoices):
    PERSONAL = "PERSONAL", "Personal"
    MERCHANT = "MERCHANT", "Merchant"
    # A child wallet a holder pushed to a merchant (wallets/models/subwallets.py).
    SUB = "SUB", "Sub-wallet"


class Wallet(models.Model):
    number = models.CharField(max_length=16, unique=True)
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="wallets")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="wallets")
    wallet_class = models.ForeignKey(WalletClass, on_delete=models.PROTECT, related_name="wallets")
    kind = models.CharField(max_length=10, choices=WalletKind.choices, default=WalletKind.PERSONAL)
    # Balance and status live on the account: it is what settlement reads and writes.
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="wallet")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.number

    @property
    def status(self) -> str:
        return self.account.status

    @property
    def balance(self) -> int:
        return self.account.balance


class FreezeAuthority(models.TextChoices):
    OPERATOR = "OPERATOR", "Operator"
    CENTRAL_BANK = "CENTRAL_BANK", "Central bank"


class FreezeScope(models.TextChoices):
    FULL = "FULL", "Full freeze (nothing in or out)"
    RECEIVE_ONLY = "RECEIVE_ONLY", "Receive only (nothing out)"


class FreezeOrder(models.Model):
    """An order to freeze a wallet, with the authority that gave it.

    Orders stack: a wallet is frozen while any full order is in force, receive-only while
    any receive-only order is, and active only when none is. Only the authority that gave
    an order lifts it: the central bank's by a central-bank approver, an operator's by that
    operator's staff. An order is never deleted; lifting records who, when and why.
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="freeze_orders")
    authority = models.CharField(max_length=16, choices=FreezeAuthority.choices)
    # The operator that gave it, for an operator's order.
    operator = models.ForeignKey(
        Operator, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    scope = models.CharField(max_length=16, choices=FreezeScope.choices)
    reason = models.CharField(max_length=240)
    ordered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ordered_at = models.DateTimeField(default=timezone.now)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.CharField(max_length=240, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["wallet"], condition=Q(lifted_at__isnull=True), name="freeze_in_force"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(authority="OPERATOR", operator__isnull=False)
                | Q(authority="CENTRAL_BANK", operator__isnull=True),
                name="freeze_operator_iff_operator_authority",
            ),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | ~Q(lift_reason=""),
                name="freeze_lift_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"freeze #{self.pk} of {self.wallet} by {self.get_authority_display()}"

    @property
    def in_force(self) -> bool:
        return self.lifted_at is None


class WalletStatusChange(models.Model):
    """Every change of a wallet's status (by a freeze order, its lifting or a closure),
    with who and why: the wallet's status history."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="status_changes")
    old_status = models.CharField(max_length=16, choices=AccountStatus.choices)
    new_status = models.CharField(max_length=16, choices=AccountStatus.choices)
    reason = models.CharField(max_length=240)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The order whose giving or lifting changed the status (none for a closure).
    order = models.ForeignKey(
        FreezeOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.wallet} {self.old_status}->{self.new_status}"


class IssuanceDirection(models.TextChoices):
    ISSUE = "ISSUE", "Issue to operator"
    REDEEM = "REDEEM", "Redeem from operator"


class IssuanceState(models.TextChoices):
    REQUESTED = "REQUESTED", "Requested"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"


class IssuanceRequest(models.Model):
    """Maker-checker: one central-bank user asks, a different one approves or rejects."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="issuances")
    direction = models.CharField(max_length=8, choices=IssuanceDirection.choices)
    amount = models.BigIntegerField()
    state = models.CharField(
        max_length=10, choices=IssuanceState.choices, default=IssuanceState.REQUESTED
    )
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=240, blank=True)
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="issuance_amount_positive"),
            models.CheckConstraint(
                condition=Q(checker__isnull=True) | ~Q(checker=F("maker")),
                name="issuance_checker_not_maker",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.direction} {format_fen(self.amount)} CNY, {self.operator}"


class OperatorStaff(models.Model):
    """The operator a member of operator staff works for: they see and act on its rows only."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_staff"
    )
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="staff")

    class Meta:
        verbose_name_plural = "operator staff"

    def __str__(self) -> str:
        return f"{self.user} at {self.operator}"


class ApiToken(models.Model):
    """A bearer token for the REST API. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    # The first characters of the secret, so a holder can tell their tokens apart.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The token this one was minted with: it never outlives it and is revoked with it.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class IdempotencyRecord(models.Model):
    """The first response to a money-moving request, replayed for the same caller and key."""

    # No index of its own: the unique (user, key) below leads with it. Every payment writes
    # a record, so an index fewer is a write fewer per request.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=200)
    # Method, path and a SHA-256 of the body: the same key with another request is refused.
    request_hash = models.CharField(max_length=64)
    # Null while the first request is still in flight.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The first answer's body as its client received it, kept as one JSON string (records
    # completed before that hold the JSON document itself).
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user")
        ]
        # The retention sweep deletes the oldest first.
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class AuditVerification(models.Model):
    """One run of `audit verify` asked for from the console, and what it found."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Null until the run finishes.
    ok = models.BooleanField(null=True, blank=True)
    summary = models.TextField(blank=True)
    leaves = models.BigIntegerField(null=True, blank=True)
    checkpoints = models.BigIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]

    def __str__(self) -> str:
        return f"audit verification {self.pk}"
