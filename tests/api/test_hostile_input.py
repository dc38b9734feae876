"""Input built to hurt the server gets a 4xx problem with a stable code, never a 500, and
moves no money: deep nesting, oversize bodies, keys named twice, crafted cursors. The
longest Idempotency-Key the API documents works end to end, and the ledger's own key
(`api:{user}:{key}`) never reaches a response.
"""

import base64
import json

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from settlement.models import Transfer
from tests.api.conftest import idem
from wallets.api.parsers import MAX_DEPTH
from wallets.api.views import MAX_WAIT_MS

pytestmark = pytest.mark.postgres

PROBLEM = "application/problem+json"
TRANSFERS = "/api/v1/transfers"
BATCH = "/api/v1/transfers/batch"


def payment(api, **overrides) -> dict:
    return {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "1.00"} | overrides


def post_raw(client, path, raw: bytes, content_type="application/json", **headers):
    return client.generic("POST", path, raw, content_type=content_type, **(headers or idem()))


def assert_problem(response, status: int, code: str) -> None:
    assert (response.status_code, response["Content-Type"]) == (status, PROBLEM), response.content
    assert response.json()["code"] == code


def api_transfers() -> int:
    return Transfer.objects.filter(idempotency_key__startswith="api:").count()


# Each case on every path; one test, as each test builds its world afresh.
DEEP = [
    b"[" * 100_000,  # past Python's recursion limit: json raises RecursionError
    b'{"a":' * 100_000,
    # Parses, but deeper than any request of this API.
    b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
]
PATHS = [TRANSFERS, f"{TRANSFERS}?wait=0", BATCH]


def test_deep_nesting_is_a_400(api):
    for path in PATHS:
        for raw in DEEP:
            response = post_raw(api.client("icbc_staff"), path, raw)
            assert_problem(response, 400, "JSON_TOO_DEEP")
    assert api_transfers() == 0


def test_nesting_up_to_the_limit_is_read(api):
    """The limit refuses depth, not JSON: a body at it reaches validation (a 400 naming
    the field, not JSON_TOO_DEEP)."""
    nested = []  # the body's object is the first level, this list the second
    for _ in range(MAX_DEPTH - 2):
        nested = [nested]
    raw = json.dumps(payment(api, memo=nested)).encode()
    assert_problem(post_raw(api.client("alice"), TRANSFERS, raw), 400, "INVALID_INPUT")


def test_a_body_past_the_limit_is_a_413(api):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = json.dumps(payment(api, memo="x" * limit)).encode()
    for path in [*PATHS, "/api/v1/tokens"]:
        response = post_raw(api.client("icbc_staff"), path, raw)
        assert_problem(response, 413, "BODY_TOO_LARGE")
        assert response.json()["max_bytes"] == limit
    assert api_transfers() == 0


def test_the_largest_batch_still_fits(api):
    """1,000 items with 200-character keys and 140-character memos, every character of
    both escaped as \\uXXXX (six bytes each), fit under the limit and are all queued."""
    item = payment(api, amount="0.01", memo="\u4e2d" * 140)
    items = [{**item, "idempotency_key": f"{index:04d}" + "\u6587" * 196} for index in range(1000)]
    raw = json.dumps({"transfers": items}).encode()  # ensure_ascii: \u escapes
    assert len(raw) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = post_raw(api.client("icbc_staff"), BATCH, raw)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1000
    assert api_transfers() == 1000


TWICE = [
    # The one-statement payment's reader and the claim path's serializer alike.
    (TRANSFERS, '{{"payer": "{a}", "payee": "{s}", "amount": "1.00", "amount": "900.00"}}'),
    (
        f"{TRANSFERS}?wait=0",
        '{{"payer": "{a}", "payer": "{a}", "payee": "{s}", "amount": "1"}}',
    ),
    (
        BATCH,
        '{{"transfers": [{{"payer": "{a}", "payee": "{s}", "amount": "1.00", '
        '"idempotency_key": "x", "idempotency_key": "y"}}]}}',
    ),
    (BATCH, '{{"transfers": [], "transfers": []}}'),
    ("/api/v1/tokens", '{{"name": "a", "name": "b"}}'),
]


def test_a_key_named_twice_is_refused(api):
    for path, raw in TWICE:
        body = raw.format(a=api.number("alice"), s=api.number("shop")).encode()
        response = post_raw(api.client("icbc_staff"), path, body)
        assert_problem(response, 400, "DUPLICATE_JSON_KEY")
    assert api_transfers() == 0


def _cursor(text: bytes) -> str:
    return base64.b64encode(text).decode()


