"""What the API accepts (`*In`, strict) and what it answers (`*Out`).

Each `*Out` renders its objects itself (models, or the selectors' dataclasses), so the
schema and the response are one shape. Only the two hottest answers, a payment's and a
batch's items, are also built by hand (wallets/api/present.py), and a property test holds
them to their serializers (tests/api/test_present.py).
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ewallet.errors import ErrorCode
from ewallet.money import format_fen
from settlement.models import AccountStatus, RejectCode, TransferKind, TransferState
from wallets.api.fields import (
    AccountRef,
    AmountField,
    Base64,
    BlankAsNull,
    Instant,
    StrictSerializer,
    Yuan,
    account_ref,
)
from wallets.authority import sees_identity_links
from wallets.models import (
    FreezeAuthority,
    FreezeScope,
    HolderKind,
    IssuanceDirection,
    IssuanceState,
    KycMethod,
    WalletKind,
)

WALLET_NUMBER_PATTERN = r"^[0-9]{16}$"
DIRECTIONS = [("in", "in"), ("out", "out")]
WALLET_NUMBER = {"regex": WALLET_NUMBER_PATTERN, "trim_whitespace": False}


class Fen(serializers.IntegerField):
    """The same amount as an integer number of fen, next to every yuan string."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)


# ---------------------------------------------------------------- errors (for the schema)


class FieldProblemOut(serializers.Serializer):
    pointer = serializers.CharField(help_text="JSON pointer into the request body, e.g. /amount")
    code = serializers.CharField()
    detail = serializers.CharField()


