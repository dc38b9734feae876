"""Webhooks over /api/v1/: a merchant's endpoints (registered, rotated, switched off), the
deliveries of its events to them, each with its attempt log, and redelivering one.

As in wallets/api/acquiring.py: each view finds through the scoped selectors (what the
caller may not see is a 404, the same as what does not exist), calls one service with the
caller as its actor (wallets/services/webhooks.py holds every rule: only the merchant's
own staff act, its operator and the central bank only see), and renders with an output
serializer. A secret is in the answer of the request that made it, never in a GET.
"""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ewallet.errors import ErrorCode
from wallets import selectors, services
from wallets.actors import request_actor
from wallets.api import webhooks_serializers as w
from wallets.api.fields import parse
from wallets.api.idempotency import idempotent
from wallets.api.schema import (
    IDEMPOTENCY_KEY,
    LOCATION,
    PAGE_PARAMETERS,
    REPLAYED,
    page_of,
    problems,
)
from wallets.api.views import page

# ---------------------------------------------------------------- examples

_ENDPOINT = {
    "id": 7,
    "merchant": "m_5f2c9a01d3e4b678",
    "url": "https://shop.example.com/ecny/events",
    "active": True,
    "previous_secret_until": None,
    "created_at": "2026-11-25T08:00:00Z",
}
REGISTER_EXAMPLE = OpenApiExample(
    "Register the shop's receiver",
    value={"url": "https://shop.example.com/ecny/events"},
    request_only=True,
)
REGISTERED_EXAMPLE = OpenApiExample(
    "Registered: the secret, shown this once",
    value={**_ENDPOINT, "secret": "whsec_Jw4pX0d7m2YtQe9Lr5vKc3sN8aHfUbGz1oPiDlWxEy6"},
    response_only=True,
    status_codes=["201"],
)
ROTATED_EXAMPLE = OpenApiExample(
    "Rotated: the new secret; the previous one signs beside it for a day",
    value={
        **_ENDPOINT,
        "previous_secret_until": "2026-11-26T09:30:00Z",
        "secret": "whsec_Q1bN7rTt2mVx0Ls9Kd4Hc8Yp3Zf6Wa5Ue1Ig7Oj2Rn",
    },
    response_only=True,
    status_codes=["200"],
)
TARGET_REFUSED_EXAMPLE = OpenApiExample(
    "A cloud metadata address",
    value={
        "type": "https://ecny.example/problems/webhook-target-refused",
        "title": "Bad Request",
        "status": 400,
        "detail": "169.254.169.254 resolves to 169.254.169.254, never a webhook target",
        "code": ErrorCode.WEBHOOK_TARGET_REFUSED,
        "errors": [
            {
                "pointer": "/url",
                "code": ErrorCode.WEBHOOK_TARGET_REFUSED,
                "detail": "169.254.169.254 resolves to 169.254.169.254, never a webhook target",
            }
        ],
    },
    response_only=True,
    status_codes=["400"],
)
LIMIT_EXAMPLE = OpenApiExample(
    "A sixth live endpoint",
    value={
        "type": "https://ecny.example/problems/webhook-limit",
        "title": "Conflict",
        "status": 409,
        "detail": "a merchant has at most 5 live webhooks; switch one off",
        "code": ErrorCode.WEBHOOK_LIMIT,
    },
    response_only=True,
    status_codes=["409"],
)
DELIVERY_EXAMPLE = OpenApiExample(
    "Delivered at the second attempt",
    value={
        "id": 41,
        "endpoint": 7,
        "url": "https://shop.example.com/ecny/events",
        "merchant": "m_5f2c9a01d3e4b678",
        "state": "DELIVERED",
        "attempts": 2,
        "next_attempt_at": None,
        "delivered_at": "2026-11-25T08:00:11Z",
        "created_at": "2026-11-25T08:00:00Z",
        "event": {
            "id": 40,
            "type": "payment.settled",
            "created_at": "2026-11-25T08:00:00Z",
            "data": {
                "transfer": 1203,
                "merchant": "m_5f2c9a01d3e4b678",
                "payment_request": "pr_0a1b2c3d4e5f60718293",
                "order_reference": "A-1001",
                "amount_fen": 3680,
                "state": "SETTLED",
                "reject_code": "",
                "decided_at": "2026-11-25T08:00:00+00:00",
            },
        },
        "attempt_log": [
            {
                "at": "2026-11-25T08:00:00Z",
                "status_code": 503,
                "error": "HTTP 503",
                "duration_ms": 84,
            },
            {"at": "2026-11-25T08:00:11Z", "status_code": 200, "error": "", "duration_ms": 37},
        ],
    },
    response_only=True,
    status_codes=["200"],
)
REDELIVERED_EXAMPLE = OpenApiExample(
    "Sent again: a new delivery of the same event, queued",
    value={
        **DELIVERY_EXAMPLE.value,
        "id": 57,
        "state": "PENDING",
        "attempts": 0,
        "next_attempt_at": "2026-11-25T09:12:03Z",
        "delivered_at": None,
        "created_at": "2026-11-25T09:12:03Z",
        "attempt_log": [],
    },
    response_only=True,
    status_codes=["202"],
)

