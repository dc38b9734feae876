"""Merchant acquiring over /api/v1/: merchants and their staff logins, payment requests and
their QR codes, paying a scanned code, the payments a merchant received, and refunds.

As in wallets/api/views.py: each view finds through the scoped selectors (what the caller
may not see is a 404, the same as what does not exist), calls one service with the caller
as its actor, and renders with an output serializer. The services hold every rule.
"""

from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from settlement.models import Asset, TransferLeg, TransferState
from wallets import qr_image, selectors, services
from wallets.actors import request_actor
from wallets.api import acquiring_serializers as a
from wallets.api import present
from wallets.api import serializers as s
from wallets.api.fields import parse
from wallets.api.idempotency import idempotency_key, idempotent
from wallets.api.schema import (
    IDEMPOTENCY_KEY,
    LOCATION,
    PAGE_PARAMETERS,
    REPLAYED,
    page_of,
    problems,
)
from wallets.api.views import (
    WaitQuery,
    ledger_key,
    page,
    token_ttl,
    transfer_url,
    wait_for_decision,
)
from wallets.models import PaymentRequestKind

# ---------------------------------------------------------------- merchants


def merchant_response(merchant, status: int = 200) -> Response:
    location = reverse("api:merchant", kwargs={"code": merchant.code})
    return Response(a.MerchantOut(merchant).data, status=status, headers={"Location": location})


def visible_merchant(request, code: str):
    return get_object_or_404(selectors.merchants_visible_to(request_actor(request)), code=code)


class MerchantsView(APIView):
    @extend_schema(
        summary="Merchants the caller may see, newest first",
        description="Central-bank staff see every merchant, operator staff the merchants "
        "their operator acquires, a merchant's staff their own.",
        operation_id="merchants_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(a.MerchantOut), **problems(400)},
    )
    def get(self, request):
        merchants = selectors.merchants_visible_to(request_actor(request))
        return page(self, request, merchants, a.MerchantOut)

    @extend_schema(
        summary="Register a merchant at the caller's operator, after KYC",
        description="By operator staff, for their own operator: the merchant's KYC record "
        "(the business licence as its identity), a merchant wallet that payments settle "
        "into, its category (an MCC we know, 400 INVALID_INPUT otherwise) and region.",
        request=a.MerchantIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        responses={201: a.MerchantOut, **problems(400, 403, 409, 422)},
    )
    @idempotent
    def post(self, request):
        data = parse(a.MerchantIn, request.data)
        merchant = services.merchant_register(actor=request_actor(request), **data)
        return merchant_response(merchant, status=201)


class MerchantView(APIView):
    @extend_schema(summary="One merchant", responses={200: a.MerchantOut, **problems(404)})
    def get(self, request, code: str):
        return merchant_response(visible_merchant(request, code))


class MerchantStaffView(APIView):
    @extend_schema(
        summary="Enrol a login for the merchant's staff: a token shown once",
        description="By the staff of the merchant's operator. With the token the merchant's "
        "staff see their merchant's requests, payments and refunds, and make requests and "
        "refunds; nothing else. The secret is in this answer only, stored nowhere.",
        request=s.TokenIn,
        responses={201: s.TokenCreatedOut, **problems(400, 403, 404, 409)},
    )
    def post(self, request, code: str):
        who = request_actor(request)
        merchant = visible_merchant(request, code)
        data = parse(s.TokenIn, request.data)
        secret, token = services.merchant_staff_enrol(
            actor=who, merchant=merchant, name=data["name"], ttl=token_ttl(data)
        )
        return Response(s.TokenCreatedOut(token, context={"secret": secret}).data, status=201)


class MerchantStatusView(APIView):
    @extend_schema(
        summary="Suspend or reinstate a merchant",
        description="By the staff of the merchant's operator. A suspended merchant's codes "
        "are refused (409 MERCHANT_SUSPENDED) and it makes no new requests; refunds of what "
        "it was paid still go out.",
        request=a.MerchantStatusIn,
        responses={200: a.MerchantOut, **problems(400, 403, 404)},
    )
    def post(self, request, code: str):
        merchant = visible_merchant(request, code)
        data = parse(a.MerchantStatusIn, request.data)
        merchant = services.merchant_set_status(
            actor=request_actor(request), merchant=merchant, status=data["status"]
        )
        return merchant_response(merchant)


# ---------------------------------------------------------------- payment requests


def request_response(payment_request, status: int = 200) -> Response:
    location = reverse("api:payment-request", kwargs={"code": payment_request.code})
    body = a.PaymentRequestOut(payment_request).data
    return Response(body, status=status, headers={"Location": location})


def visible_request(request, code: str):
    requests = selectors.payment_requests_with_state(request_actor(request))
    return get_object_or_404(requests, code=code)


