"""Conditional payments (escrow) over /api/v1/: creating one, listing and reading those the
caller may see, and the actions that decide one (confirm, approve, cancel).

As in wallets/api/views.py: each view finds through the scoped selectors (what the caller
may not see is a 404, the same as what does not exist), calls one service with the caller
as its actor, and renders with an output serializer. The services hold every rule.
"""

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ewallet.errors import ErrorCode
from wallets import selectors, services
from wallets.actors import request_actor
from wallets.api import escrow_serializers as e
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
from wallets.api.views import ledger_key, page

CREATE_EXAMPLES = [
    OpenApiExample(
        "Held until the payer confirms delivery",
        value={
            "payer": "0142518301920344",
            "payee": "0298877766554433",
            "amount": "250.50",
            "condition": "PAYER_CONFIRMS",
            "memo": "bicycle, second hand",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Released on the first of the month",
        value={
            "payer": "0142518301920344",
            "payee": "0298877766554433",
            "amount": "3000.00",
            "condition": "RELEASE_AT",
            "release_at": "2027-01-01T00:00:00Z",
            "timeout": 30 * 24 * 3600,
            "memo": "January rent",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Released when an arbiter approves",
        value={
            "payer": "0142518301920344",
            "payee": "0298877766554433",
            "amount": "12000.00",
            "condition": "APPROVAL",
            "approver": "notary_li",
        },
        request_only=True,
    ),
]
HELD_EXAMPLE = OpenApiExample(
    "Held",
    value={
        "id": 7,
        "state": "HELD",
        "condition": "PAYER_CONFIRMS",
        "payer": "0142518301920344",
        "payee": "0298877766554433",
        "amount": "250.50",
        "amount_fen": 25050,
        "memo": "bicycle, second hand",
        "release_at": None,
        "approver": None,
        "transfer": 1041,
        "reject_code": None,
        "timeout_at": "2026-12-10T08:00:00Z",
        "release": None,
        "void": None,
        "payer_cancelled_at": None,
        "payee_cancelled_at": None,
        "created_by": "alice",
        "created_at": "2026-12-03T08:00:00Z",
    },
    response_only=True,
    status_codes=["201"],
)


def _problem_example(name: str, status: int, code: ErrorCode, detail: str) -> OpenApiExample:
    return OpenApiExample(
        name,
        value={
            "type": f"https://ecny.example/problems/{code.lower().replace('_', '-')}",
            "title": "Conflict" if status == 409 else "Forbidden",
            "status": status,
            "detail": detail,
            "code": code,
        },
        response_only=True,
        status_codes=[str(status)],
    )


NOT_HELD_EXAMPLE = _problem_example(
    "Already decided", 409, ErrorCode.ESCROW_NOT_HELD, "escrow 7 is released"
)
CONDITION_EXAMPLE = _problem_example(
    "Not its condition",
    409,
    ErrorCode.CONDITION_NOT_MET,
    "escrow 7 is released by released at a date and time",
)


def escrow_response(escrow, status: int = 200) -> Response:
    location = reverse("api:escrow", kwargs={"escrow_id": escrow.pk})
    return Response(e.EscrowOut(escrow).data, status=status, headers={"Location": location})


def visible_escrow(request, escrow_id: int):
    escrows = selectors.escrows_with_state(request_actor(request))
    return get_object_or_404(escrows, pk=escrow_id)


def decided(request, escrow_id: int, status: int) -> Response:
    """The escrow as it is now (a phase queued is decided by settlement, in order)."""
    return escrow_response(visible_escrow(request, escrow_id), status=status)


class EscrowsView(APIView):
    @extend_schema(
        summary="Conditional payments the caller may see, newest first",
        description="The payer's and the payee's holders (and a merchant's staff, for its "
        "wallet), their operators' staff, the approver an escrow names, and the central "
        "bank (every one).",
        operation_id="escrows_list",
        parameters=[e.EscrowQuery, *PAGE_PARAMETERS],
        responses={200: page_of(e.EscrowOut), **problems(400)},
    )
    def get(self, request):
        query = parse(e.EscrowQuery, request.query_params)
        escrows = selectors.escrows_with_state(request_actor(request)).filter(**query)
        return page(self, request, escrows, e.EscrowOut)

    @extend_schema(
        summary="Hold an amount of the payer's wallet for the payee, until a condition",
        description="By the paying wallet's holder or its operator's staff (the central bank "
        "403; anyone else 404). The ledger holds the amount on the payer's wallet (checking "
        "funds and limits as for a payment: a refusal there is state REFUSED with its "
        "`reject_code`) until the condition releases it to the payee, both parties agree "
        "to cancel it, or `timeout` passes and it EXPIRES (the payer keeps the money). "
        "400 INVALID_INPUT: a condition without its field (`release_at`, `approver`) or "
        "with another's, a `release_at` not before the timeout, an approver who is a party.",
        request=e.EscrowIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        examples=[*CREATE_EXAMPLES, HELD_EXAMPLE],
        responses={201: e.EscrowOut, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request):
        data = parse(e.EscrowIn, request.data)
        timeout = data.get("timeout")
        escrow = services.escrow_create(
            actor=request_actor(request),
            payer=data["payer"],
            payee=data["payee"],
            amount=data["amount"],
            condition=data["condition"],
            release_at=data.get("release_at"),
            approver=data.get("approver"),
            timeout=None if timeout is None else timedelta(seconds=timeout),
            memo=data["memo"],
            idempotency_key=ledger_key(request, idempotency_key(request)),
        )
        return decided(request, escrow.pk, status=201)


class EscrowView(APIView):
    @extend_schema(summary="One conditional payment", responses={200: e.EscrowOut, **problems(404)})
    def get(self, request, escrow_id: int):
        return escrow_response(visible_escrow(request, escrow_id))


QUEUED = OpenApiResponse(e.EscrowOut, description="the release queued; settlement posts it")


class EscrowConfirmView(APIView):
    @extend_schema(
        summary="The payer confirms delivery: release a PAYER_CONFIRMS escrow to the payee",
        description="By the payer's holder or operator's staff (anyone else who sees it 403 "
        "NOT_THE_PAYER). 409 CONDITION_NOT_MET for another condition; 409 ESCROW_NOT_HELD "
        "once it is released, cancelled, expired or refused, or while its release or "
        "cancellation is under way.",
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        examples=[NOT_HELD_EXAMPLE, CONDITION_EXAMPLE],
        responses={202: QUEUED, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, escrow_id: int):
        escrow = visible_escrow(request, escrow_id)
        services.escrow_confirm(actor=request_actor(request), escrow=escrow)
        return decided(request, escrow_id, status=202)


class EscrowApproveView(APIView):
    @extend_schema(
        summary="The named approver approves: release an APPROVAL escrow to the payee",
        description="By the user the escrow names only (anyone else who sees it 403 "
        "NOT_THE_APPROVER). 409 CONDITION_NOT_MET for another condition; 409 "
        "ESCROW_NOT_HELD as for confirm.",
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        examples=[NOT_HELD_EXAMPLE, CONDITION_EXAMPLE],
        responses={202: QUEUED, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, escrow_id: int):
        escrow = visible_escrow(request, escrow_id)
        services.escrow_approve(actor=request_actor(request), escrow=escrow)
        return decided(request, escrow_id, status=202)


class EscrowCancelView(APIView):
    @extend_schema(
        summary="Agree to cancel, for the payer's or the payee's side",
        description="By the payer's side (holder, operator's staff) or the payee's (holder, "
        "a merchant's staff, operator's staff); anyone else who sees it 403 NOT_A_PARTY. "
        "Agreeing twice is harmless. When both sides have agreed the hold is voided and "
        "nothing moves: 202 with `void`, the VOID queued; until then 200. 409 "
        "ESCROW_NOT_HELD as for confirm.",
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        examples=[NOT_HELD_EXAMPLE],
        responses={
            200: OpenApiResponse(e.EscrowOut, description="agreed; the other side has not"),
            202: OpenApiResponse(e.EscrowOut, description="both agreed: the VOID queued"),
            **problems(400, 403, 404, 409, 422),
        },
    )
    @idempotent
    def post(self, request, escrow_id: int):
        escrow = visible_escrow(request, escrow_id)
        escrow = services.escrow_cancel(actor=request_actor(request), escrow=escrow)
        return decided(request, escrow_id, status=200 if escrow.void_id is None else 202)
