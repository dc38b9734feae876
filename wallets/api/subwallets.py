"""Sub-wallets over /api/v1/: a holder pushes one to a merchant or app with a cap and an
expiry, the merchant pulls payments from it, the holder revokes it.

As in wallets/api/acquiring.py: each view finds through the scoped selectors (what the
caller may not see is a 404, the same as what does not exist), calls one service with the
caller as its actor, and renders with an output serializer. The services hold every rule.
"""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ewallet.errors import ErrorCode
from settlement.models import TransferState
from wallets import selectors, services
from wallets.actors import request_actor
from wallets.api import subwallets_serializers as sw
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
from wallets.api.views import WaitQuery, ledger_key, page, transfer_url, wait_for_decision

# ---------------------------------------------------------------- examples

_SUB_WALLET = {
    "code": "sw_3f9a1c0e5b7d2a4c6e8f",
    "state": "ACTIVE",
    "parent": "0142518301920344",
    "wallet": "0177004123456789",
    "merchant": "m_5f2c9a01d3e4b678",
    "merchant_name": "Shenzhen Rides",
    "cap": "200.00",
    "cap_fen": 20000,
    "funding_state": "SETTLED",
    "funding_reject_code": None,
    "pulled": "36.80",
    "pulled_fen": 3680,
    "remaining": "163.20",
    "remaining_fen": 16320,
    "returned": "0.00",
    "returned_fen": 0,
    "expires_at": "2026-12-31T16:00:00Z",
    "created_at": "2026-12-01T08:00:00Z",
    "revoked_at": None,
}
PUSH_EXAMPLE = OpenApiExample(
    "200.00 to a ride-hailing app until the end of the year",
    value={
        "wallet": "0142518301920344",
        "merchant": "m_5f2c9a01d3e4b678",
        "cap": "200.00",
        "expires_at": "2026-12-31T16:00:00Z",
    },
    request_only=True,
)
PUSHED_EXAMPLE = OpenApiExample(
    "Pushed, its funding settled",
    value={
        **_SUB_WALLET,
        "pulled": "0.00",
        "pulled_fen": 0,
        "remaining": "200.00",
        "remaining_fen": 20000,
    },
    response_only=True,
    status_codes=["201"],
)
ONE_EXAMPLE = OpenApiExample(
    "After one fare", value=_SUB_WALLET, response_only=True, status_codes=["200"]
)
REVOKED_EXAMPLE = OpenApiExample(
    "Revoked: what was left is on its way back",
    value={
        **_SUB_WALLET,
        "state": "REVOKED",
        "remaining": "0.00",
        "remaining_fen": 0,
        "returned": "163.20",
        "returned_fen": 16320,
        "revoked_at": "2026-12-02T09:30:00Z",
    },
    response_only=True,
    status_codes=["200"],
)
PULL_EXAMPLE = OpenApiExample(
    "A fare of 36.80",
    value={"amount": "36.80", "order_reference": "ride-20261201-0042"},
    request_only=True,
)
PULLED_EXAMPLE = OpenApiExample(
    "Queued",
    value={
        "transfer": 90211,
        "state": "RECEIVED",
        "reject_code": None,
        "sub_wallet": "sw_3f9a1c0e5b7d2a4c6e8f",
        "merchant": "m_5f2c9a01d3e4b678",
        "request": "pr_0c1d2e3f4a5b6c7d8e9f",
        "order_reference": "ride-20261201-0042",
        "amount": "36.80",
        "amount_fen": 3680,
        "remaining": "163.20",
        "remaining_fen": 16320,
    },
    response_only=True,
    status_codes=["202"],
)
EXHAUSTED_EXAMPLE = OpenApiExample(
    "One fen more than is left",
    value={
        "type": "https://ecny.example/problems/sub-wallet-exhausted",
        "title": "Conflict",
        "status": 409,
        "detail": "0 fen is left in sub-wallet sw_3f9a1c0e5b7d2a4c6e8f",
        "code": ErrorCode.SUB_WALLET_EXHAUSTED,
        "remaining_fen": 0,
    },
    response_only=True,
    status_codes=["409"],
)


# ---------------------------------------------------------------- sub-wallets


def sub_wallet_response(sub_wallet, status: int = 200) -> Response:
    location = reverse("api:sub-wallet", kwargs={"code": sub_wallet.code})
    body = sw.SubWalletOut(sub_wallet).data
    return Response(body, status=status, headers={"Location": location})


def visible_sub_wallet(request, code: str):
    return get_object_or_404(selectors.sub_wallets_visible_to(request_actor(request)), code=code)


