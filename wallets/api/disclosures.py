"""Identity disclosures over /api/v1/: the central bank asking who is behind an anonymous
holder's pseudonym, two other approvers deciding, and the identity read once approved.

As in wallets/api/views.py: each view parses, calls one service or scoped selector with
the caller as its actor, and renders. The whole resource is the central bank's: to anyone
else every route answers 403, whichever id is asked for, so nothing tells whether a
disclosure exists. The identity itself is never stored with an idempotent replay and is
answered `Cache-Control: no-store`.
"""

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ewallet.errors import ErrorCode, EwalletError
from wallets import selectors, services
from wallets.actors import request_actor
from wallets.api import disclosures_serializers as d
from wallets.api import serializers as s
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

REQUEST_EXAMPLE = OpenApiExample(
    "A court order",
    value={
        "holder": "h_5f0c9a1e2b7d4c3a8e6f1b2d",
        "reason": "Shenzhen Futian court order (2026) Yue 0304 No. 123",
    },
    request_only=True,
)
NOT_APPROVED_EXAMPLE = OpenApiExample(
    "One approval of two",
    value={
        "type": "https://ecny.example/problems/disclosure-not-approved",
        "title": "Conflict",
        "status": 409,
        "detail": "disclosure 7 is REQUESTED with 1 of the 2 approvals it needs",
        "code": "DISCLOSURE_NOT_APPROVED",
        "state": "REQUESTED",
        "approvals": 1,
        "approvals_needed": 2,
    },
    response_only=True,
    status_codes=["409"],
)


def disclosure_response(disclosure, status: int = 200) -> Response:
    location = reverse("api:disclosure", kwargs={"disclosure_id": disclosure.pk})
    return Response(d.DisclosureOut(disclosure).data, status=status, headers={"Location": location})


def visible_disclosure(request, disclosure_id: int):
    found = selectors.identity_disclosures_visible_to(request_actor(request))
    disclosure = selectors.unique_row(found.filter(pk=disclosure_id))
    if disclosure is None:
        raise EwalletError(ErrorCode.NOT_FOUND, f"disclosure {disclosure_id} not found")
    return disclosure


class DisclosuresView(APIView):
    @extend_schema(
        summary="Identity disclosure requests, newest first (central-bank staff)",
        description="Every central-bank role sees the requests (pseudonym, reason, who asked "
        "and who approved), never the identity. Anyone else 403.",
        operation_id="disclosures_list",
        parameters=[d.DisclosureQuery, *PAGE_PARAMETERS],
        responses={200: page_of(d.DisclosureOut), **problems(400, 403)},
    )
    def get(self, request):
        disclosures = selectors.identity_disclosures_visible_to(request_actor(request))
        query = parse(d.DisclosureQuery, request.query_params)
        if "holder" in query:
            disclosures = disclosures.filter(holder__pseudonym=query["holder"])
        if "state" in query:
            disclosures = selectors.identity_disclosures_in_state(disclosures, query["state"])
        disclosures = disclosures.prefetch_related("approvals__approver")
        return page(self, request, disclosures, d.DisclosureOut)

    @extend_schema(
        summary="Ask to disclose who is behind an anonymous holder's pseudonym (cb_issuer)",
        description="The maker's half. It takes the approval of EWALLET_DISCLOSURE_APPROVALS "
        "(2) different central-bank approvers, none of them the requester, before the "
        "requester and those approvers may read the identity. 400 INVALID_INPUT: an empty "
        "reason, or a holder the central bank knows by name already (only phone-only KYC "
        "is anonymous); 404: no such pseudonym. Recorded in the audit log.",
        request=d.DisclosureIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        examples=[REQUEST_EXAMPLE],
        responses={201: d.DisclosureOut, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request):
        data = parse(d.DisclosureIn, request.data)
        disclosure = services.identity_disclosure_request(
            actor=request_actor(request), pseudonym=data["holder"], reason=data["reason"]
        )
        return disclosure_response(visible_disclosure(request, disclosure.pk), status=201)


class DisclosureView(APIView):
    @extend_schema(
        summary="One identity disclosure request (central-bank staff)",
        responses={200: d.DisclosureOut, **problems(403, 404)},
    )
    def get(self, request, disclosure_id: int):
        return disclosure_response(visible_disclosure(request, disclosure_id))


class DisclosureApproveView(APIView):
    @extend_schema(
        summary="Approve (cb_approver, never the requester); enough approvals approve it",
        description="403 MAKER_CHECKER for the requester; 409 DUPLICATE_APPROVAL for an "
        "approver who approved it already; 409 DISCLOSURE_DECIDED once approved or "
        "rejected; 409 DISCLOSURE_EXPIRED once lapsed. Each approval is recorded in the "
        "audit log.",
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={200: d.DisclosureOut, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, disclosure_id: int):
        services.identity_disclosure_approve(
            actor=request_actor(request), disclosure_id=disclosure_id
        )
        return disclosure_response(visible_disclosure(request, disclosure_id))


class DisclosureRejectView(APIView):
    @extend_schema(
        summary="Reject with a reason (cb_approver, never the requester): one is enough",
        description="Refusals as for approve. Recorded in the audit log.",
        request=s.RejectIn,
        responses={200: d.DisclosureOut, **problems(400, 403, 404, 409)},
    )
    def post(self, request, disclosure_id: int):
        data = parse(s.RejectIn, request.data)
        services.identity_disclosure_reject(
            actor=request_actor(request), disclosure_id=disclosure_id, reason=data["reason"]
        )
        return disclosure_response(visible_disclosure(request, disclosure_id))


class DisclosureIdentityView(APIView):
    @extend_schema(
        summary="The identity behind the pseudonym (its requester and approvers, once approved)",
        description="The operator's KYC record: name and phone number. For the requester and "
        "the approvers of an APPROVED disclosure, until `access_until`; every reading is "
        "recorded in the audit log (`audit_event`). 409 DISCLOSURE_NOT_APPROVED before "
        "enough approvals (and after a rejection or a lapse); 409 DISCLOSURE_EXPIRED after "
        "`access_until`; 403 for anyone else, the rest of the central bank included.",
        examples=[NOT_APPROVED_EXAMPLE],
        responses={200: d.DisclosedIdentityOut, **problems(403, 404, 409)},
    )
    def get(self, request, disclosure_id: int):
        identity = services.identity_disclosure_read(
            actor=request_actor(request), disclosure_id=disclosure_id
        )
        response = Response(d.DisclosedIdentityOut(identity).data)
        response["Cache-Control"] = "no-store"
        return response
