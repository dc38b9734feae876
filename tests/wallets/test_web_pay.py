"""The holder's pay-by-code page (/pay/): signing in with a device token, opening a
scanned code, paying it from one's own wallet once, and every refusal shown as the
service gives it, with nothing moved."""

import secrets

import pytest
from django.test import Client, override_settings

from ewallet.money import yuan
from tests.api.conftest import fresh_rate_windows
from tests.helpers import balance, settle
from wallets import qr, services
from wallets.actors import Actor
from wallets.auth import token_revoke
from wallets.models import MerchantPayment

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(world):
    return world.merchant("Luohu Tea House")


@pytest.fixture
def alice(world):
    return world.wallet("Alice", klass=2, load=1_000)


def device_token(world, wallet) -> str:
    secret, _ = services.holder_device_enrol(
        actor=world.staff_of[wallet.operator.code], holder=wallet.holder, name="phone"
    )
    return secret


def signed_in(world, wallet) -> Client:
    client = Client()
    response = client.post("/pay/", {"step": "sign-in", "token": device_token(world, wallet)})
    assert response.status_code == 302
    return client


def request_for(shop, amount: int, order: str):
    made = services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=amount, order_reference=order
    )
    return made, services.request_payload(made)


def nonce_of(page: str) -> str:
    return page.split('name="nonce" value="')[1].split('"')[0]


def test_a_holder_signs_in_opens_the_code_and_pays_it_once(world, shop, alice):
    made, payload = request_for(shop, 3_680, "T-1")
    client = Client()
    # Signed out, the code waits for the sign-in and comes back after it.
    page = client.get("/pay/", {"code": payload}).content.decode()
    assert 'name="token"' in page and payload in page
    response = client.post(
        "/pay/", {"step": "sign-in", "token": device_token(world, alice), "code": payload}
    )
    assert response.status_code == 302 and response["Location"].startswith("/pay/?code=")

    page = client.get(response["Location"]).content.decode()
    assert 'id="pay-merchant">Luohu Tea House<' in page
    assert 'id="pay-amount">36.80<' in page and 'id="pay-order">T-1<' in page
    assert 'id="pay-state">OPEN<' in page and alice.number in page
    nonce = nonce_of(page)
    form = {"step": "pay", "code": payload, "wallet": alice.number, "nonce": nonce}
    first = client.post("/pay/", form)
    again = client.post("/pay/", form)  # the same page submitted twice pays once
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"]
    payment = MerchantPayment.objects.get(request=made)
    assert first["Location"] == f"/pay/payments/{payment.transfer_id}/"

    settle()
    page = client.get(first["Location"]).content.decode()
    assert 'id="paid-state">SETTLED<' in page and 'id="paid-amount">36.80<' in page
    assert balance(alice) == yuan(1_000) - 3_680 and balance(shop.wallet) == 3_680
    assert 'id="paid-balance">¥ 963.20<' in page

    # Paid: the page says so and offers no button; a POST anyway is refused.
    page = client.get("/pay/", {"code": payload}).content.decode()
    assert 'id="pay-state">PAID<' in page and 'name="nonce"' not in page
    response = client.post("/pay/", {**form, "nonce": "another"})
    assert response.status_code == 409
    assert "REQUEST_ALREADY_PAID" in response.content.decode()
    settle()
    assert balance(alice) == yuan(1_000) - 3_680 and balance(shop.wallet) == 3_680


def test_a_static_code_takes_the_amount_the_holder_enters(world, shop, alice):
    code = services.collection_code_create(actor=shop.staff, merchant=shop.merchant)
    payload = services.request_payload(code)
    client = signed_in(world, alice)
    page = client.get("/pay/", {"code": payload}).content.decode()
    assert 'name="amount"' in page
    form = {"step": "pay", "code": payload, "wallet": alice.number, "nonce": nonce_of(page)}
    response = client.post("/pay/", {**form, "amount": "12.345"})
    assert response.status_code == 400 and "INVALID_AMOUNT" in response.content.decode()
    response = client.post("/pay/", {**form, "amount": "12.34"})
    assert response.status_code == 302
    settle()
    assert balance(alice) == yuan(1_000) - 1_234 and balance(shop.wallet) == 1_234