class PaymentRequestsView(APIView):
    @extend_schema(
        summary="Payment requests and collection codes the caller may see, newest first",
        operation_id="payment_requests_list",
        parameters=[a.PaymentRequestQuery, *PAGE_PARAMETERS],
        responses={200: page_of(a.PaymentRequestOut), **problems(400)},
    )
    def get(self, request):
        query = parse(a.PaymentRequestQuery, request.query_params)
        requests = selectors.payment_requests_with_state(request_actor(request)).filter(**query)
        return page(self, request, requests, a.PaymentRequestOut)

    @extend_schema(
        summary="Ask for a payment: a dynamic request, or a static collection code",
        description="By a merchant's staff, for their own merchant (anyone else 403). A "
        "DYNAMIC request is for one amount and order, paid once before it expires; one "
        "order reference names one request (409 CONFLICT). A STATIC code takes the amount "
        "the payer enters, any number of times until cancelled. A suspended merchant asks "
        "for nothing (409 MERCHANT_SUSPENDED). The answer carries the signed `payload` its "
        "QR code shows, and links to the code as PNG and SVG.",
        request=a.PaymentRequestIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        responses={201: a.PaymentRequestOut, **problems(400, 403, 409, 422)},
    )
    @idempotent
    def post(self, request):
        who = request_actor(request)
        data = parse(a.PaymentRequestIn, request.data)
        if data["kind"] == PaymentRequestKind.STATIC:
            made = services.collection_code_create(actor=who, memo=data["memo"])
        else:
            expires_in = data.get("expires_in")
            made = services.payment_request_create(
                actor=who,
                amount=data["amount"],
                order_reference=data["order_reference"],
                memo=data["memo"],
                expires_in=None if expires_in is None else timedelta(seconds=expires_in),
            )
        return request_response(made, status=201)


class PaymentRequestView(APIView):
    @extend_schema(
        summary="One payment request, its state and its payload",
        responses={200: a.PaymentRequestOut, **problems(404)},
    )
    def get(self, request, code: str):
        return request_response(visible_request(request, code))


class PaymentRequestCancelView(APIView):
    @extend_schema(
        summary="Cancel a payment request or collection code",
        description="By the merchant's staff. Cancelling twice is harmless; a request paid, "
        "or being paid, stays as it is (409 REQUEST_ALREADY_PAID).",
        request=None,
        responses={200: a.PaymentRequestOut, **problems(403, 404, 409)},
    )
    def post(self, request, code: str):
        payment_request = visible_request(request, code)
        cancelled = services.payment_request_cancel(
            actor=request_actor(request), request=payment_request
        )
        return request_response(cancelled)


class PngRenderer(BaseRenderer):
    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class SvgRenderer(PngRenderer):
    media_type = "image/svg+xml"
    format = "svg"


class _QrImageView(APIView):
    """A visible request's QR code, drawn from its payload (wallets/qr_image.py)."""

    kind = ""

    def get(self, request, code: str):
        payment_request = visible_request(request, code)
        scale = parse(a.QrImageQuery, request.query_params)["scale"]
        image = qr_image.render(services.request_payload(payment_request), self.kind, scale)
        return HttpResponse(image, content_type=self.renderer_classes[0].media_type)

    def finalize_response(self, request, response, *args, **kwargs):
        # Only a problem is a DRF Response here: JSON, whatever image was asked for.
        if isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def _qr_schema(media_type: str, what: str):
    return extend_schema(
        summary=f"The request's QR code as {what}",
        description="The code shows the request's signed `payload`, error correction level M, "
        "with the standard four-module quiet zone.",
        operation_id=f"payment_request_qr_{what.lower()}",
        parameters=[a.QrImageQuery],
        responses={
            (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description=what),
            **problems(400, 404, 406),
        },
    )


class PaymentRequestPngView(_QrImageView):
    kind = "png"
    renderer_classes = [PngRenderer]

    @_qr_schema("image/png", "PNG")
    def get(self, request, code: str):
        return super().get(request, code)


class PaymentRequestSvgView(_QrImageView):
    kind = "svg"
    renderer_classes = [SvgRenderer]

    @_qr_schema("image/svg+xml", "SVG")
    def get(self, request, code: str):
        return super().get(request, code)


# ---------------------------------------------------------------- paying a code


