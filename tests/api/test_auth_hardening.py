"""Who a caller is, as far as rate limits go: failed authentications are throttled per
address, and the address is not whatever X-Forwarded-For claims."""

import secrets

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import fresh_rate_windows, token_for
from tests.helpers import user_with


def an_address() -> str:
    """A documentation address (RFC 5737) of its own, so no earlier window counts."""
    return f"198.51.100.{secrets.randbelow(250) + 1}"


def me(address: str, token: str, **headers) -> int:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", **headers)
    return client.get("/api/v1/me")


@pytest.fixture
def alice_token(db):
    fresh_rate_windows()
    return token_for(user_with("alice"))


@override_settings(EWALLET_AUTH_FAILURE_RATE="3/min")
def test_repeated_bad_tokens_from_one_address_are_answered_429(alice_token):
    guesser, bystander = an_address(), an_address()
    for _ in range(3):
        assert me(guesser, "ecny_guess" + secrets.token_hex(8)).status_code == 401
    refused = me(guesser, "ecny_guess" + secrets.token_hex(8))
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "RATE_LIMITED"
    assert int(refused["Retry-After"]) >= 1
    # Even a good token is not looked at from there until the window ends...
    assert me(guesser, alice_token).status_code == 429
    # ... while another address is unaffected, and good tokens never count.
    assert me(bystander, "ecny_guess").status_code == 401
    for _ in range(5):
        assert me(bystander, alice_token).status_code == 200


@override_settings(EWALLET_AUTH_FAILURE_RATE="3/min")
def test_a_forged_x_forwarded_for_does_not_buy_fresh_failures(alice_token):
    guesser = an_address()
    for n in range(4):
        response = me(guesser, "ecny_guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        assert response.status_code == (401 if n < 3 else 429)


@override_settings(EWALLET_API_ANON_RATE="3/min")
def test_anonymous_callers_are_counted_by_their_real_address(db):
    fresh_rate_windows()
    caller = an_address()
    statuses = [
        APIClient(REMOTE_ADDR=caller, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        .get("/api/v1/health")
        .status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_behind_our_proxy_the_address_it_saw_is_counted(db, settings):
    """EWALLET_PROXY_COUNT=1: the right-most X-Forwarded-For entry, which our proxy wrote;
    what the client put before it is ignored."""
    # Only the settings fixture here: mixed with @override_settings, its teardown would put
    # the decorator's rate back for the tests that follow.
    fresh_rate_windows()
    settings.EWALLET_API_ANON_RATE = "3/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy, caller, other = "10.0.0.2", an_address(), an_address()

    def health(forwarded: str) -> int:
        client = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded)
        return client.get("/api/v1/health").status_code

    assert [health(f"203.0.113.{n}, {caller}") for n in range(4)] == [200, 200, 200, 429]
    assert health(other) == 200


def test_api_answers_carrying_personal_data_are_not_stored(alice_token):
    answer = me(an_address(), alice_token)
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
