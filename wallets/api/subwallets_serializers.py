"""What the sub-wallet API accepts (`*In`, strict) and answers (`*Out`): sub-wallets a
holder pushes to a merchant, and the payments the merchant pulls from them."""

from rest_framework import serializers

from settlement.models import RejectCode, TransferState
from wallets.api.fields import AmountField, BlankAsNull, Instant, StrictSerializer, Yuan
from wallets.api.serializers import WALLET_NUMBER
from wallets.models import SubWalletState


class SubWalletIn(StrictSerializer):
    wallet = serializers.RegexField(
        **WALLET_NUMBER, help_text="the parent wallet the cap is moved out of"
    )
    merchant = serializers.CharField(max_length=24, help_text="the merchant's code")
    cap = AmountField(help_text="what the merchant may pull at most, in yuan")
    expires_at = serializers.DateTimeField(
        help_text="when what is left goes back to the parent (at most "
        "EWALLET_SUB_WALLET_MAX_DAYS ahead)"
    )


class SubWalletOut(serializers.Serializer):
    # A sub-wallet from selectors.sub_wallets_visible_to (state and money annotated).

    code = serializers.CharField()
    state = serializers.ChoiceField(choices=SubWalletState.choices)
    parent = serializers.CharField(source="parent.number", help_text="the parent wallet")
    wallet = serializers.CharField(
        source="wallet.number", help_text="the sub-wallet's own wallet, of kind SUB"
    )
    merchant = serializers.CharField(source="merchant.code")
    merchant_name = serializers.CharField(source="merchant.name")
    cap = Yuan()
    cap_fen = serializers.IntegerField(source="cap")
    funding_state = serializers.ChoiceField(
        source="fund_transfer.state",
        choices=TransferState.choices,
        help_text="the transfer of the cap into it: REJECTED (funds, the parent's limits, a "
        "freeze) leaves it empty",
    )
    funding_reject_code = BlankAsNull(
        source="fund_transfer.reject_code", choices=RejectCode.choices
    )
    pulled = Yuan(help_text="the merchant's pulls not rejected")
    pulled_fen = serializers.IntegerField(source="pulled")
    remaining = Yuan(
        source="unspent",
        help_text="while ACTIVE, what the merchant may still pull; once ended, what is owed "
        "back to the parent",
    )
    remaining_fen = serializers.IntegerField(source="unspent")
    returned = Yuan(help_text="moved back to the parent, not rejected")
    returned_fen = serializers.IntegerField(source="returned")
    expires_at = Instant()
    created_at = Instant()
    revoked_at = Instant(allow_null=True)


class SubWalletPullIn(StrictSerializer):
    amount = AmountField()
    order_reference = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        allow_blank=True,
        help_text="the merchant's order (a ride, a delivery): one pull per reference",
    )
    memo = serializers.CharField(max_length=140, required=False, default="", allow_blank=True)


class SubWalletPullOut(serializers.Serializer):
    # A SubWalletPull of services.sub_wallet_pull.

    transfer = serializers.IntegerField(source="transfer.pk")
    state = serializers.ChoiceField(source="transfer.state", choices=TransferState.choices)
    reject_code = BlankAsNull(source="transfer.reject_code", choices=RejectCode.choices)
    sub_wallet = serializers.CharField(source="sub_wallet.code")
    merchant = serializers.CharField(source="payment.merchant.code")
    request = serializers.CharField(
        source="payment.request.code", help_text="the payment request made for this pull"
    )
    order_reference = serializers.CharField(source="payment.request.order_reference")
    amount = Yuan(source="payment.amount")
    amount_fen = serializers.IntegerField(source="payment.amount")
    remaining = Yuan(source="sub_wallet.unspent", help_text="left to pull after this one")
    remaining_fen = serializers.IntegerField(source="sub_wallet.unspent")
