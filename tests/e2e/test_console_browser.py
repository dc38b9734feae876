"""The console in a real browser: headless Chromium (Debian's, /usr/bin/chromium, which
`make test` installs when missing) driven by Playwright against a live server.

A maker logs in and requests an issuance; an approver logs in and approves it; the
dashboard shows circulation risen by exactly that amount. Screenshots of the issuance
pages and the dashboard are saved under var/artifacts/e2e/ (EWALLET_ARTIFACTS_DIR), and
with EWALLET_UPDATE_SCREENSHOTS=1 also to docs/screenshots/ for the README.
"""

import pytest
from playwright.sync_api import Page, expect

from ewallet.money import yuan
from settlement.audit.checkpoint import checkpoint_seal
from settlement.selectors import money_totals
from tests.e2e.browsing import PASSWORD, shot
from tests.e2e.browsing import log_in as console_log_in
from tests.helpers import staff_of
from wallets import services
from wallets.models import IssuanceRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(world, audit_key):
    """The world's maker and checker as console users, and some activity to chart."""
    staff_of(world.operators["ICBC"], "icbc_desk")
    for user in (world.maker.user, world.checker.user):
        user.is_staff = True
        user.set_password(PASSWORD)
        user.save()
    alice = world.wallet("Alice", klass=2, load=3_000)
    bob = world.wallet("Bob", klass=4, operator="CCB", load=200)
    shop = world.wallet("Tea shop", klass=1, merchant=True, operator="CCB")
    for amount in (12, 30, 45, 2_500, 8):  # 2,500 from a class-4 wallet: LIMIT_SINGLE
        world.pay(bob if amount == 2_500 else alice, shop, amount)
    world.pay(alice, bob, 20_000)  # above Alice's funds: INSUFFICIENT_FUNDS
    services.wallet_class_update(actor=world.policy, number=3, daily_limit=yuan(8_000))
    checkpoint_seal()
    return world


def log_in(browser, base: str, username: str) -> Page:
    return console_log_in(browser, base, username, "#circulation-total")


def circulation_shown(page: Page) -> int:
    return int(page.locator("#circulation-total").get_attribute("data-fen"))


def test_maker_requests_approver_approves_dashboard_shows_it(browser, live_server, people):
    base = live_server.url
    before = money_totals().circulation

    # The maker: the dashboard, then Issuance & redemption from the sidebar, then Add.
    maker = log_in(browser, base, "maker")
    assert circulation_shown(maker) == before
    maker.get_by_role("link", name="Issuance & redemption").first.click()
    maker.locator("a[href$='/admin/wallets/issuancerequest/add/']").first.click()
    maker.select_option("select[name=operator]", label="ICBC")
    maker.select_option("select[name=direction]", "ISSUE")
    maker.fill("input[name=amount]", "250000.00")
    shot(maker, "issuance-request")
    maker.get_by_role("button", name="Request").click()
    expect(maker.get_by_text("a different approver must now decide it")).to_be_visible()
    request = IssuanceRequest.objects.get(state="REQUESTED")
    assert request.maker == people.maker.user
    assert maker.locator(f"a[href$='/{request.pk}/approve/']").count() == 0  # not hers to approve

    # The approver: the request from the list, Approve, confirm.
    approver = log_in(browser, base, "checker")
    approver.goto(f"{base}/admin/wallets/issuancerequest/")
    expect(approver.get_by_text("REQUESTED").first).to_be_visible()
    shot(approver, "issuance-list")
    approver.locator(
        f"a[href$='/admin/wallets/issuancerequest/{request.pk}/change/']"
    ).first.click()
    approver.locator(f"a[href$='/{request.pk}/approve/']").first.click()
    expect(approver.locator("[data-fact=amount]")).to_have_text("250,000.00 CNY")
    shot(approver, "issuance-approve")
    approver.get_by_role("button", name="Approve").click()
    expect(approver.get_by_text(f"request {request.pk} approved")).to_be_visible()
    shot(approver, "issuance-approved")

    # The dashboard: circulation risen by exactly 250,000.00 CNY, still 100% backed.
    approver.goto(f"{base}/admin/")
    assert circulation_shown(approver) == before + 25_000_000
    expect(approver.locator("#backing-check")).to_have_attribute("data-balanced", "true")
    approver.wait_for_timeout(1200)  # let the charts finish drawing
    shot(approver, "dashboard")
    assert money_totals().circulation == before + 25_000_000
