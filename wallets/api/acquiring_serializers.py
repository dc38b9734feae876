"""What the merchant-acquiring API accepts (`*In`, strict) and answers (`*Out`): merchants,
payment requests and their QR codes, paying one, the payments a merchant received, refunds."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from settlement.models import RejectCode, TransferState
from wallets import qr, qr_image, services
from wallets.api.fields import AmountField, BlankAsNull, Instant, StrictSerializer, Yuan
from wallets.api.serializers import WALLET_NUMBER, TransferOut
from wallets.catalogue import MERCHANT_CATEGORIES
from wallets.models import MerchantStatus, PaymentRequestKind, RequestState

# ---------------------------------------------------------------- merchants


class MerchantIn(StrictSerializer):
    name = serializers.CharField(max_length=120)
    mcc = serializers.RegexField(
        r"^[0-9]{4}$", help_text="ISO 18245 merchant category code, e.g. 5411 (groceries)"
    )
    region = serializers.RegexField(
        r"^[0-9]{6}$", help_text="GB/T 2260 administrative division code, e.g. 440303 (Luohu)"
    )
    licence_number = serializers.RegexField(
        r"^[0-9A-Z]{15,18}$",
        help_text="the business licence: an 18-character unified social credit code (or an "
        "older 15-digit registration number)",
    )
    bank_account = serializers.RegexField(r"^[0-9]{8,24}$", required=False, default="")
    phone = serializers.RegexField(r"^\+?[0-9]{5,19}$", required=False, default="")
    wallet_class = serializers.IntegerField(
        min_value=1, max_value=4, required=False, help_text="default: 1 (KYC in person)"
    )


class MerchantOut(serializers.Serializer):
    # A merchant (operator and settlement wallet selected).

    code = serializers.CharField()
    name = serializers.CharField()
    mcc = serializers.CharField()
    category = serializers.SerializerMethodField(help_text="the MCC's name")
    region = serializers.CharField()
    status = serializers.ChoiceField(choices=MerchantStatus.choices)
    operator = serializers.CharField(source="operator.code", help_text="its acquiring operator")
    wallet = serializers.CharField(
        source="settlement_wallet.number", help_text="the merchant wallet payments settle into"
    )
    created_at = Instant()

    def get_category(self, merchant) -> str:
        return MERCHANT_CATEGORIES.get(merchant.mcc, "")


class MerchantStatusIn(StrictSerializer):
    status = serializers.ChoiceField(
        choices=MerchantStatus.choices,
        help_text="SUSPENDED: its codes are refused and it makes no new requests; refunds "
        "still go out. ACTIVE: reinstated.",
    )


# ---------------------------------------------------------------- payment requests


class PaymentRequestIn(StrictSerializer):
    kind = serializers.ChoiceField(choices=PaymentRequestKind.choices, default="DYNAMIC")
    amount = AmountField(required=False, help_text="a dynamic request's amount; none on STATIC")
    order_reference = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        allow_blank=True,
        help_text="the merchant's order: one dynamic request per reference",
    )
    memo = serializers.CharField(max_length=140, required=False, default="", allow_blank=True)
    expires_in = serializers.IntegerField(
        min_value=1,
        max_value=365 * 24 * 3600,
        required=False,
        help_text="seconds a dynamic request stays payable (default "
        "EWALLET_REQUEST_TTL_SECONDS, at most EWALLET_REQUEST_MAX_TTL_SECONDS)",
    )

    def validate(self, data):
        # The shape of each kind; what is allowed of it is the service's to say.
        if data["kind"] == PaymentRequestKind.DYNAMIC and "amount" not in data:
            raise serializers.ValidationError({"amount": ["a dynamic request needs an amount"]})
        if data["kind"] == PaymentRequestKind.STATIC:
            given = [f for f in ("amount", "order_reference", "expires_in") if data.get(f)]
            if given:
                raise serializers.ValidationError(
                    {f: ["a static code has none: the payer enters the amount"] for f in given}
                )
        return data


class PaymentRequestOut(serializers.Serializer):
    # A payment request (merchant selected); `state` annotated by
    # selectors.payment_requests_with_state, or read by services.request_state.

    code = serializers.CharField()
    kind = serializers.ChoiceField(choices=PaymentRequestKind.choices)
    merchant = serializers.CharField(source="merchant.code")
    amount = Yuan(allow_null=True)
    amount_fen = serializers.IntegerField(source="amount", allow_null=True)
    order_reference = serializers.CharField()
    memo = serializers.CharField()
    state = serializers.SerializerMethodField()
    payload = serializers.SerializerMethodField(
        help_text="the signed text the QR code shows; a wallet app sends it back to pay"
    )
    qr_png = serializers.SerializerMethodField(help_text="the QR code as a PNG image")
    qr_svg = serializers.SerializerMethodField(help_text="the QR code as an SVG image")
    expires_at = Instant(allow_null=True)
    created_at = Instant()
    cancelled_at = Instant(allow_null=True)

    def get_state(self, request) -> RequestState:
        return getattr(request, "state", None) or services.request_state(request)

    def get_payload(self, request) -> str:
        return services.request_payload(request)

    def get_qr_png(self, request) -> str:
        return reverse("api:payment-request-png", kwargs={"code": request.code})

    def get_qr_svg(self, request) -> str:
        return reverse("api:payment-request-svg", kwargs={"code": request.code})


class PaymentRequestQuery(serializers.Serializer):
    state = serializers.ChoiceField(choices=RequestState.choices, required=False)
    kind = serializers.ChoiceField(choices=PaymentRequestKind.choices, required=False)


class QrImageQuery(serializers.Serializer):
    scale = serializers.IntegerField(
        min_value=1,
        max_value=qr_image.MAX_SCALE,
        required=False,
        default=qr_image.DEFAULT_SCALE,
        help_text="pixels (PNG) or units (SVG) per module of the code",
    )


# ---------------------------------------------------------------- paying


class QrPayIn(StrictSerializer):
    payload = serializers.CharField(
        max_length=qr.MAX_PAYLOAD, help_text="the scanned code's text, ECNY1.…"
    )
    wallet = serializers.RegexField(**WALLET_NUMBER, help_text="the paying wallet's number")
    amount = AmountField(
        required=False, help_text="a static code's amount, entered by the payer; none otherwise"
    )


class QrPaymentOut(TransferOut):
    # A merchant payment's transfer (legs prefetched) and what it paid
    # (context["payment"]: the MerchantPayment).

    request = serializers.SerializerMethodField(help_text="the payment request's code")
    merchant = serializers.SerializerMethodField(help_text="the merchant's code")

    def get_request(self, transfer) -> str:
        return self.context["payment"].request.code

    def get_merchant(self, transfer) -> str:
        return self.context["payment"].merchant.code


# ---------------------------------------------------------------- payments received, refunds


class MerchantPaymentOut(serializers.Serializer):
    # A MerchantPayment from selectors.merchant_payments_with_refunds.

    transfer = serializers.IntegerField(source="transfer_id")
    merchant = serializers.CharField(source="merchant.code")
    request = serializers.CharField(source="request.code")
    kind = serializers.ChoiceField(source="request.kind", choices=PaymentRequestKind.choices)
    order_reference = serializers.CharField(source="request.order_reference")
    payer = serializers.CharField(source="payer_wallet.number", help_text="the paying wallet")
    amount = Yuan()
    amount_fen = serializers.IntegerField(source="amount")
    state = serializers.ChoiceField(source="transfer.state", choices=TransferState.choices)
    reject_code = BlankAsNull(source="transfer.reject_code", choices=RejectCode.choices)
    refunded = Yuan(help_text="refunds not rejected (queued or settled)")
    refunded_fen = serializers.IntegerField(source="refunded")
    refundable = Yuan(help_text="left to refund; none of a payment not settled")
    refundable_fen = serializers.IntegerField(source="refundable")
    refundable_until = serializers.SerializerMethodField(
        help_text="the end of the refund window (EWALLET_REFUND_WINDOW_DAYS after settling)"
    )
    created_at = Instant()
    decided_at = Instant(source="transfer.decided_at", allow_null=True)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_refundable_until(self, payment) -> str | None:
        deadline = services.refund_deadline(payment.transfer)
        return None if deadline is None else Instant().to_representation(deadline)


class RefundIn(StrictSerializer):
    amount = AmountField(help_text="all or part of what is left to refund")
    reason = serializers.CharField(max_length=240, required=False, default="", allow_blank=True)


class RefundOut(serializers.Serializer):
    # A refund (merchant and transfer selected).

    id = serializers.IntegerField()
    merchant = serializers.CharField(source="merchant.code")
    original = serializers.IntegerField(source="original_id", help_text="the payment refunded")
    transfer = serializers.IntegerField(
        source="transfer_id", help_text="the REFUND transfer back to the paying wallet"
    )
    state = serializers.ChoiceField(source="transfer.state", choices=TransferState.choices)
    reject_code = BlankAsNull(source="transfer.reject_code", choices=RejectCode.choices)
    amount = Yuan()
    amount_fen = serializers.IntegerField(source="amount")
    reason = serializers.CharField()
    created_at = Instant()
    decided_at = Instant(source="transfer.decided_at", allow_null=True)