class QrPaymentsView(APIView):
    @extend_schema(
        summary="Pay a scanned payment code from a wallet",
        description="By the paying wallet's holder (their device token) or its operator's "
        "staff; any other wallet is 404. A dynamic request's amount is its own; a static "
        "code's is `amount`. Refused with nothing moved: 400 REQUEST_FORGED (not a code we "
        "issued), 400 REQUEST_ALTERED (one of ours, changed), 409 REQUEST_EXPIRED, "
        "REQUEST_CANCELLED, REQUEST_ALREADY_PAID, MERCHANT_SUSPENDED, 400 INVALID_AMOUNT. "
        "Otherwise as `POST /transfers`: 202 with the queued transfer, or 201 with the "
        "decision within `?wait`; the ledger's refusal (funds, limits, a freeze) is a "
        "REJECTED transfer, and leaves the request payable again.",
        request=a.QrPayIn,
        parameters=[IDEMPOTENCY_KEY, WaitQuery, REPLAYED, LOCATION],
        responses={
            202: OpenApiResponse(a.QrPaymentOut, description="queued"),
            201: OpenApiResponse(a.QrPaymentOut, description="decided within ?wait"),
            **problems(400, 404, 409, 422),
        },
    )
    @idempotent
    def post(self, request):
        wait_ms = parse(WaitQuery, request.query_params)["wait"] if request.query_params else 0
        data = parse(a.QrPayIn, request.data)
        paid = services.payment_request_pay(
            actor=request_actor(request),
            payload=data["payload"],
            wallet=data["wallet"],
            amount=data.get("amount"),
            idempotency_key=ledger_key(request, idempotency_key(request)),
        )
        transfer = wait_for_decision(paid.transfer, wait_ms)
        # The one leg is known: answered without reading it back (wallets/api/present.py);
        # a payment a voucher helped pay has more, read back (as is a replay's).
        payee = paid.payment.merchant.settlement_wallet
        legs = (
            present.leg_views(
                TransferLeg.objects.filter(transfer=paid.transfer)
                .select_related("debit", "credit")
                .order_by("seq")
            )
            if paid.voucher_fen or not paid.created
            else [present.LegView(Asset.ECNY, paid.payer.number, payee.number, paid.payment.amount)]
        )
        body = present.qr_payment(transfer, legs, paid.payment)
        status = 202 if transfer.state == TransferState.RECEIVED else 201
        return Response(body, status=status, headers={"Location": transfer_url(transfer)})


# ---------------------------------------------------------------- payments received, refunds


class MerchantPaymentsView(APIView):
    @extend_schema(
        summary="Payments merchants received through their requests, newest first",
        description="Each with its request and order, the transfer's state, what was "
        "refunded and what is left to refund. A merchant's staff see their merchant's, "
        "operator staff their merchants', the central bank all.",
        operation_id="merchant_payments_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(a.MerchantPaymentOut), **problems(400)},
    )
    def get(self, request):
        payments = selectors.merchant_payments_with_refunds(request_actor(request))
        return page(self, request, payments, a.MerchantPaymentOut)


def refund_response(refund, status: int = 200) -> Response:
    location = reverse("api:refund", kwargs={"refund_id": refund.pk})
    return Response(a.RefundOut(refund).data, status=status, headers={"Location": location})


class TransferRefundsView(APIView):
    @extend_schema(
        summary="Refund all or part of a payment to the caller's merchant",
        description="By the staff of the merchant that was paid (its operator and the central "
        "bank see it but 403; anyone else 404), within EWALLET_REFUND_WINDOW_DAYS of the "
        "payment (409 REFUND_WINDOW_CLOSED): a REFUND transfer from the merchant's wallet "
        "back to the paying wallet. The refunds of a payment that are not rejected never add "
        "up to more than it (409 REFUND_EXCEEDS_PAYMENT, with `refundable_fen` left); a "
        "payment not settled is 409 NOT_REFUNDABLE. `?wait` waits for the refund to settle.",
        request=a.RefundIn,
        parameters=[IDEMPOTENCY_KEY, WaitQuery, REPLAYED, LOCATION],
        responses={201: a.RefundOut, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, transfer_id: int):
        who = request_actor(request)
        wait_ms = parse(WaitQuery, request.query_params)["wait"] if request.query_params else 0
        original = get_object_or_404(selectors.transfers_visible_to(who), pk=transfer_id)
        data = parse(a.RefundIn, request.data)
        refund = services.refund_create(
            actor=who,
            original=original,
            amount=data["amount"],
            reason=data["reason"],
            idempotency_key=ledger_key(request, idempotency_key(request)),
        )
        wait_for_decision(refund.transfer, wait_ms)
        return refund_response(refund, status=201)


class RefundsView(APIView):
    @extend_schema(
        summary="Refunds the caller may see, newest first",
        operation_id="refunds_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(a.RefundOut), **problems(400)},
    )
    def get(self, request):
        refunds = selectors.refunds_visible_to(request_actor(request))
        return page(self, request, refunds, a.RefundOut)


class RefundView(APIView):
    @extend_schema(summary="One refund", responses={200: a.RefundOut, **problems(404)})
    def get(self, request, refund_id: int):
        refunds = selectors.refunds_visible_to(request_actor(request))
        return refund_response(get_object_or_404(refunds, pk=refund_id))
