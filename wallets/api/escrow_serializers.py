"""What the conditional-payment (escrow) API accepts (`*In`, strict) and answers (`*Out`)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from settlement.models import RejectCode
from wallets import services
from wallets.api.fields import AmountField, BlankAsNull, Instant, StrictSerializer, Yuan
from wallets.api.serializers import WALLET_NUMBER
from wallets.models import EscrowCondition, EscrowState


class EscrowIn(StrictSerializer):
    payer = serializers.RegexField(**WALLET_NUMBER, help_text="the paying wallet's number")
    payee = serializers.RegexField(**WALLET_NUMBER, help_text="the receiving wallet's number")
    amount = AmountField()
    condition = serializers.ChoiceField(
        choices=EscrowCondition.choices,
        help_text="PAYER_CONFIRMS: released when the payer confirms delivery; RELEASE_AT: at "
        "`release_at`; APPROVAL: when `approver` approves",
    )
    release_at = serializers.DateTimeField(
        required=False, help_text="RELEASE_AT only: when it is released, before the timeout"
    )
    approver = serializers.CharField(
        max_length=150,
        required=False,
        help_text="APPROVAL only: the username of the user who approves (an arbiter, or "
        "another holder's login), neither the payer nor the payee",
    )
    timeout = serializers.IntegerField(
        min_value=1,
        max_value=90 * 24 * 3600,
        required=False,
        help_text="seconds until it expires unreleased and the payer keeps the money "
        "(default EWALLET_ESCROW_TIMEOUT_SECONDS, 7 days)",
    )
    memo = serializers.CharField(max_length=140, required=False, default="", allow_blank=True)


class EscrowOut(serializers.Serializer):
    # An escrow from selectors.escrows_visible_to (its wallets and transfers selected).

    id = serializers.IntegerField()
    state = serializers.SerializerMethodField(
        help_text="HELD, then RELEASED, CANCELLED or EXPIRED; REFUSED if the ledger would not "
        "hold the amount (see `reject_code`)"
    )
    condition = serializers.ChoiceField(choices=EscrowCondition.choices)
    payer = serializers.CharField(source="payer_wallet.number")
    payee = serializers.CharField(source="payee_wallet.number")
    amount = Yuan()
    amount_fen = serializers.IntegerField(source="amount")
    memo = serializers.CharField()
    release_at = Instant(allow_null=True)
    approver = serializers.CharField(
        source="approver.username", allow_null=True, default=None, help_text="APPROVAL only"
    )
    transfer = serializers.IntegerField(
        source="transfer_id", help_text="the pending transfer holding the amount"
    )
    reject_code = BlankAsNull(
        source="transfer.reject_code",
        choices=RejectCode.choices,
        help_text="why the ledger refused to hold it",
    )
    timeout_at = Instant(source="transfer.timeout_at")
    release = serializers.IntegerField(
        source="release_id", allow_null=True, help_text="the POST queued to release it"
    )
    void = serializers.IntegerField(
        source="void_id", allow_null=True, help_text="the VOID queued when both cancelled"
    )
    payer_cancelled_at = Instant(allow_null=True, help_text="when the payer agreed to cancel")
    payee_cancelled_at = Instant(allow_null=True, help_text="when the payee agreed to cancel")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = Instant()

    @extend_schema_field(serializers.ChoiceField(choices=EscrowState.choices))
    def get_state(self, escrow) -> str:
        return getattr(escrow, "state", None) or services.escrow_state(escrow)


class EscrowQuery(serializers.Serializer):
    state = serializers.ChoiceField(choices=EscrowState.choices, required=False)
    condition = serializers.ChoiceField(choices=EscrowCondition.choices, required=False)
