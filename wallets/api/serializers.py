"""What the API accepts (`*In`, strict) and what it answers (`*Out`)."""

from rest_framework import serializers

from ewallet.money import format_fen
from settlement.models import AccountStatus, RejectCode, TransferKind, TransferState
from wallets.api.fields import AmountField, StrictSerializer
from wallets.models import HolderKind, IssuanceDirection, IssuanceState, KycMethod, WalletKind

WALLET_NUMBER_PATTERN = r"^[0-9]{16}$"
WALLET_NUMBER = {"regex": WALLET_NUMBER_PATTERN, "trim_whitespace": False}


def account_ref(label: str) -> str:
    """A ledger account as clients know it: a wallet's number, or the account's label."""
    return label.removeprefix("wallet:")


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


class TokenIn(StrictSerializer):
    name = serializers.CharField(max_length=80)
    ttl_days = serializers.IntegerField(min_value=1, max_value=365, required=False)


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedOut(TokenOut):
    token = serializers.CharField(help_text="the secret: shown once, never stored")


# ---------------------------------------------------------------- wallets


class HolderOut(serializers.Serializer):
    id = serializers.CharField(help_text="pseudonymous id")
    kind = serializers.ChoiceField(choices=HolderKind.choices)
    kyc_method = serializers.ChoiceField(choices=KycMethod.choices)
    name = serializers.CharField(
        allow_null=True, help_text="null where the caller may know the holder by id only"
    )


class LimitUseOut(serializers.Serializer):
    limit = serializers.CharField(allow_null=True)
    limit_fen = serializers.IntegerField(allow_null=True)
    used = serializers.CharField()
    used_fen = serializers.IntegerField()
    remaining = serializers.CharField(allow_null=True)
    remaining_fen = serializers.IntegerField(allow_null=True)


class LimitsOut(serializers.Serializer):
    balance_cap = serializers.CharField(allow_null=True)
    single = serializers.CharField(allow_null=True)
    daily = LimitUseOut()
    annual = LimitUseOut()


class WalletOut(serializers.Serializer):
    number = serializers.CharField()
    operator = serializers.CharField()
    kind = serializers.ChoiceField(choices=WalletKind.choices)
    wallet_class = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    balance = serializers.CharField()
    balance_fen = serializers.IntegerField()
    holder = HolderOut()
    created_at = serializers.DateTimeField()


class WalletDetailOut(WalletOut):
    limits = LimitsOut()


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


class WalletStatusIn(StrictSerializer):
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    reason = serializers.CharField(max_length=240)


class AmountIn(StrictSerializer):
    amount = AmountField()


class HistoryEntryOut(serializers.Serializer):
    transfer = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=TransferKind.choices)
    state = serializers.ChoiceField(choices=TransferState.choices)
    reject_code = serializers.ChoiceField(choices=RejectCode.choices, allow_null=True)
    direction = serializers.ChoiceField(choices=[("in", "in"), ("out", "out")])
    amount = serializers.CharField(help_text="signed: negative when money left the wallet")
    amount_fen = serializers.IntegerField()
    counterparty = serializers.CharField()
    memo = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


# ---------------------------------------------------------------- transfers


class LegOut(serializers.Serializer):
    asset = serializers.CharField()
    debit = serializers.CharField()
    credit = serializers.CharField()
    amount = serializers.CharField()
    amount_fen = serializers.IntegerField()


class TransferOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=TransferKind.choices)
    state = serializers.ChoiceField(choices=TransferState.choices)
    reject_code = serializers.ChoiceField(choices=RejectCode.choices, allow_null=True)
    payer = serializers.CharField(help_text="the first leg's debit: a wallet number or account")
    payee = serializers.CharField()
    amount = serializers.CharField()
    amount_fen = serializers.IntegerField()
    legs = LegOut(many=True)
    memo = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class PaymentIn(StrictSerializer):
    payer = serializers.RegexField(**WALLET_NUMBER, help_text="the paying wallet's number")
    payee = serializers.RegexField(**WALLET_NUMBER, help_text="the receiving wallet's number")
    amount = AmountField()
    memo = serializers.CharField(max_length=140, required=False, default="", allow_blank=True)


class BatchPaymentIn(PaymentIn):
    idempotency_key = serializers.CharField(max_length=200)


class BatchIn(StrictSerializer):
    transfers = BatchPaymentIn(many=True, min_length=1, max_length=1000)


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
    amount = serializers.SerializerMethodField()
    amount_fen = serializers.IntegerField(source="amount")
    state = serializers.ChoiceField(choices=IssuanceState.choices)
    maker = serializers.CharField(source="maker.username")
    checker = serializers.CharField(source="checker.username", allow_null=True)
    reason = serializers.CharField()
    transfer = serializers.IntegerField(source="transfer_id", allow_null=True)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)

    def get_amount(self, request) -> str:
        return format_fen(request.amount)


class OperatorSupplyOut(serializers.Serializer):
    operator = serializers.CharField()
    vault = serializers.CharField()
    wallets = serializers.CharField()
    circulation = serializers.CharField(help_text="vault + wallets")
    reserve = serializers.CharField(help_text="reserve not yet pledged for e-CNY")


class ClassSupplyOut(serializers.Serializer):
    wallet_class = serializers.IntegerField()
    wallets = serializers.CharField()


class MoneySupplyOut(serializers.Serializer):
    circulation = serializers.CharField()
    issued = serializers.CharField(help_text="the issuance account's liability, as positive")
    backing = serializers.CharField()
    fully_backed = serializers.BooleanField(help_text="circulation == issued == backing")
    by_operator = OperatorSupplyOut(many=True)
    by_class = ClassSupplyOut(many=True)


# ---------------------------------------------------------------- audit


class CheckpointOut(serializers.Serializer):
    height = serializers.IntegerField()
    size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="base64")
    created_at = serializers.DateTimeField()
    key_hash = serializers.CharField()
    note = serializers.CharField(help_text="the C2SP signed note, verbatim")


class SigningKeyOut(serializers.Serializer):
    key_hash = serializers.CharField()
    verifier_key = serializers.CharField()
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)


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