class SubWalletsView(APIView):
    @extend_schema(
        summary="Sub-wallets the caller may see, newest first",
        description="A holder sees the sub-wallets pushed from their wallets, operator staff "
        "those of their holders, a merchant's staff those pushed to their merchant, the "
        "central bank all.",
        operation_id="sub_wallets_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(sw.SubWalletOut), **problems(400)},
    )
    def get(self, request):
        subs = selectors.sub_wallets_visible_to(request_actor(request))
        return page(self, request, subs, sw.SubWalletOut)

    @extend_schema(
        summary="Push a sub-wallet to a merchant: a cap it may pull, until it expires",
        description="By the parent wallet's holder (their device token) or its operator's "
        "staff; anyone else who sees the wallet 403, the rest 404. A child wallet of kind "
        "SUB is opened and the cap moved into it from the parent (a SUB_WALLET_FUND "
        "transfer, counted against the parent's single, daily and annual payment limits). "
        "The ledger may still reject the funding (`funding_state` REJECTED with its code): "
        "the sub-wallet then holds nothing. Refused: 404 for an unknown merchant, 409 "
        "MERCHANT_SUSPENDED, 400 INVALID_AMOUNT or INVALID_INPUT (an expiry past or too far).",
        request=sw.SubWalletIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        responses={201: sw.SubWalletOut, **problems(400, 403, 404, 409, 422)},
        examples=[PUSH_EXAMPLE, PUSHED_EXAMPLE],
    )
    @idempotent
    def post(self, request):
        who = request_actor(request)
        data = parse(sw.SubWalletIn, request.data)
        parent = get_object_or_404(selectors.wallets_visible_to(who), number=data["wallet"])
        made = services.sub_wallet_push(
            actor=who,
            parent=parent,
            merchant=data["merchant"],
            cap=data["cap"],
            expires_at=data["expires_at"],
        )
        return sub_wallet_response(visible_sub_wallet(request, made.code), status=201)


class SubWalletView(APIView):
    @extend_schema(
        summary="One sub-wallet: its state, what was pulled, what is left",
        responses={200: sw.SubWalletOut, **problems(404)},
        examples=[ONE_EXAMPLE],
    )
    def get(self, request, code: str):
        return sub_wallet_response(visible_sub_wallet(request, code))


class SubWalletRevokeView(APIView):
    @extend_schema(
        summary="Revoke a sub-wallet: no more pulls, what is left goes back",
        description="By the parent wallet's holder or its operator's staff (the merchant and "
        "the central bank see it but 403). What it holds, less pulls still queued, goes back "
        "to the parent in a SUB_WALLET_RETURN transfer. Revoking twice, or one that expired, "
        "is harmless: nothing is returned twice, so no Idempotency-Key is needed.",
        request=None,
        responses={200: sw.SubWalletOut, **problems(403, 404)},
        examples=[REVOKED_EXAMPLE],
    )
    def post(self, request, code: str):
        sub_wallet = visible_sub_wallet(request, code)
        services.sub_wallet_revoke(actor=request_actor(request), sub_wallet=sub_wallet)
        return sub_wallet_response(visible_sub_wallet(request, code))


class SubWalletPullView(APIView):
    @extend_schema(
        summary="Pull a payment from a sub-wallet pushed to the caller's merchant",
        description="By the staff of the merchant it was pushed to (the holder, their "
        "operator and the central bank see it but 403). A MERCHANT transfer from the "
        "sub-wallet to the merchant's settlement wallet, through a payment request made for "
        "it, so it shows among the merchant's payments, can be refunded (back into the "
        "sub-wallet) and is told by webhooks. Refused with nothing moved: 409 "
        "SUB_WALLET_EXHAUSTED (more than is left, with `remaining_fen`), SUB_WALLET_REVOKED, "
        "SUB_WALLET_EXPIRED, MERCHANT_SUSPENDED, CONFLICT (an order reference already "
        "pulled). 202 with the queued transfer, or 201 with its decision within `?wait`.",
        request=sw.SubWalletPullIn,
        parameters=[IDEMPOTENCY_KEY, WaitQuery, REPLAYED, LOCATION],
        responses={
            202: OpenApiResponse(sw.SubWalletPullOut, description="queued"),
            201: OpenApiResponse(sw.SubWalletPullOut, description="decided within ?wait"),
            **problems(400, 403, 404, 409, 422),
        },
        examples=[PULL_EXAMPLE, PULLED_EXAMPLE, EXHAUSTED_EXAMPLE],
    )
    @idempotent
    def post(self, request, code: str):
        wait_ms = parse(WaitQuery, request.query_params)["wait"] if request.query_params else 0
        sub_wallet = visible_sub_wallet(request, code)
        data = parse(sw.SubWalletPullIn, request.data)
        pulled = services.sub_wallet_pull(
            actor=request_actor(request),
            sub_wallet=sub_wallet,
            amount=data["amount"],
            order_reference=data["order_reference"],
            memo=data["memo"],
            idempotency_key=ledger_key(request, idempotency_key(request)),
        )
        transfer = wait_for_decision(pulled.transfer, wait_ms)
        status = 202 if transfer.state == TransferState.RECEIVED else 201
        body = sw.SubWalletPullOut(pulled).data
        return Response(body, status=status, headers={"Location": transfer_url(transfer)})
