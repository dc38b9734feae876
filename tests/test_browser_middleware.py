"""Browsers and bearer tokens take two paths through the middleware: a request with an
`Authorization: Bearer` header skips sessions, the signed-in user, OTP, messages, the page
policy and sign-in lockouts; every other request runs them all."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from ewallet.middleware import API_CONTENT_SECURITY_POLICY, BrowserMiddleware
from tests.api.conftest import token_for
from tests.helpers import user_with

PASSWORD = "browser-lane-test-pass"


@pytest.fixture
def alice(db) -> User:
    user = user_with("alice_lane")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def staffer(db) -> User:
    user = user_with("staffer_lane")
    user.is_staff = True
    user.set_password(PASSWORD)
    user.save()
    return user


def test_the_checks_silenced_for_the_admin_and_axes_hold_one_level_down():
    browser = settings.EWALLET_BROWSER_MIDDLEWARE
    for needed in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ):
        assert needed in browser and needed not in settings.MIDDLEWARE
    sessions = browser.index("django.contrib.sessions.middleware.SessionMiddleware")
    assert sessions < browser.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert browser[-1] == "axes.middleware.AxesMiddleware"
    assert settings.MIDDLEWARE[-1] == "ewallet.middleware.BrowserMiddleware"
    # CSRF checks in a view hook, which only MIDDLEWARE's entries get.
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    call_command("check", fail_level="WARNING")


def test_a_browser_middleware_whose_hooks_would_not_run_is_refused(settings):
    settings.EWALLET_BROWSER_MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ]
    with pytest.raises(ImproperlyConfigured, match="CsrfViewMiddleware has process_view"):
        BrowserMiddleware(lambda request: None)


def test_a_bearer_request_gets_no_session_and_the_apis_own_headers(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    answer = client.get("/api/v1/me")
    assert answer.status_code == 200 and answer.json()["username"] == alice.username
    assert answer.cookies == {}  # no session, no CSRF cookie
    assert "Cookie" not in answer.get("Vary", "")
    assert answer["Content-Security-Policy"] == API_CONTENT_SECURITY_POLICY
    assert "no-store" in answer["Cache-Control"]
    assert answer["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("header", ["bEaReR {}", "Bearer\t{}", "  Bearer   {}"])
def test_the_header_is_read_as_the_authentication_reads_it(alice, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(token_for(alice)))
    answer = client.get("/api/v1/me")
    assert answer.status_code == 200
    assert answer["Content-Security-Policy"] == API_CONTENT_SECURITY_POLICY


def test_a_token_decides_even_beside_a_signed_in_session(alice, staffer):
    client = APIClient()
    client.force_login(staffer)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    assert client.get("/api/v1/me").json()["username"] == alice.username
    # A bad token is refused outright: the session beside it is not a fallback.
    client.credentials(HTTP_AUTHORIZATION="Bearer ecny_not_a_token")
    refused = client.get("/api/v1/me")
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"


def test_a_session_on_the_api_still_runs_the_browser_middlewares(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get("/api/v1/me", HTTP_ACCEPT="application/json")
    assert page.status_code == 200 and page.json()["username"] == alice.username
    assert "'self'" in page["Content-Security-Policy"]  # the console's policy, not the API's
    # A session's unsafe request without its CSRF token is refused, as DRF does it.
    refused = client.post(
        "/api/v1/tokens",
        {"name": "x"},
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_the_pay_pages_form_is_still_csrf_checked(db):
    """The pay page has no csrf_protect of its own: CsrfViewMiddleware's view hook is what
    refuses a forged post."""
    client = Client(enforce_csrf_checks=True)
    assert client.post("/pay/", {"step": "sign-out"}).status_code == 403
    token = client.get("/pay/").cookies["csrftoken"].value
    answer = client.post("/pay/", {"step": "sign-out", "csrfmiddlewaretoken": token})
    assert answer.status_code in (200, 302)


def test_outside_the_api_a_bearer_header_changes_nothing(db):
    """The console and the pay page read the session and the user whatever the headers."""
    client = Client(HTTP_AUTHORIZATION="Bearer ecny_anything")
    console = client.get("/admin/")
    assert console.status_code == 302 and "/admin/login/" in console["Location"]
    page = client.get("/pay/")
    assert page.status_code == 200
    assert "'self'" in page["Content-Security-Policy"]
