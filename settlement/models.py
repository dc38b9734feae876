"""The ledger: accounts in two assets, transfers with legs, postings, and the audit log.

Design in brief (see DESIGN.md, "Money and the ledger"):

* Amounts are integer fen. An account holds one asset: ECNY (e-CNY, a liability of the
  central bank) or RESERVE (an operator's reserve balance at the central bank).
* A transfer is a request to move money, made of one or more legs (issuance has two: RESERVE
  from the operator to the central bank, ECNY from the issuance account to the operator's
  vault). It is RECEIVED, then settled or rejected by a settlement worker, never edited.
* Settling writes two postings per leg whose signed amounts sum to zero per asset; an
  account's balance is the sum of its postings. The database enforces it too: CHECK
  constraints here and, on PostgreSQL, a deferred trigger that rejects unbalanced postings.
* Each settled transfer becomes one leaf of the hash-chained audit log, in the same
  transaction.

This app knows accounts, not people: policy (status, limits, caps) is written onto the
account by the product layer and enforced here.
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Asset(models.TextChoices):
    ECNY = "ECNY", "e-CNY"
    RESERVE = "RESERVE", "Reserve"


class AccountKind(models.TextChoices):
    # Central bank. Issuance goes negative by design: its balance is e-CNY's liability.
    ISSUANCE = "ISSUANCE", "Central bank issuance (ECNY)"
    BACKING = "BACKING", "Central bank reserve backing (RESERVE)"
    # Where operators' reserves come from: central-bank money outside this ledger.
    RESERVE_SOURCE = "RESERVE_SOURCE", "Central bank reserve funding (RESERVE)"
    # Operators.
    RESERVE = "RESERVE", "Operator reserve (RESERVE)"
    VAULT = "VAULT", "Operator vault (ECNY)"
    # Holders.
    WALLET = "WALLET", "Wallet (ECNY)"
    ESCROW = "ESCROW", "Escrow (ECNY)"


# The only accounts whose balance may be negative.
NEGATIVE_ALLOWED = (AccountKind.ISSUANCE, AccountKind.RESERVE_SOURCE)


class AccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    RECEIVE_ONLY = "RECEIVE_ONLY", "Receive only"
    FROZEN = "FROZEN", "Frozen"
    CLOSED = "CLOSED", "Closed"


class Account(models.Model):
    label = models.CharField(max_length=120, unique=True)
    asset = models.CharField(max_length=8, choices=Asset.choices)
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    balance = models.BigIntegerField(default=0)
    # Held for this account's pending transfers (DESIGN.md, two-phase): spendable is
    # balance - reserved, never below zero.
    reserved = models.BigIntegerField(default=0)
    # The institution behind the account is suspended (DESIGN.md: an operator suspended by
    # the central bank): it may still receive, and is debited only by a redemption, the
    # central bank winding it down. Kept apart from `status`, which freezes set.
    suspended = models.BooleanField(default=False)
    # Policy, in fen; None means no limit. Written by the product layer, enforced here.
    balance_cap = models.BigIntegerField(null=True, blank=True)
    single_limit = models.BigIntegerField(null=True, blank=True)
    daily_limit = models.BigIntegerField(null=True, blank=True)
    annual_limit = models.BigIntegerField(null=True, blank=True)
    # Paid out in the current limit day and year (Asia/Shanghai), kept on the row that
    # settlement rewrites for the balance anyway; earlier periods are in LimitUsage
    # (settlement/usage.py). None: the account has not paid in such a period yet.
    day_start = models.DateField(null=True, blank=True)
    day_spent = models.BigIntegerField(default=0)
    year_start = models.DateField(null=True, blank=True)
    year_spent = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=NEGATIVE_ALLOWED) | Q(balance__gte=0),
                name="account_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0)
                & (Q(kind__in=NEGATIVE_ALLOWED) | Q(balance__gte=F("reserved"))),
                name="account_reserved_within_balance",
            ),
            models.CheckConstraint(
                condition=(
                    Q(asset=Asset.ECNY, kind__in=["ISSUANCE", "VAULT", "WALLET", "ESCROW"])
                    | Q(asset=Asset.RESERVE, kind__in=["BACKING", "RESERVE_SOURCE", "RESERVE"])
                ),
                name="account_kind_matches_asset",
            ),
            models.CheckConstraint(
                condition=(
                    (Q(balance_cap__isnull=True) | Q(balance_cap__gte=0))
                    & (Q(single_limit__isnull=True) | Q(single_limit__gte=0))
                    & (Q(daily_limit__isnull=True) | Q(daily_limit__gte=0))
                    & (Q(annual_limit__isnull=True) | Q(annual_limit__gte=0))
                ),
                name="account_limits_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(day_spent__gte=0) & Q(year_spent__gte=0),
                name="account_usage_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class TransferKind(models.TextChoices):
    RESERVE_DEPOSIT = "RESERVE_DEPOSIT", "Reserve deposit"
    RESERVE_WITHDRAWAL = "RESERVE_WITHDRAWAL", "Reserve withdrawal"
    ISSUE = "ISSUE", "Issuance"
    REDEEM = "REDEEM", "Redemption"
    LOAD = "LOAD", "Wallet load"
    UNLOAD = "UNLOAD", "Wallet unload"
    P2P = "P2P", "Person-to-person payment"
    MERCHANT = "MERCHANT", "Merchant payment"
    REFUND = "REFUND", "Refund"
    # A sub-wallet pushed to a merchant: its cap moved in from the parent wallet, and what
    # it still holds moved back when it is revoked or expires.
    SUB_WALLET_FUND = "SUB_WALLET_FUND", "Sub-wallet funding"
    SUB_WALLET_RETURN = "SUB_WALLET_RETURN", "Sub-wallet return"
    # The phases of a two-phase transfer, each naming the pending transfer it decides.
    POST = "POST", "Post of a pending transfer"
    VOID = "VOID", "Void of a pending transfer"
    EXPIRE = "EXPIRE", "Expiry of a pending transfer"
    # Consumption vouchers: a programme funded by its government wallet, a voucher granted
    # to a lottery winner, and unspent value returned at expiry (spent as MERCHANT legs).
    VOUCHER_FUND = "VOUCHER_FUND", "Voucher programme funding"
    VOUCHER_GRANT = "VOUCHER_GRANT", "Voucher grant"
    VOUCHER_RETURN = "VOUCHER_RETURN", "Voucher return at expiry"
    # Dual-offline hardware wallets: a wallet loads a device's offline reserve; a synced
    # offline payment is paid from it to the payee's wallet; an unload (a payment the device
    # signed to itself) returns reserve to its own wallet.
    OFFLINE_LOAD = "OFFLINE_LOAD", "Offline reserve load"
    OFFLINE_PAYMENT = "OFFLINE_PAYMENT", "Offline payment settled"
    OFFLINE_UNLOAD = "OFFLINE_UNLOAD", "Offline reserve unload"


# Transfers that count against the payer's single, daily and annual limits. Funding a
# sub-wallet counts: the money is committed to a merchant then (README, "Sub-wallets");
# so does loading a device's offline reserve, spent with no limit checked (README,
# "Dual-offline payments").
PAYMENT_KINDS = frozenset(
    {
        TransferKind.P2P,
        TransferKind.MERCHANT,
        TransferKind.SUB_WALLET_FUND,
        TransferKind.OFFLINE_LOAD,
    }
)
# Transfers that decide a pending transfer, not move money of their own choosing.
PHASE_KINDS = frozenset({TransferKind.POST, TransferKind.VOID, TransferKind.EXPIRE})


class TransferState(models.TextChoices):
    RECEIVED = "RECEIVED", "Received"
    SETTLED = "SETTLED", "Settled"
    REJECTED = "REJECTED", "Rejected"
    # A two-phase transfer: its funds reserved, then posted, voided or expired.
    PENDING = "PENDING", "Pending (funds reserved)"
    POSTED = "POSTED", "Posted"
    VOIDED = "VOIDED", "Voided"
    EXPIRED = "EXPIRED", "Expired"


# The states of a two-phase transfer once its funds were reserved.
RESERVED_STATES = frozenset(
    {TransferState.PENDING, TransferState.POSTED, TransferState.VOIDED, TransferState.EXPIRED}
)


class RejectCode(models.TextChoices):
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS", "Insufficient funds"
    LIMIT_SINGLE = "LIMIT_SINGLE", "Above the single-payment limit"
    LIMIT_DAILY = "LIMIT_DAILY", "Above the daily limit"
    LIMIT_ANNUAL = "LIMIT_ANNUAL", "Above the annual limit"
    LIMIT_BALANCE = "LIMIT_BALANCE", "Above the payee's balance cap"
    WALLET_FROZEN = "WALLET_FROZEN", "Wallet frozen"
    WALLET_RECEIVE_ONLY = "WALLET_RECEIVE_ONLY", "Wallet may only receive"
    WALLET_CLOSED = "WALLET_CLOSED", "Wallet closed"
    OPERATOR_SUSPENDED = "OPERATOR_SUSPENDED", "The paying account's operator is suspended"
    ALREADY_POSTED = "ALREADY_POSTED", "The pending transfer was posted already"
    ALREADY_VOIDED = "ALREADY_VOIDED", "The pending transfer was voided already"
    ALREADY_EXPIRED = "ALREADY_EXPIRED", "The pending transfer expired"
    PENDING_TIMED_OUT = "PENDING_TIMED_OUT", "The pending transfer's timeout has passed"
    PENDING_REJECTED = "PENDING_REJECTED", "The pending transfer reserved nothing"
    LINKED_FAILED = "LINKED_FAILED", "Linked with a transfer that was rejected"


# Room for the longest key an interface derives: the API's `api:{user id}:{client key}`,
# with a client key of up to 200 characters (wallets.api.idempotency).
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class Transfer(models.Model):
    kind = models.CharField(max_length=24, choices=TransferKind.choices)
    state = models.CharField(
        max_length=12, choices=TransferState.choices, default=TransferState.RECEIVED
    )
    reject_code = models.CharField(max_length=24, choices=RejectCode.choices, blank=True)
    idempotency_key = models.CharField(max_length=IDEMPOTENCY_KEY_MAX_LENGTH, unique=True)
    memo = models.CharField(max_length=140, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Two-phase: a transfer with a timeout reserves its funds (PENDING) until posted,
    # voided or expired at the timeout; a POST, VOID or EXPIRE names the one it decides.
    timeout_at = models.DateTimeField(null=True, blank=True)
    # No index: nothing looks phases up by their pending transfer, and every insert
    # would pay for one.
    pending = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="phases",
        db_index=False,
    )
    # Linked transfers (one chain of a batch) settle together or not at all: every member
    # carries the chain's id, and one settlement batch decides them all.
    link = models.UUIDField(null=True, blank=True)

    class Meta:
        indexes = [
            # The settlement queue: only RECEIVED rows, in arrival order.
            models.Index(
                fields=["id"],
                condition=Q(state="RECEIVED"),
                name="transfer_received_queue",
            ),
            # The expiry sweep: pending transfers by timeout.
            models.Index(
                fields=["timeout_at"],
                condition=Q(state="PENDING"),
                name="transfer_pending_timeout",
            ),
            # The console's circulation over time: issuances and redemptions in order.
            models.Index(
                fields=["decided_at", "id"],
                condition=Q(kind__in=["ISSUE", "REDEEM"], state="SETTLED"),
                name="transfer_circulation_moves",
            ),
            # A chain's members, for the batch that decides it (linked transfers only).
            models.Index(fields=["link"], condition=Q(link__isnull=False), name="transfer_link"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(state=TransferState.REJECTED, reject_code__gt="")
                    | (~Q(state=TransferState.REJECTED) & Q(reject_code=""))
                ),
                name="transfer_reject_code_iff_rejected",
            ),
            models.CheckConstraint(
                condition=Q(state=TransferState.RECEIVED) | Q(decided_at__isnull=False),
                name="transfer_decided_has_time",
            ),
            models.CheckConstraint(
                condition=Q(pending__isnull=True) | Q(kind__in=["POST", "VOID", "EXPIRE"]),
                name="transfer_phase_names_pending",
            ),
            models.CheckConstraint(
                condition=Q(link__isnull=True) | (Q(timeout_at__isnull=True, pending__isnull=True)),
                name="transfer_linked_not_two_phase",
            ),
            models.CheckConstraint(
                condition=Q(timeout_at__isnull=False)
                | ~Q(state__in=["PENDING", "POSTED", "VOIDED", "EXPIRED"]),
                name="transfer_pending_has_timeout",
            ),
        ]

    def __str__(self) -> str:
        return f"transfer {self.pk} {self.kind} {self.state}"


class PaymentsPerMinute(models.Model):
    """Payments decided (settled or rejected) in each minute, counted by the settlement
    batch that decided them: the console reads these instead of counting the ledger."""

    minute = models.DateTimeField(primary_key=True)
    decided = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.decided} payments"


class RejectionTally(models.Model):
    """Transfers rejected so far, by reject code, kept by the settlement batches."""

    reject_code = models.CharField(max_length=24, choices=RejectCode.choices, primary_key=True)
    rejected = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.reject_code}: {self.rejected}"


class BatchCommit(models.Model):
    """When the settlement batch that stamped its decisions `decided_at` committed, so
    latency can be counted to the moment a decision became visible. `decided_at` is taken
    before the batch writes and is sealed into the audit leaves, so it cannot include the
    commit; this row, written after it, does. Two batches with the same stamp keep the
    later commit. A crash just after a commit may lose its row; the decision then counts
    from `decided_at`."""

    decided_at = models.DateTimeField(primary_key=True)
    committed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"batch of {self.decided_at:%H:%M:%S.%f} committed {self.committed_at:%H:%M:%S.%f}"


class TransferLeg(models.Model):
    # No row-by-row foreign keys: on PostgreSQL a statement trigger checks and key-share
    # locks the references once per INSERT (migration 0014); the deferred per-row checks
    # were a third of submitting a payment. No index of its own on `transfer`:
    # leg_unique_seq (transfer, seq) serves every lookup by transfer.
    transfer = models.ForeignKey(
        Transfer, on_delete=models.CASCADE, related_name="legs", db_constraint=False, db_index=False
    )
    seq = models.PositiveSmallIntegerField()
    asset = models.CharField(max_length=8, choices=Asset.choices)
    debit = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    credit = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    amount = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["transfer", "seq"], name="leg_unique_seq"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="leg_amount_positive"),
            models.CheckConstraint(condition=~Q(debit=F("credit")), name="leg_distinct_accounts"),
        ]

    def __str__(self) -> str:
        return f"{self.debit_id}->{self.credit_id} {self.amount} {self.asset}"


class Posting(models.Model):
    # No row-by-row foreign keys: on PostgreSQL statement triggers check references once
    # per statement (migration 0005), a quarter of a settlement batch's time otherwise.
    transfer = models.ForeignKey(
        Transfer, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    asset = models.CharField(max_length=8, choices=Asset.choices)
    amount = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d} {self.asset}"


class LimitPeriod(models.TextChoices):
    DAY = "DAY", "Day"
    YEAR = "YEAR", "Year"


class LimitUsage(models.Model):
    """Payments out of an account in one calendar period (Asia/Shanghai) before the one
    its row holds (`Account.day_start`, `year_start`): settlement/usage.py."""

    # No index of its own: usage_unique leads with the account.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="usage", db_index=False
    )
    period = models.CharField(max_length=4, choices=LimitPeriod.choices)
    start = models.DateField()
    spent = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "period", "start"], name="usage_unique"),
            models.CheckConstraint(condition=Q(spent__gte=0), name="usage_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.period} {self.start}: {self.spent}"


class AuditEvent(models.Model):
    """Something the audit log records that is not a transfer: a kind and a JSON object
    of strings, integers, booleans and nulls, told by the layer above (settlement does not
    know what it means). Written with its leaf in one transaction, never changed; its leaf
    is rebuilt from this row by `audit verify`, so an edit of either is found."""

    kind = models.CharField(max_length=64)
    data = models.JSONField()
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"event {self.pk} {self.kind}"


class AuditLeaf(models.Model):
    """One settled transfer, or one event, in the append-only log. See
    settlement/audit/leaf.py."""

    index = models.BigIntegerField(primary_key=True)
    transfer = models.OneToOneField(  # referenced as Posting's are: see there
        Transfer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_leaf",
        db_constraint=False,
    )
    event = models.OneToOneField(
        AuditEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_leaf"
    )
    leaf_bytes = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)
    chain_hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(index__gte=0), name="leaf_index_not_negative"),
            models.CheckConstraint(
                condition=Q(transfer__isnull=False, event__isnull=True)
                | Q(transfer__isnull=True, event__isnull=False),
                name="leaf_of_a_transfer_or_an_event",
            ),
        ]

    def __str__(self) -> str:
        return f"leaf {self.index}"


class AuditHead(models.Model):
    """The single row every settlement locks to append leaves in order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    chain_hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="audit_head_singleton")]

    def __str__(self) -> str:
        return f"audit head size {self.size}"


class MerkleNode(models.Model):
    """A perfect subtree of the Merkle tree over leaves: level 0 is a leaf's hash, and
    (level, index) covers leaves [index * 2**level, (index + 1) * 2**level).

    Written once, when the subtree's last leaf is sealed into a checkpoint; heads and
    proofs fold O(log n) of them (settlement/audit/merkle.py).
    """

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class SigningKey(models.Model):
    """A public key the central bank has signed checkpoints with. Private keys live only in
    a PEM file outside the database; retired keys stay so old checkpoints still verify."""

    key_hash = models.CharField(max_length=8, primary_key=True)  # C2SP note key hash, hex
    name = models.CharField(max_length=200)
    public_key = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}+{self.key_hash}"


class Checkpoint(models.Model):
    """A signed tree head (C2SP tlog-checkpoint in a signed note) over the first `size`
    leaves. Heights count up from 0; sizes only grow; each names its predecessor."""

    height = models.BigIntegerField(primary_key=True)
    size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    previous_hash = models.BinaryField(max_length=32)  # SHA-256 of the previous note
    created_at = models.DateTimeField()
    key_hash = models.CharField(max_length=8)
    note = models.TextField()  # the signed note, verbatim

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="checkpoint_not_empty"),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.height} (size {self.size})"
