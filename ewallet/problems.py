"""RFC 9457 problem details: every API error, whatever raised it, rendered one way.

    {"type": ".../problems/insufficient-funds", "title": "...", "status": 400,
     "detail": "...", "code": "INVALID_AMOUNT", "errors": [{"pointer": "/amount", ...}]}

`code` is the stable member clients match on (ewallet.errors.ErrorCode); `errors` lists
per-field problems for validation failures, with a JSON pointer into the request body.
"""

import logging
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from ewallet.errors import ErrorCode, EwalletError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# DRF's exceptions and the stable code each becomes.
_DRF_CODES: list[tuple[type[Exception], ErrorCode]] = [
    (drf.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (drf.AuthenticationFailed, ErrorCode.NOT_AUTHENTICATED),
    (drf.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (drf.NotFound, ErrorCode.NOT_FOUND),
    (drf.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (drf.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (drf.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf.ParseError, ErrorCode.MALFORMED_REQUEST),
    (drf.Throttled, ErrorCode.RATE_LIMITED),
]


def problem_type(code: str) -> str:
    return settings.EWALLET_PROBLEM_BASE_URL + code.lower().replace("_", "-")


def problem_body(code: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": problem_type(code),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem_response(
    code: str, status: int, detail: str, headers: dict | None = None, **extra: Any
) -> Response:
    return Response(
        problem_body(code, status, detail, **extra),
        status=status,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def field_errors(detail: Any, pointer: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested validation detail into [{pointer, code, detail}]."""
    if isinstance(detail, dict):
        return [
            error
            for name, value in detail.items()
            for error in field_errors(
                value, pointer if name == "non_field_errors" else f"{pointer}/{name}"
            )
        ]
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [_field_error(item, pointer) for item in detail]
        return [
            error
            for index, item in enumerate(detail)
            for error in field_errors(item, f"{pointer}/{index}")
            if item
        ]
    return [_field_error(detail, pointer)]


def _field_error(message: Any, pointer: str) -> dict[str, str]:
    code = getattr(message, "code", None) or ErrorCode.INVALID_INPUT
    code = code if code in ErrorCode.__members__ else ErrorCode.INVALID_INPUT
    return {"pointer": pointer or "/", "code": str(code), "detail": str(message)}


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: our errors, DRF's and unexpected ones, as problems."""
    if isinstance(exc, EwalletError):
        extra = dict(exc.extra)
        if field := extra.pop("field", None):
            extra["errors"] = [{"pointer": f"/{field}", "code": exc.code, "detail": exc.message}]
        headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
        return problem_response(exc.code, exc.status, exc.message, headers=headers, **extra)
    if isinstance(exc, drf.ValidationError):
        errors = field_errors(exc.detail)
        codes = {error["code"] for error in errors}
        code = codes.pop() if len(codes) == 1 else ErrorCode.INVALID_INPUT
        fields = ", ".join(error["pointer"] for error in errors)
        return problem_response(code, 400, f"invalid request: {fields}", errors=errors)
    if isinstance(exc, RequestDataTooBig):  # raised reading the body for a parser
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        detail = f"the request body is larger than {limit} bytes"
        return problem_response(ErrorCode.BODY_TOO_LARGE, 413, detail, max_bytes=limit)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    for kind, code in _DRF_CODES:
        if isinstance(exc, kind):
            headers = {}
            if isinstance(exc, drf.Throttled) and exc.wait is not None:
                headers["Retry-After"] = str(max(1, round(exc.wait)))
            if code == ErrorCode.NOT_AUTHENTICATED:
                headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return problem_response(code, exc.status_code, str(exc.detail), headers=headers)
    if isinstance(exc, drf.APIException):
        return problem_response(ErrorCode.INVALID_INPUT, exc.status_code, str(exc.detail))
    logger.exception("unhandled error in %s", context.get("view"))
    return problem_response(ErrorCode.INTERNAL_ERROR, 500, "an internal error occurred")


def _django_problem(code: ErrorCode, status: int, detail: str) -> JsonResponse:
    return JsonResponse(
        problem_body(code, status, detail), status=status, content_type=PROBLEM_CONTENT_TYPE
    )


def not_found(request, exception=None):
    """handler404: problems under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return _django_problem(ErrorCode.NOT_FOUND, 404, f"no such resource: {request.path}")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return _django_problem(ErrorCode.INTERNAL_ERROR, 500, "an internal error occurred")
    from django.views.defaults import server_error as page

    return page(request)