CRAFTED_CURSORS = [
    _cursor(b"p=abc"),  # not an id: PostgreSQL would refuse the comparison
    _cursor(b"p=" + b"9" * 30),  # past bigint
    _cursor(b"p=-1"),
    _cursor(b"p=1%002"),  # NUL
    _cursor(b"p=2026-01-01"),
    _cursor(b"o=-5"),
    _cursor(b"r=yes"),
    "\u4e2d",
]


def test_a_crafted_cursor_is_a_400(api):
    for path in ["/api/v1/wallets", TRANSFERS, "/api/v1/audit/checkpoints"]:
        for cursor in CRAFTED_CURSORS:
            response = api.client("icbc_staff").get(path, {"cursor": cursor})
            assert_problem(response, 400, "INVALID_INPUT")
            assert response.json()["errors"][0]["pointer"] == "/cursor", (path, cursor)


def test_a_cursor_given_out_still_pages(api):
    client = api.client("alice")
    client.post(TRANSFERS, payment(api), format="json", **idem())  # her load, and this
    first = client.get(TRANSFERS, {"page_size": 1}).json()
    second = client.get(first["next"].removeprefix("http://testserver"))
    assert second.status_code == 200
    assert second.json()["results"][0]["id"] < first["results"][0]["id"]


LONGEST_KEY = "k" * 190 + "~!#$%&*+-/"  # 200 visible ASCII characters, as documented


def _no_ledger_key(response) -> None:
    """Nothing of the ledger's key in the body or any header."""
    seen = response.content.decode() + json.dumps(dict(response.items()))
    assert "api:" not in seen


@pytest.mark.parametrize("query", ["", "?wait=0"], ids=["one-statement", "claim"])
def test_the_longest_documented_key_works_end_to_end(api, query):
    client = api.client("alice")
    first = client.post(
        f"{TRANSFERS}{query}", payment(api), format="json", HTTP_IDEMPOTENCY_KEY=LONGEST_KEY
    )
    assert first.status_code in (201, 202), first.content
    again = client.post(
        f"{TRANSFERS}{query}", payment(api), format="json", HTTP_IDEMPOTENCY_KEY=LONGEST_KEY
    )
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert (again["Location"], again["Idempotent-Replayed"]) == (first["Location"], "true")
    other = client.post(
        f"{TRANSFERS}{query}",
        payment(api, amount="2.00"),
        format="json",
        HTTP_IDEMPOTENCY_KEY=LONGEST_KEY,
    )
    assert_problem(other, 422, "IDEMPOTENCY_CONFLICT")
    assert api_transfers() == 1
    for response in (first, again, other):
        _no_ledger_key(response)
    assert_problem(
        client.post(TRANSFERS, payment(api), format="json", HTTP_IDEMPOTENCY_KEY=LONGEST_KEY + "k"),
        400,
        "INVALID_INPUT",
    )


def test_batch_items_take_the_longest_key_and_never_show_the_ledgers(api):
    staff = api.client("icbc_staff")
    item = payment(api, idempotency_key=LONGEST_KEY)
    first = staff.post(BATCH, {"transfers": [item]}, format="json", **idem())
    assert first.json()["results"][0]["status"] == 202, first.content
    replayed = staff.post(BATCH, {"transfers": [item]}, format="json", **idem())
    assert replayed.json()["results"][0]["status"] == 200
    changed = staff.post(
        BATCH, {"transfers": [{**item, "amount": "2.00"}]}, format="json", **idem()
    )
    result = changed.json()["results"][0]
    assert (result["status"], result["problem"]["code"]) == (422, "IDEMPOTENCY_CONFLICT")
    assert result["idempotency_key"] == LONGEST_KEY  # the caller's own key, as sent
    for response in (first, replayed, changed):
        _no_ledger_key(response)
    # The single-payment path, on a key an item used first.
    single = api.client("icbc_staff").post(
        TRANSFERS, payment(api, amount="3.00"), format="json", HTTP_IDEMPOTENCY_KEY=LONGEST_KEY
    )
    assert_problem(single, 422, "IDEMPOTENCY_CONFLICT")
    _no_ledger_key(single)
    assert api_transfers() == 1


def test_the_schema_states_the_wait_bound_the_server_keeps(api):
    """A wait holds a web worker: beyond the bound it is refused, as the schema says."""
    operation = SchemaGenerator().get_schema(public=True)["paths"][TRANSFERS]["post"]
    wait = next(p for p in operation["parameters"] if p["name"] == "wait")
    assert wait["schema"]["maximum"] == MAX_WAIT_MS
    assert "413" in operation["responses"]
    client = api.client("alice")
    path = f"{TRANSFERS}?wait={MAX_WAIT_MS + 1}"
    too_long = client.post(path, payment(api), format="json", **idem())
    assert_problem(too_long, 400, "INVALID_INPUT")
    assert api_transfers() == 0