# ---------------------------------------------------------------- endpoints


def visible_endpoint(request, endpoint_id: int):
    endpoints = selectors.webhooks_visible_to(request_actor(request))
    return get_object_or_404(endpoints, pk=endpoint_id)


def endpoint_response(endpoint, status: int = 200, *, with_secret: bool = False) -> Response:
    location = reverse("api:webhook", kwargs={"endpoint_id": endpoint.pk})
    out = w.WebhookSecretOut if with_secret else w.WebhookOut
    return Response(out(endpoint).data, status=status, headers={"Location": location})


class WebhooksView(APIView):
    @extend_schema(
        summary="Webhook endpoints the caller may see, newest first",
        description="A merchant's staff see their merchant's, operator staff those of the "
        "merchants their operator acquires, the central bank all; switched-off ones too. "
        "Never a secret.",
        operation_id="webhooks_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(w.WebhookOut), **problems(400)},
    )
    def get(self, request):
        endpoints = selectors.webhooks_visible_to(request_actor(request))
        return page(self, request, endpoints, w.WebhookOut)

    @extend_schema(
        summary="Register a URL that receives the caller's merchant's events",
        description="By a merchant's staff, for their own merchant (anyone else 403). From "
        "now on each payment and refund of the merchant that settlement decides is POSTed "
        "to the URL, signed with the endpoint's `secret`, which this answer shows and no "
        "GET does. The URL must be http(s) and resolve to no link-local, multicast or "
        "reserved address (400 WEBHOOK_TARGET_REFUSED); a merchant has at most 5 live "
        "endpoints (409 WEBHOOK_LIMIT).",
        request=w.WebhookIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        responses={201: w.WebhookSecretOut, **problems(400, 403, 409, 422)},
        examples=[REGISTER_EXAMPLE, REGISTERED_EXAMPLE, TARGET_REFUSED_EXAMPLE, LIMIT_EXAMPLE],
    )
    @idempotent
    def post(self, request):
        data = parse(w.WebhookIn, request.data)
        endpoint = services.webhook_register(actor=request_actor(request), url=data["url"])
        return endpoint_response(endpoint, status=201, with_secret=True)


class WebhookView(APIView):
    @extend_schema(
        summary="One webhook endpoint (never its secret)",
        responses={200: w.WebhookOut, **problems(404)},
    )
    def get(self, request, endpoint_id: int):
        return endpoint_response(visible_endpoint(request, endpoint_id))

    @extend_schema(
        summary="Switch a webhook endpoint off",
        description="By the merchant's staff (its operator and the central bank see it but "
        "403). It is sent nothing more, and what was pending for it is given up (FAILED); "
        "the endpoint and its deliveries' log stay, so the answer is the endpoint, "
        "`active: false`. Switching off twice is harmless.",
        responses={200: w.WebhookOut, **problems(403, 404)},
    )
    def delete(self, request, endpoint_id: int):
        endpoint = visible_endpoint(request, endpoint_id)
        endpoint = services.webhook_disable(actor=request_actor(request), endpoint=endpoint)
        return endpoint_response(endpoint)