class ProblemOut(serializers.Serializer):
    """RFC 9457 problem details, with a stable `code`."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = FieldProblemOut(many=True, required=False)


# ---------------------------------------------------------------- callers and tokens


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    operator = serializers.CharField(allow_null=True)
    holder = serializers.CharField(allow_null=True, help_text="the holder's pseudonymous id")
    merchant = serializers.CharField(allow_null=True, help_text="the merchant one works for")


class TokenIn(StrictSerializer):
    name = serializers.CharField(max_length=80)
    ttl_days = serializers.IntegerField(min_value=1, max_value=365, required=False)


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    minted_with = serializers.IntegerField(
        source="parent_id",
        allow_null=True,
        help_text="the token this one was minted with: it dies with it",
    )
    prefix = serializers.CharField()
    created_at = Instant()
    expires_at = Instant(allow_null=True)
    revoked_at = Instant(allow_null=True)
    last_used_at = Instant(allow_null=True)


class TokenCreatedOut(TokenOut):
    # The secret comes in the context: it is never stored.

    token = serializers.SerializerMethodField(help_text="the secret: shown once, never stored")

    def get_token(self, token) -> str:
        return self.context["secret"]


class RevokedOut(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="how many tokens were live and are revoked")


# ---------------------------------------------------------------- wallets


class HolderOut(serializers.Serializer):
    # A holder as the caller (context["actor"]) may know them.

    id = serializers.CharField(source="pseudonym", help_text="pseudonymous id")
    kind = serializers.ChoiceField(choices=HolderKind.choices)
    kyc_method = serializers.ChoiceField(choices=KycMethod.choices)
    name = serializers.SerializerMethodField(
        help_text="null where the caller may know the holder by id only"
    )
    phone = serializers.SerializerMethodField(
        help_text="the phone number KYC recorded; null where the caller may know the holder "
        "by id only (the central bank, for an anonymous holder), or none was given",
    )
    identity_link = serializers.SerializerMethodField(
        help_text="central-bank staff only: the keyed hash that links one person's KYC "
        "records at several operators (null for others, and for records made before it)",
    )

    def get_name(self, holder) -> str | None:
        return holder.display_name if self.context["actor"].sees_identity_of(holder) else None

    def get_phone(self, holder) -> str | None:
        shown = self.context["actor"].sees_identity_of(holder)
        return (holder.phone or None) if shown else None

    def get_identity_link(self, holder) -> str | None:
        shown = sees_identity_links(self.context["actor"])
        return (holder.identity_link or None) if shown else None


class LimitUseOut(serializers.Serializer):
    # Renders a selectors.LimitUse.

    limit = Yuan(allow_null=True)
    limit_fen = serializers.IntegerField(source="limit", allow_null=True)
    used = Yuan()
    used_fen = serializers.IntegerField(source="used")
    remaining = Yuan(allow_null=True)
    remaining_fen = serializers.IntegerField(source="remaining", allow_null=True)


class LimitsOut(serializers.Serializer):
    # A wallet's limits, with what is used of them (context["usage"]).

    balance_cap = Yuan(source="account.balance_cap", allow_null=True)
    single = Yuan(source="account.single_limit", allow_null=True)
    daily = serializers.SerializerMethodField()
    annual = serializers.SerializerMethodField()

    @extend_schema_field(LimitUseOut)
    def get_daily(self, wallet) -> dict:
        return LimitUseOut(self.context["usage"]["daily"]).data

    @extend_schema_field(LimitUseOut)
    def get_annual(self, wallet) -> dict:
        return LimitUseOut(self.context["usage"]["annual"]).data


class WalletOut(serializers.Serializer):
    # A wallet (holder, operator, class and account selected) as the caller
    # (context["actor"]) may see it.

    number = serializers.CharField()
    operator = serializers.CharField(source="operator.code")
    kind = serializers.ChoiceField(choices=WalletKind.choices)
    wallet_class = serializers.IntegerField(source="wallet_class_id")
    status = serializers.ChoiceField(source="account.status", choices=AccountStatus.choices)
    balance = Yuan(source="account.balance")
    balance_fen = serializers.IntegerField(source="account.balance")
    reserved = Yuan(
        source="account.reserved",
        help_text="held for pending (two-phase) transfers: what may be spent is balance - reserved",
    )
    reserved_fen = serializers.IntegerField(source="account.reserved")
    holder = HolderOut()
    created_at = Instant()


class WalletDetailOut(WalletOut):
    limits = LimitsOut(source="*")


class HolderIn(StrictSerializer):
    display_name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=HolderKind.choices, default=HolderKind.PERSON)
    kyc_method = serializers.ChoiceField(choices=KycMethod.choices)
    phone = serializers.RegexField(r"^\+?[0-9]{5,19}$", required=False, default="")
    id_number = serializers.RegexField(r"^[0-9X]{6,18}$", required=False, default="")
    bank_account = serializers.RegexField(r"^[0-9]{8,24}$", required=False, default="")


class WalletOpenIn(StrictSerializer):
    holder = HolderIn(required=False)
    holder_id = serializers.CharField(
        max_length=32, required=False, help_text="an existing holder's pseudonymous id"
    )
    wallet_class = serializers.IntegerField(min_value=1, max_value=4, required=False)

    def validate(self, data):
        if ("holder" in data) == ("holder_id" in data):
            raise serializers.ValidationError("give exactly one of holder and holder_id")
        return data


class WalletClassIn(StrictSerializer):
    wallet_class = serializers.IntegerField(min_value=1, max_value=4)


class FreezeIn(StrictSerializer):
    scope = serializers.ChoiceField(
        choices=FreezeScope.choices, help_text="FULL: nothing in or out; RECEIVE_ONLY: nothing out"
    )
    reason = serializers.CharField(max_length=240)


class ReasonIn(StrictSerializer):
    reason = serializers.CharField(max_length=240)


class FreezeOrderOut(serializers.Serializer):
    id = serializers.IntegerField()
    wallet = serializers.CharField(source="wallet.number")
    authority = serializers.ChoiceField(choices=FreezeAuthority.choices)
    operator = serializers.CharField(
        source="operator.code",
        allow_null=True,
        help_text="the operator that gave it, for an operator's order",
    )
    scope = serializers.ChoiceField(choices=FreezeScope.choices)
    reason = serializers.CharField()
    ordered_by = serializers.CharField(source="ordered_by.username", allow_null=True)
    ordered_at = Instant()
    in_force = serializers.BooleanField()
    lifted_by = serializers.CharField(source="lifted_by.username", allow_null=True)
    lifted_at = Instant(allow_null=True)
    lift_reason = serializers.CharField()


class AmountIn(StrictSerializer):
    amount = AmountField()


class HistoryEntryOut(serializers.Serializer):
    # A leg (transfer and accounts selected) seen from one wallet's account
    # (context["account_id"]).

    transfer = serializers.IntegerField(source="transfer_id")
    kind = serializers.ChoiceField(source="transfer.kind", choices=TransferKind.choices)
    state = serializers.ChoiceField(source="transfer.state", choices=TransferState.choices)
    reject_code = BlankAsNull(source="transfer.reject_code", choices=RejectCode.choices)
    direction = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField(
        help_text="signed: negative when money left the wallet"
    )
    amount_fen = serializers.SerializerMethodField()
    counterparty = serializers.SerializerMethodField()
    memo = serializers.CharField(source="transfer.memo")
    refund_of = serializers.IntegerField(
        allow_null=True, help_text="for a refund, the payment it gives back"
    )
    created_at = Instant(source="transfer.created_at")
    decided_at = Instant(source="transfer.decided_at", allow_null=True)

    def _out(self, leg) -> bool:
        return leg.debit_id == self.context["account_id"]

    @extend_schema_field(serializers.ChoiceField(choices=DIRECTIONS))
    def get_direction(self, leg) -> str:
        return "out" if self._out(leg) else "in"

    def get_amount(self, leg) -> str:
        return format_fen(self.get_amount_fen(leg))

    def get_amount_fen(self, leg) -> int:
        return -leg.amount if self._out(leg) else leg.amount

    def get_counterparty(self, leg) -> str:
        return account_ref((leg.credit if self._out(leg) else leg.debit).label)


# ---------------------------------------------------------------- transfers


class LegOut(serializers.Serializer):
    # A transfer's leg, its accounts selected.

    asset = serializers.CharField()
    debit = AccountRef(source="debit.label")
    credit = AccountRef(source="credit.label")
    amount = Yuan()
    amount_fen = serializers.IntegerField(source="amount")


class TransferOut(serializers.Serializer):
    # A transfer with its legs prefetched (present.with_legs); payer, payee and amount
    # are its first leg's.

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=TransferKind.choices)
    state = serializers.ChoiceField(choices=TransferState.choices)
    reject_code = BlankAsNull(choices=RejectCode.choices)
    payer = serializers.SerializerMethodField(
        help_text="the first leg's debit: a wallet number or account"
    )
    payee = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField()
    amount_fen = serializers.SerializerMethodField()
    legs = LegOut(many=True)
    memo = serializers.CharField()
    refund_of = serializers.SerializerMethodField(
        help_text="for a refund, the payment it gives back"
    )
    link = serializers.UUIDField(
        allow_null=True, help_text="a linked transfer's chain, the same on every member"
    )
    created_at = Instant()
    decided_at = Instant(allow_null=True)

    def get_payer(self, transfer) -> str:
        return account_ref(transfer.legs.all()[0].debit.label)

    def get_payee(self, transfer) -> str:
        return account_ref(transfer.legs.all()[0].credit.label)

    def get_amount(self, transfer) -> str:
        return format_fen(transfer.legs.all()[0].amount)

    def get_amount_fen(self, transfer) -> int:
        return transfer.legs.all()[0].amount

    def get_refund_of(self, transfer) -> int | None:
        # Annotated by present.with_legs; a transfer read otherwise is no refund's answer.
        return getattr(transfer, "refund_of", None)


class PaymentIn(StrictSerializer):
    payer = serializers.RegexField(**WALLET_NUMBER, help_text="the paying wallet's number")
    payee = serializers.RegexField(**WALLET_NUMBER, help_text="the receiving wallet's number")
    amount = AmountField()
    memo = serializers.CharField(max_length=140, required=False, default="", allow_blank=True)


class BatchPaymentIn(PaymentIn):
    idempotency_key = serializers.CharField(max_length=200)
    linked = serializers.BooleanField(
        required=False,
        default=False,
        help_text="linked to the next item: a chain (linked items and the first item after "
        "them that is not linked) settles whole or not at all",
    )


class BatchIn(StrictSerializer):
    transfers = BatchPaymentIn(many=True, min_length=1, max_length=1000)

    def validate_transfers(self, items):
        if items[-1]["linked"]:
            raise serializers.ValidationError(
                "the last item is linked to nothing: a chain ends with an item not linked",
                code=ErrorCode.LINKED_CHAIN_OPEN,
            )
        return items


class BatchItemOut(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="202 queued, 200 replayed, 4xx refused")
    idempotency_key = serializers.CharField()
    id = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(choices=TransferState.choices, allow_null=True)
    problem = ProblemOut(allow_null=True)


class BatchOut(serializers.Serializer):
    accepted = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BatchItemOut(many=True)


# ---------------------------------------------------------------- central bank


class IssuanceIn(StrictSerializer):
    operator = serializers.CharField(max_length=16, help_text="operator code, e.g. ICBC")
    direction = serializers.ChoiceField(choices=IssuanceDirection.choices)
    amount = AmountField()


class RejectIn(StrictSerializer):
    reason = serializers.CharField(max_length=240)


class IssuanceOut(serializers.Serializer):
    id = serializers.IntegerField()
    operator = serializers.CharField(source="operator.code")
    direction = serializers.ChoiceField(choices=IssuanceDirection.choices)
    amount = Yuan()
    amount_fen = serializers.IntegerField(source="amount")
    state = serializers.ChoiceField(choices=IssuanceState.choices)
    maker = serializers.CharField(source="maker.username")
    checker = serializers.CharField(source="checker.username", allow_null=True)
    reason = serializers.CharField()
    transfer = serializers.IntegerField(source="transfer_id", allow_null=True)
    created_at = Instant()
    decided_at = Instant(allow_null=True)


class OperatorSupplyOut(serializers.Serializer):
    # Renders a selectors.OperatorCirculation.

    operator = serializers.CharField(source="code")
    vault = Yuan()
    wallets = Yuan()
    circulation = Yuan(help_text="vault + wallets")
    reserve = Yuan(help_text="reserve not yet pledged for e-CNY")


class ClassSupplyOut(serializers.Serializer):
    wallet_class = serializers.IntegerField()
    wallets = Yuan()


class MoneySupplyOut(serializers.Serializer):
    # Renders a selectors.MoneySupply.

    circulation = Yuan(source="totals.circulation")
    issued = serializers.SerializerMethodField(
        help_text="the issuance account's liability, as positive"
    )
    backing = Yuan(source="totals.backing")
    fully_backed = serializers.BooleanField(
        source="totals.balanced", help_text="circulation == issued == backing"
    )
    by_operator = OperatorSupplyOut(many=True)
    by_class = ClassSupplyOut(many=True)

    def get_issued(self, supply) -> str:
        return format_fen(-supply.totals.issuance)


# ---------------------------------------------------------------- audit


class CheckpointOut(serializers.Serializer):
    height = serializers.IntegerField()
    size = serializers.IntegerField()
    root_hash = Base64(help_text="base64")
    created_at = Instant()
    key_hash = serializers.CharField()
    note = serializers.CharField(help_text="the C2SP signed note, verbatim")


class SigningKeyOut(serializers.Serializer):
    # A signing key, with its verifier key (context["verifiers"]: key hash -> verifier).

    key_hash = serializers.CharField()
    verifier_key = serializers.SerializerMethodField()
    created_at = Instant()
    retired_at = Instant(allow_null=True)

    def get_verifier_key(self, key) -> str:
        return str(self.context["verifiers"][key.key_hash])


class ReceiptOut(serializers.Serializer):
    leaf = serializers.CharField(help_text="base64 of the leaf's canonical JSON")
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    inclusion_proof = serializers.ListField(child=serializers.CharField())
    checkpoint = serializers.CharField()
    verifier_key = serializers.CharField()


class ConsistencyOut(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    first_root = serializers.CharField(help_text="base64")
    second_root = serializers.CharField(help_text="base64")
    proof = serializers.ListField(child=serializers.CharField(), help_text="base64 hashes")


class HealthOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=[("ok", "ok"), ("degraded", "degraded")])
    database = serializers.DictField()
    broker = serializers.DictField()
    workers = serializers.DictField()
    backlog = serializers.IntegerField(help_text="transfers received, not yet settled")