def test_refusals_are_the_services_and_move_nothing(world, shop, alice):
    made, payload = request_for(shop, 500, "T-2")
    bob = world.wallet("Bob", klass=2, load=100)
    client = signed_in(world, alice)
    # Not one of our codes, or one of ours altered.
    forged = qr.sign(b"k" * 32, qr.Fields(made.code, shop.merchant.code, 1, 2))
    response = client.get("/pay/", {"code": forged})
    assert response.status_code == 400 and "REQUEST_ALTERED" in response.content.decode()
    response = client.get("/pay/", {"code": "https://example.com/pay"})
    assert response.status_code == 400 and "REQUEST_FORGED" in response.content.decode()
    # Someone else's wallet is not one she may pay from.
    page = client.get("/pay/", {"code": payload}).content.decode()
    assert bob.number not in page
    response = client.post(
        "/pay/", {"step": "pay", "code": payload, "wallet": bob.number, "nonce": nonce_of(page)}
    )
    assert response.status_code == 404 and "NOT_FOUND" in response.content.decode()
    settle()
    assert balance(bob) == yuan(100) and balance(alice) == yuan(1_000)
    assert balance(shop.wallet) == 0
    # Nor is anyone else's payment hers to look at.
    bobs = signed_in(world, bob)
    page = bobs.get("/pay/", {"code": payload}).content.decode()
    bobs.post(
        "/pay/", {"step": "pay", "code": payload, "wallet": bob.number, "nonce": nonce_of(page)}
    )
    payment = MerchantPayment.objects.get(request=made)
    assert client.get(f"/pay/payments/{payment.transfer_id}/").status_code == 404
    assert bobs.get(f"/pay/payments/{payment.transfer_id}/").status_code == 200


def test_only_a_live_holder_token_signs_in(world, shop, alice):
    client = Client()
    response = client.post("/pay/", {"step": "sign-in", "token": "ecny_not-a-token"})
    assert response.status_code == 403
    assert "not a live device token" in response.content.decode()
    # Staff tokens are for the API: this page is for holders.
    staff_secret, _ = services.merchant_staff_enrol(
        actor=world.staff_of["ICBC"], merchant=shop.merchant, name="till"
    )
    response = client.post("/pay/", {"step": "sign-in", "token": staff_secret})
    assert response.status_code == 403 and "for wallet holders" in response.content.decode()
    assert 'name="token"' in client.get("/pay/").content.decode()  # still signed out

    # Revoking the device signs the page out at once.
    secret, token = services.holder_device_enrol(
        actor=world.staff_of["ICBC"], holder=alice.holder, name="phone"
    )
    client.post("/pay/", {"step": "sign-in", "token": secret})
    assert 'name="code"' in client.get("/pay/").content.decode()  # signed in: paste a code
    token_revoke(actor=Actor.system(), token_id=token.pk)
    page = client.get("/pay/").content.decode()
    assert 'name="token"' in page
    # Signing out forgets the token too.
    client.post("/pay/", {"step": "sign-in", "token": device_token(world, alice)})
    client.post("/pay/", {"step": "sign-out"})
    assert 'name="token"' in client.get("/pay/").content.decode()


@override_settings(EWALLET_AUTH_FAILURE_RATE="3/min")
def test_guessing_device_tokens_is_answered_429_from_that_address(world, alice):
    fresh_rate_windows()
    guesser = Client(REMOTE_ADDR=f"198.51.100.{secrets.randbelow(250) + 1}")
    for _ in range(3):
        wrong = guesser.post("/pay/", {"step": "sign-in", "token": "ecny_" + secrets.token_hex(8)})
        assert wrong.status_code == 403
    refused = guesser.post("/pay/", {"step": "sign-in", "token": device_token(world, alice)})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many wrong tokens" in refused.content.decode()
    assert 'name="token"' in guesser.get("/pay/").content.decode()  # still signed out
    # Another address signs in with the same good token.
    assert (
        Client(REMOTE_ADDR="198.51.100.251")
        .post("/pay/", {"step": "sign-in", "token": device_token(world, alice)})
        .status_code
        == 302
    )