class WebhookRotateView(APIView):
    @extend_schema(
        summary="Rotate a webhook endpoint's secret: the new one shown",
        description="By the merchant's staff (its operator and the central bank 403). "
        "Deliveries are signed with the new secret and, until `previous_secret_until` "
        "(EWALLET_WEBHOOK_ROTATION_GRACE_SECONDS), with the previous one beside it, so the "
        "receiver can switch without a gap. A switched-off endpoint is not rotated (409 "
        "INVALID_STATE). With an Idempotency-Key, as a retried rotation would end the "
        "grace of the secret the receiver still uses.",
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={200: w.WebhookSecretOut, **problems(400, 403, 404, 409, 422)},
        examples=[ROTATED_EXAMPLE],
    )
    @idempotent
    def post(self, request, endpoint_id: int):
        endpoint = visible_endpoint(request, endpoint_id)
        endpoint = services.webhook_rotate_secret(actor=request_actor(request), endpoint=endpoint)
        return endpoint_response(endpoint, with_secret=True)


# ---------------------------------------------------------------- deliveries


# One page type for both lists (two of the same name would clash in the schema).
DELIVERY_PAGE = page_of(w.WebhookDeliveryOut)


def delivery_detail(request, delivery_id: int):
    deliveries = selectors.webhook_deliveries_visible_to(request_actor(request))
    return get_object_or_404(deliveries.prefetch_related("attempt_log"), pk=delivery_id)


def delivery_response(delivery, status: int = 200) -> Response:
    location = reverse("api:webhook-delivery", kwargs={"delivery_id": delivery.pk})
    body = w.WebhookDeliveryDetailOut(delivery).data
    return Response(body, status=status, headers={"Location": location})


class WebhookEndpointDeliveriesView(APIView):
    @extend_schema(
        summary="One endpoint's deliveries, newest first",
        description="Each with its event; `GET /webhook-deliveries/{id}` adds its attempt log.",
        operation_id="webhook_endpoint_deliveries_list",
        parameters=[w.WebhookDeliveryQuery, *PAGE_PARAMETERS],
        responses={200: DELIVERY_PAGE, **problems(400, 404)},
    )
    def get(self, request, endpoint_id: int):
        endpoint = visible_endpoint(request, endpoint_id)
        query = parse(w.WebhookDeliveryQuery, request.query_params)
        deliveries = selectors.webhook_deliveries_visible_to(request_actor(request))
        return page(
            self, request, deliveries.filter(endpoint=endpoint, **query), w.WebhookDeliveryOut
        )


class WebhookDeliveriesView(APIView):
    @extend_schema(
        summary="Deliveries of webhook events the caller may see, newest first",
        description="Each with its event. A merchant's staff see their merchant's, operator "
        "staff those of their operator's merchants, the central bank all.",
        operation_id="webhook_deliveries_list",
        parameters=[w.WebhookDeliveriesQuery, *PAGE_PARAMETERS],
        responses={200: DELIVERY_PAGE, **problems(400)},
    )
    def get(self, request):
        query = parse(w.WebhookDeliveriesQuery, request.query_params)
        deliveries = selectors.webhook_deliveries_visible_to(request_actor(request))
        return page(self, request, deliveries.filter(**query), w.WebhookDeliveryOut)


class WebhookDeliveryView(APIView):
    @extend_schema(
        summary="One delivery, its event and its attempt log",
        responses={200: w.WebhookDeliveryDetailOut, **problems(404)},
        examples=[DELIVERY_EXAMPLE],
    )
    def get(self, request, delivery_id: int):
        return delivery_response(delivery_detail(request, delivery_id))


class WebhookRedeliverView(APIView):
    @extend_schema(
        summary="Send a delivery's event again",
        description="By the merchant's staff (its operator and the central bank 403), to a "
        "live endpoint (a switched-off one: 409 INVALID_STATE). A delivered or given-up "
        "delivery is sent again as a new delivery, which this answers with and its "
        "`Location` names (the old one's log stays as it was); one still pending is tried "
        "now. Either way a worker makes the attempt once this is committed.",
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        responses={
            202: OpenApiResponse(w.WebhookDeliveryDetailOut, description="queued"),
            **problems(400, 403, 404, 409, 422),
        },
        examples=[REDELIVERED_EXAMPLE],
    )
    @idempotent
    def post(self, request, delivery_id: int):
        who = request_actor(request)
        delivery = delivery_detail(request, delivery_id)
        queued = services.webhook_redeliver(actor=who, delivery=delivery)
        return delivery_response(delivery_detail(request, queued.pk), status=202)
