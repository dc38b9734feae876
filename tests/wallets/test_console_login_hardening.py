"""Signing in to the console: lockout after repeated failures, password rules, short
sessions, and headers that keep its pages out of caches and frames."""

import time

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from tests.helpers import user_with
from wallets.roles import Role

PASSWORD = "console-login-test-pass"


@pytest.fixture
def auditor(db) -> User:
    user = user_with("cb_auditor_login", Role.CB_AUDITOR)
    user.is_staff = True
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(client: Client, username: str, password: str, address: str = "192.0.2.10"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_five_wrong_passwords_lock_the_username_out_at_that_address(auditor):
    client = Client()
    for _ in range(4):
        assert sign_in(client, auditor.username, "wrong-guess-123").status_code == 200
    locked = sign_in(client, auditor.username, "wrong-guess-123")
    assert locked.status_code == 429
    # The right password no longer helps from there...
    assert sign_in(client, auditor.username, PASSWORD).status_code == 429
    # ... but the same person from another address signs in.
    assert sign_in(Client(), auditor.username, PASSWORD, address="192.0.2.77").status_code == 302


def test_a_success_resets_the_count(auditor):
    client = Client()
    for _ in range(4):
        sign_in(client, auditor.username, "wrong-guess-123")
    assert sign_in(client, auditor.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert sign_in(client, auditor.username, "wrong-guess-123").status_code == 200
    assert sign_in(client, auditor.username, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "password", ["short-pw-1", "password1234", "12345678901234", "cb_auditor_login1"]
)
def test_weak_passwords_are_refused(auditor, password):
    with pytest.raises(ValidationError):
        validate_password(password, auditor)


def test_a_long_uncommon_password_is_accepted(auditor):
    validate_password("tea-leaves-over-the-luohu-bridge", auditor)


def test_a_console_session_lasts_half_an_hour_idle_and_not_past_the_browser(auditor):
    client = Client()
    assert sign_in(client, auditor.username, PASSWORD).status_code == 302
    cookie = client.cookies["sessionid"]
    assert cookie["max-age"] == ""  # a browser-session cookie: gone when the browser closes
    assert client.session.get_expiry_age() == 30 * 60
    assert client.session.get_expire_at_browser_close()


def test_console_pages_are_not_stored_or_framed_and_run_only_our_scripts(auditor):
    client = Client()
    client.force_login(auditor)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    csp = page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "*" not in script_src
    assert page["X-Frame-Options"] == "DENY"


def test_static_assets_stay_cacheable(auditor):
    asset = Client().get("/static/unfold/js/app.js")
    assert asset.status_code == 200
    assert "no-store" not in asset.get("Cache-Control", "")


def code_of(device) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"


@pytest.fixture
def enrolled(auditor, settings):
    """The auditor's authenticator, enrolled as `manage.py totp_enroll` does it."""
    import io

    from django.core.management import call_command
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.EWALLET_CONSOLE_TOTP = True
    out = io.StringIO()
    call_command("totp_enroll", auditor.username, stdout=out)
    assert out.getvalue().startswith("otpauth://totp/")
    return TOTPDevice.objects.get(user=auditor)


def test_central_bank_staff_need_their_authenticator_code(enrolled, auditor):
    client = Client()
    page = client.get("/admin/login/")
    assert 'name="otp_token"' in page.content.decode()
    # The password alone is not enough...
    assert sign_in(client, auditor.username, PASSWORD).status_code == 200
    wrong = client.post(
        "/admin/login/?next=/admin/",
        {"username": auditor.username, "password": PASSWORD, "otp_token": "000000"},
    )
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    # ... with the code it is (once django-otp's throttle after a wrong code, 1 s, is over).
    time.sleep(1.1)
    signed_in = client.post(
        "/admin/login/?next=/admin/",
        {"username": auditor.username, "password": PASSWORD, "otp_token": code_of(enrolled)},
    )
    assert signed_in.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_central_bank_session_without_a_code_is_turned_away(enrolled, auditor):
    client = Client()
    client.force_login(auditor)  # a password-only session
    answer = client.get("/admin/")
    assert answer.status_code == 302 and answer["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session


def test_operator_staff_sign_in_with_a_password(settings, world):
    settings.EWALLET_CONSOLE_TOTP = True
    staff = world.staff_of["ICBC"].user
    staff.is_staff = True
    staff.set_password(PASSWORD)
    staff.save()
    client = Client()
    assert sign_in(client, staff.username, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_browsable_apis_password_sign_in_gives_central_bank_staff_nothing(enrolled, auditor):
    client = Client()
    client.post(
        "/api-auth/login/", {"username": auditor.username, "password": PASSWORD, "next": "/"}
    )
    assert client.get("/api/v1/me").status_code in (401, 403)


def test_without_the_setting_nobody_is_asked_for_a_code(auditor, settings):
    """Outside production mode (the demo, the tests): a password signs anyone in."""
    settings.EWALLET_CONSOLE_TOTP = False
    client = Client()
    assert 'name="otp_token"' not in client.get("/admin/login/").content.decode()
    assert sign_in(client, auditor.username, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_central_bank_staff_without_an_authenticator_cannot_sign_in(auditor, settings):
    settings.EWALLET_CONSOLE_TOTP = True
    client = Client()
    refused = client.post(
        "/admin/login/?next=/admin/",
        {"username": auditor.username, "password": PASSWORD, "otp_token": "123456"},
    )
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert "No authenticator is enrolled" in refused.content.decode()
