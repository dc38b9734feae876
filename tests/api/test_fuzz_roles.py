"""Every endpoint of the served OpenAPI schema fuzzed as each role: holders, operator
staff, the central bank's four roles, a merchant's staff, and no one. Valid and invalid
inputs generated from the schema (schemathesis), the valid ones aimed at objects that
exist where a path names one (Alice's wallet, a settled payment, the shop's webhook...),
so that each role meets both what it may touch and what it may not.

Checks on every response: never a 5xx; the status, content type, headers and body are the
schema's; every error is application/problem+json with a `code` of ErrorCode; invalid
input is refused; an endpoint that needs a caller refuses no one.

Seeded (derandomized) so a run repeats. EWALLET_FUZZ_EXAMPLES sets the examples per
endpoint and role (CI: 1); bench/fuzz.sh runs it long.
"""

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ewallet.errors import ErrorCode
from ewallet.problems import PROBLEM_CONTENT_TYPE
from tests.api.conftest import fresh_rate_windows, token_for
from tests.api.test_authorization import fixtures  # noqa: F401  (the shared world of objects)
from wallets import services

EXAMPLES = int(os.environ.get("EWALLET_FUZZ_EXAMPLES", "1"))
# One of each kind of caller (tests/api/test_authorization.py has them all).
ROLES = [
    "anon",
    "alice",  # a class-2 holder at ICBC
    "bob",  # an anonymous class-4 holder at CCB
    "icbc_staff",
    "issuer",
    "approver",
    "policy",
    "auditor",
    "shop_staff",  # a merchant's own staff
]
CODES = {code.value for code in ErrorCode}


def problem_json_with_a_stable_code(ctx, response, case):
    """Every error is RFC 9457 problem+json whose `code` is one of ErrorCode."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0].split(";")[0]
    assert content_type == PROBLEM_CONTENT_TYPE, f"{response.status_code} as {content_type!r}"
    body = response.json()
    assert body.get("code") in CODES, f"code {body.get('code')!r} is not an ErrorCode"
    assert body.get("status") == response.status_code, "status member is not the status"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    problem_json_with_a_stable_code,
]


# Fuzzers send thousands of bad tokens from one address: each must get its own 401.
pytestmark = pytest.mark.usefixtures("bad_tokens_unthrottled")


def _schema():
    from ewallet.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


SCHEMA = _schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def existing_objects(api, fx) -> dict[str, str]:
    """Path parameters naming objects of the world, by parameter name (and, for `code`,
    by what the path is about)."""
    request = services.payment_request_create(actor=fx["shop"].staff, amount=100)
    return {
        "number": api.number("alice"),
        "transfer_id": fx["alice_to_shop"],
        "refund_id": fx["shop_refund"],
        "endpoint_id": fx["shop_hook"].pk,
        "delivery_id": fx["shop_delivery"],
        "programme_id": fx["programme"],
        "alert_id": fx["alert"],
        "device_id": fx["alice_card"].id,
        "holder_id": api.wallets["alice"].holder.pseudonym,
        "/merchants/": fx["shop"].merchant.code,
        "/payment-requests/": request.code,
    }


def _known(operation, objects) -> dict:
    names = {p.name for p in operation.path_parameters}
    known = {name: objects[name] for name in names if name in objects}
    if "code" in names:
        for prefix, value in objects.items():
            if prefix.startswith("/") and prefix in operation.path:
                known["code"] = value
    return known


def _live_token(api, role: str) -> str:
    """The role's token, minted again if a fuzzed request revoked it."""
    client = api.client(role)
    if client.get("/api/v1/me").status_code == 401:
        api.tokens[role] = token_for(api.users[role], "fuzz")
    return api.tokens[role]


def _fuzz(strategies, headers: dict, checks: list, sent: list) -> Exception | None:
    """Call one operation with up to `EXAMPLES` cases of each strategy (one item appended
    to `sent` per request); the first failure, if any (collected, so that one run shows
    every endpoint that fails)."""

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES * len(strategies),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        sent.append(1)
        case.call_and_validate(headers=headers, checks=checks)

    try:
        call()
    except Exception as error:
        return error
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_fuzzed_as(role, api, fixtures):  # noqa: F811
    if role == "shop_staff":
        api.users[role], api.tokens[role] = fixtures["shop"].staff.user, fixtures["shop"].token
    objects = existing_objects(api, fixtures)
    checks = CHECKS if role == "anon" else [*CHECKS, ignored_auth]
    fresh_rate_windows()
    failures, sent, started = [], [], time.monotonic()
    for operation in OPERATIONS:
        headers = {} if role == "anon" else {"Authorization": f"Bearer {_live_token(api, role)}"}
        # Valid input aimed at objects that exist where the path names one, else anywhere;
        # and invalid input.
        known = _known(operation, objects)
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known or None),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]

        if error := _fuzz(strategies, headers, checks, sent):
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    print(
        f"\nfuzz as {role}: {len(sent)} requests over {len(OPERATIONS)} operations in "
        f"{time.monotonic() - started:.1f} s, {len(failures)} failing operations"
    )
    assert failures == [], "\n\n".join(failures)


# Public: anyone may read the audit log's checkpoints and keys, and the health check.
PUBLIC = ("/api/v1/audit/", "/api/v1/health")


def test_every_endpoint_that_needs_a_caller_documents_401():
    # Found by the fuzzing above as no one: GET /tokens answered 401, undocumented.
    undocumented = [
        f"{operation.method.upper()} {operation.path}"
        for operation in OPERATIONS
        if not operation.path.startswith(PUBLIC)
        and "401" not in operation.definition.raw["responses"]
    ]
    assert undocumented == []
