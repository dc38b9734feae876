"""A QR payment in real browsers: the merchant's staff in the console, the holder on the
pay-by-code page of their phone, each in a browser context of their own.

The Tea House's staff sign in to the console and make a payment request of 36.80 CNY for
order T-1001; its page shows the QR code, and the test reads the payload beside it. Alice
opens the code on the pay page, signs in with her wallet app's device token, sees whom she
pays, how much and for what, and pays from her wallet. The merchant reloads the request:
PAID; it refunds 10.00 from the payment's page. Every balance is checked to the fen.
Screenshots go to var/artifacts/e2e/ (and with EWALLET_UPDATE_SCREENSHOTS=1, the README's
to docs/screenshots/).
"""

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from ewallet.money import yuan
from tests.e2e.browsing import PASSWORD, log_in, shot
from tests.helpers import balance, settle
from wallets import services
from wallets.models import MerchantPayment, PaymentRequest

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 414, "height": 860}


@pytest.fixture
def acquiring(world):
    """ICBC acquires the Luohu Tea House, whose back office has a console login; Alice
    (ICBC, class 2, 1,000 CNY) has her wallet app enrolled by ICBC."""
    icbc = world.staff_of["ICBC"]
    shop = services.merchant_register(
        actor=icbc,
        name="Luohu Tea House",
        mcc="5812",
        region="440303",
        licence_number="91440300MA5T000001",
    )
    services.merchant_staff_enrol(
        actor=icbc, merchant=shop, name="back office", username="teahouse", password=PASSWORD
    )
    alice = world.wallet("Alice", klass=2, load=1_000)
    device, _ = services.holder_device_enrol(actor=icbc, holder=alice.holder, name="Alice's phone")
    return shop, alice, device


def test_merchant_asks_holder_pays_by_code_merchant_sees_it_paid(browser, live_server, acquiring):
    base = live_server.url
    shop, alice, device = acquiring
    wallet = shop.settlement_wallet

    # The merchant: the dashboard, Payment requests from the sidebar, a new request.
    merchant = log_in(browser, base, "teahouse", "#merchant-balance")
    assert merchant.locator("#merchant-balance").get_attribute("data-fen") == "0"
    merchant.get_by_role("link", name="Payment requests").first.click()
    merchant.locator("a[href$='/admin/wallets/paymentrequest/new/']").first.click()
    merchant.fill("input[name=amount]", "36.80")
    merchant.fill("input[name=order_reference]", "T-1001")
    merchant.fill("input[name=memo]", "two pots of oolong")
    merchant.get_by_role("button", name="Make the code").click()
    expect(merchant.get_by_text("show its code to the payer")).to_be_visible()
    qr_image = merchant.locator("#request-qr")
    expect(qr_image).to_be_visible()
    assert qr_image.evaluate("image => image.complete && image.naturalWidth > 0")
    payload = merchant.locator("#request-payload").inner_text().strip()
    request = PaymentRequest.objects.get(order_reference="T-1001")
    assert services.request_from_payload(payload) == request
    expect(merchant.get_by_text("OPEN", exact=True)).to_be_visible()
    shot(merchant, "merchant-request", fit=True)

    # The holder, on her phone: the scanned code opens the pay page; she signs in.
    holder = browser.new_context(viewport=PHONE).new_page()
    holder.goto(f"{base}/pay/?code={quote(payload)}")
    holder.fill("input[name=token]", device)
    holder.get_by_role("button", name="Sign in").click()
    expect(holder.locator("#pay-merchant")).to_have_text("Luohu Tea House")
    expect(holder.locator("#pay-amount")).to_have_text("36.80")
    expect(holder.locator("#pay-order")).to_have_text("T-1001")
    holder.select_option("select[name=wallet]", alice.number)
    shot(holder, "pay-page")
    holder.get_by_role("button", name="Pay ¥ 36.80").click()
    expect(holder.locator("#paid-transfer")).to_be_visible()
    payment = MerchantPayment.objects.get(request=request)
    expect(holder.locator("#paid-transfer")).to_have_text(f"#{payment.transfer_id}")
    settle()  # settled on commit already (in-process); a second pass finds nothing left
    holder.reload()
    expect(holder.locator("#paid-state")).to_have_text("SETTLED")
    expect(holder.locator("#paid-balance")).to_have_text("¥ 963.20")
    shot(holder, "pay-paid")
    assert balance(alice) == yuan(1_000) - 3_680
    assert balance(wallet) == 3_680

    # The merchant reloads the request: paid.
    merchant.reload()
    expect(merchant.get_by_text("PAID", exact=True)).to_be_visible()
    shot(merchant, "merchant-request-paid", docs=False, fit=True)

    # And refunds 10.00 of it from the payment's page.
    merchant.locator(
        f"a[href$='/admin/wallets/merchantpayment/{payment.pk}/change/']"
    ).first.click()
    merchant.locator(f"a[href$='/admin/wallets/merchantpayment/{payment.pk}/refund/']").click()
    expect(merchant.locator("[data-fact='left to refund']")).to_have_text("36.80 CNY")
    merchant.fill("input[name=amount]", "10.00")
    merchant.fill("textarea[name=reason]", "one pot spilt")
    merchant.get_by_role("button", name="Refund").click()
    expect(merchant.get_by_text("refund of 10.00 CNY on payment")).to_be_visible()
    shot(merchant, "merchant-payment-refunded", docs=False, fit=True)
    settle()
    assert balance(alice) == yuan(1_000) - 3_680 + 1_000
    assert balance(wallet) == 2_680
    merchant.goto(f"{base}/admin/")
    assert merchant.locator("#merchant-balance").get_attribute("data-fen") == "2680"
