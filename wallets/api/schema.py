"""OpenAPI helpers: problem responses, cursor pages, and the examples the docs show."""

import re

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

from ewallet.errors import ErrorCode
from wallets.api.idempotency import HEADER, KEY_PATTERN, REPLAYED_HEADER
from wallets.api.serializers import ProblemOut

PROBLEM = "application/problem+json"

_WHY = {
    400: "Invalid request: the problem's `errors` name each field.",
    401: "No valid API token (or session).",
    403: "The caller's role does not allow this.",
    404: "Not found, or not visible to the caller.",
    406: "The Accept header names no type this answers in.",
    409: "Conflicts with the current state (or the same Idempotency-Key is still running).",
    413: "The request body is larger than the server takes (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    422: "The Idempotency-Key was already used for a different request.",
    429: "Rate limited: retry after the `Retry-After` header's seconds.",
    503: "A dependency is unavailable.",
}


def problems(*statuses: int, public: bool = False) -> dict:
    """Problem-details responses for `statuses`, plus 401 and 429 every endpoint can give."""
    wanted = set(statuses) | {429} | (set() if public else {401})
    return {
        (status, PROBLEM): OpenApiResponse(ProblemOut, description=_WHY[status])
        for status in sorted(wanted)
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=f"^{KEY_PATTERN.pattern}$",
    description="A unique key per intended operation (a UUID is good); the same key and "
    "body again replay the first response. Keys are scoped to the caller.",
)
REPLAYED = OpenApiParameter(
    REPLAYED_HEADER,
    str,
    OpenApiParameter.HEADER,
    response=True,
    enum=["true"],
    description="present, `true`, when this is the stored response of an earlier request",
)
LOCATION = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=True, description="the new resource"
)


def page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A cursor page of `item`s: {next, previous, results}."""
    return type(
        f"{item.__name__.removesuffix('Out')}PageOut",
        (serializers.Serializer,),
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
            "__module__": __name__,
        },
    )


class PageQuery(serializers.Serializer):
    cursor = serializers.CharField(
        required=False, max_length=200, help_text="from a previous page's next or previous"
    )
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=500, help_text="default 50"
    )


# A cursor's position is a primary key this API gave out: every paged table's is an integer.
_POSITION = re.compile(r"[0-9]{1,18}")


class NewestFirst(CursorPagination):
    """Stable pages however many rows arrive meanwhile (cursor on the primary key).

    Query parameters are checked by PageQuery first, so a bad one is a 400, not ignored;
    so is a cursor whose position is not an id (DRF's own check stops at its base64).
    """

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            position = cursor.position if cursor is not None else None
            valid = position is None or bool(_POSITION.fullmatch(position))
        if not valid:
            raise ValidationError({"cursor": ["not a cursor this API gave out"]})
        return cursor


PAGE_PARAMETERS = [PageQuery]

PAYMENT_EXAMPLE = OpenApiExample(
    "A payment of 12.34 yuan",
    value={"payer": "0142518301920344", "payee": "0298877766554433", "amount": "12.34"},
    request_only=True,
)
INSUFFICIENT_EXAMPLE = OpenApiExample(
    "An amount with three decimals",
    value={
        "type": "https://ecny.example/problems/invalid-amount",
        "title": "Bad Request",
        "status": 400,
        "detail": "invalid request: /amount",
        "code": ErrorCode.INVALID_AMOUNT,
        "errors": [
            {
                "pointer": "/amount",
                "code": ErrorCode.INVALID_AMOUNT,
                "detail": "amount must have at most two decimals",
            }
        ],
    },
    response_only=True,
    status_codes=["400"],
)
