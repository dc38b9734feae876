"""Console actions as worked examples, through the pages a person would use: maker-checker
issuance, redemption, rejection, limits with their history, freeze orders, load and
unload, onboarding, audit verify. Real commits (settlement runs when a request commits).
"""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from ewallet.money import yuan
from settlement.selectors import money_totals
from tests.helpers import balance, password_login, user_with
from tests.wallets.console_world import ConsoleWorld
from wallets.models import (
    AuditVerification,
    FreezeOrder,
    Holder,
    IssuanceRequest,
    IssuanceState,
    Operator,
    WalletClass,
    WebhookEndpoint,
)
from wallets.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def console(world):
    return ConsoleWorld.build(world)


def request_issuance(client, operator: Operator, amount: str, direction="ISSUE"):
    response = client.post(
        "/admin/wallets/issuancerequest/add/",
        {"operator": operator.pk, "direction": direction, "amount": amount},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    return IssuanceRequest.objects.latest("pk")


def test_maker_requests_checker_approves_and_circulation_rises_by_exactly_the_amount(console):
    """Request 123,456.78 CNY for ICBC; a different approver approves; circulation, the
    liability and the backing each rise by exactly 12,345,678 fen, ICBC's vault too."""
    icbc = console.world.operators["ICBC"]
    before, vault_before = money_totals(), balance(icbc.vault_account)

    request = request_issuance(console.client("issuer"), icbc, "123456.78")
    assert (request.state, request.maker, request.amount) == (
        IssuanceState.REQUESTED,
        console.users["issuer"],
        12_345_678,
    )
    assert money_totals() == before  # a request alone moves nothing

    approver = console.client("approver")
    page = approver.get(f"/admin/wallets/issuancerequest/{request.pk}/approve/").content.decode()
    assert "123,456.78 CNY" in page
    response = approver.post(f"/admin/wallets/issuancerequest/{request.pk}/approve/")
    assert response.status_code == 302

    request.refresh_from_db()
    assert (request.state, request.checker) == (IssuanceState.APPROVED, console.users["approver"])
    request.transfer.refresh_from_db()
    assert request.transfer.state == "SETTLED"
    after = money_totals()
    assert after.circulation - before.circulation == 12_345_678
    assert -after.issuance - -before.issuance == 12_345_678
    assert after.backing - before.backing == 12_345_678
    assert after.balanced
    assert balance(icbc.vault_account) - vault_before == 12_345_678

    # The dashboard shows the new circulation.
    dashboard = approver.get("/admin/").content.decode()
    assert f'data-fen="{after.circulation}"' in dashboard


def test_self_approval_is_refused_and_moves_nothing(console):
    """One person holding both roles makes a request and tries to approve it."""
    both = user_with("both", Role.CB_ISSUER, Role.CB_APPROVER)
    both.is_staff = True
    both.save()
    client = Client()
    client.force_login(both)
    before = money_totals()
    request = request_issuance(client, console.world.operators["CCB"], "5000")

    response = client.post(f"/admin/wallets/issuancerequest/{request.pk}/approve/")
    assert response.status_code == 200
    assert "MAKER_CHECKER: the maker of a request cannot approve or reject it" in (
        response.content.decode()
    )
    response = client.post(
        f"/admin/wallets/issuancerequest/{request.pk}/reject/", {"reason": "changed my mind"}
    )
    assert "MAKER_CHECKER" in response.content.decode()
    request.refresh_from_db()
    assert (request.state, request.checker, request.transfer) == ("REQUESTED", None, None)
    assert money_totals() == before


def test_the_maker_sees_no_approve_button_and_may_not_use_it(console):
    request = request_issuance(console.client("issuer"), console.world.operators["ICBC"], "10")
    issuer = console.client("issuer")
    page = issuer.get(f"/admin/wallets/issuancerequest/{request.pk}/change/").content.decode()
    assert f"/admin/wallets/issuancerequest/{request.pk}/approve/" not in page
    assert issuer.post(f"/admin/wallets/issuancerequest/{request.pk}/approve/").status_code == 403
    page = (
        console.client("approver")
        .get(f"/admin/wallets/issuancerequest/{request.pk}/change/")
        .content.decode()
    )
    assert f"/admin/wallets/issuancerequest/{request.pk}/approve/" in page


def test_redemption_lowers_circulation_and_rejection_needs_a_reason(console):
    ccb = console.world.operators["CCB"]
    before = money_totals()
    redeem = request_issuance(console.client("issuer"), ccb, "2500.50", direction="REDEEM")
    approver = console.client("approver")
    approver.post(f"/admin/wallets/issuancerequest/{redeem.pk}/approve/")
    assert money_totals().circulation == before.circulation - 250_050

    issue = request_issuance(console.client("issuer"), ccb, "99")
    response = approver.post(f"/admin/wallets/issuancerequest/{issue.pk}/reject/", {"reason": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    approver.post(f"/admin/wallets/issuancerequest/{issue.pk}/reject/", {"reason": "too much"})
    issue.refresh_from_db()
    assert (issue.state, issue.reason, issue.transfer) == ("REJECTED", "too much", None)
    assert money_totals().circulation == before.circulation - 250_050


def test_bad_amounts_are_refused_on_the_form(console):
    issuer = console.client("issuer")
    for amount in ["0", "-5", "1.234", "1e5", "abc"]:
        response = issuer.post(
            "/admin/wallets/issuancerequest/add/",
            {
                "operator": console.world.operators["ICBC"].pk,
                "direction": "ISSUE",
                "amount": amount,
            },
        )
        assert response.status_code == 200, amount
    assert not IssuanceRequest.objects.filter(state="REQUESTED").exists()


def test_a_suspended_operator_cannot_be_issued_to(console):
    """A request made before ICBC's suspension is not approved while it lasts, and no new
    one can name ICBC; reinstated, the same request is approved."""
    icbc = console.world.operators["ICBC"]
    request = request_issuance(console.client("issuer"), icbc, "100")
    approver = console.client("approver")
    assert approver.post(f"/admin/wallets/operator/{icbc.pk}/suspend/").status_code == 302
    icbc.refresh_from_db()
    assert icbc.status == "SUSPENDED"
    before = money_totals()
    response = approver.post(f"/admin/wallets/issuancerequest/{request.pk}/approve/")
    assert response.status_code == 200
    assert "OPERATOR_SUSPENDED: operator ICBC is suspended" in response.content.decode()
    request.refresh_from_db()
    assert (request.state, request.checker, request.transfer) == ("REQUESTED", None, None)
    response = console.client("issuer").post(
        "/admin/wallets/issuancerequest/add/",
        {"operator": icbc.pk, "direction": "ISSUE", "amount": "100"},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert list(IssuanceRequest.objects.filter(state="REQUESTED")) == [request]
    assert money_totals() == before

    assert approver.post(f"/admin/wallets/operator/{icbc.pk}/reinstate/").status_code == 302
    icbc.refresh_from_db()
    assert icbc.status == "ACTIVE"
    assert approver.post(f"/admin/wallets/issuancerequest/{request.pk}/approve/").status_code == 302
    assert money_totals().circulation == before.circulation + 10_000


def test_onboarding_an_operator_credits_its_reserve(console):
    response = console.client("approver").post(
        "/admin/wallets/operator/add/",
        {"code": "webank", "name": "WeBank", "name_zh": "微众银行", "reserve_deposit": "750000"},
    )
    assert response.status_code == 302
    webank = Operator.objects.get(code="WEBANK")
    assert balance(webank.reserve_account) == yuan(750_000)


def test_limit_changes_apply_to_wallets_and_are_recorded_with_who_and_when(console):
    policy = console.client("policy")
    anon = console.wallets["anon"]  # class 4
    response = policy.post(
        "/admin/wallets/walletclass/4/limits/",
        {"balance_cap": "1000", "single_limit": "500", "daily_limit": "1000", "annual_limit": ""},
    )
    assert response.status_code == 302
    klass = WalletClass.objects.get(number=4)
    assert (klass.balance_cap, klass.single_limit, klass.annual_limit) == (100_000, 50_000, None)
    anon.account.refresh_from_db()
    assert (anon.account.balance_cap, anon.account.single_limit) == (100_000, 50_000)

    change = klass.history.latest()
    assert change.history_user == console.users["policy"]
    assert (change.balance_cap, change.single_limit) == (100_000, 50_000)
    page = policy.get("/admin/wallets/historicalwalletclass/").content.decode()
    assert "policy" in page and "1,000.00" in page

    # Only the policy role may; the page refuses others, and the service would too.
    response = console.client("approver").post(
        "/admin/wallets/walletclass/4/limits/", {"balance_cap": "1"}
    )
    assert response.status_code == 403
    assert WalletClass.objects.get(number=4).balance_cap == 100_000


def give_order(client, wallet, scope: str, reason: str):
    return client.post(
        "/admin/wallets/freezeorder/add/",
        {"wallet": wallet.number, "scope": scope, "reason": reason},
    )


def lift(client, order, reason: str):
    return client.post(f"/admin/wallets/freezeorder/{order.pk}/lift/", {"reason": reason})


def status(wallet) -> str:
    wallet.account.refresh_from_db()
    return wallet.account.status


def test_freeze_orders_stack_and_each_authority_lifts_its_own(console):
    """The central bank orders Alice's wallet frozen (court order 17); CCB puts Bob's on
    receive-only (KYC review); ICBC adds an order of its own on Alice's. Lifting the
    central bank's leaves ICBC's in force (receive-only); lifting ICBC's frees it. Each
    change of status is in the wallet's history with the order that made it."""
    alice, bob = console.wallets["alice"], console.wallets["bob"]
    approver, icbc = console.client("approver"), console.client("icbc_staff")

    response = give_order(approver, alice, "FULL", "court order 17")
    assert response.status_code == 302
    court = FreezeOrder.objects.get(wallet=alice)
    assert (court.authority, court.operator, court.scope, court.ordered_by) == (
        "CENTRAL_BANK",
        None,
        "FULL",
        console.users["approver"],
    )
    response = give_order(console.client("ccb_staff"), bob, "RECEIVE_ONLY", "KYC review")
    assert response.status_code == 302
    review = FreezeOrder.objects.get(wallet=bob)
    assert (review.authority, review.operator.code, review.scope) == (
        "OPERATOR",
        "CCB",
        "RECEIVE_ONLY",
    )
    assert (status(alice), status(bob)) == ("FROZEN", "RECEIVE_ONLY")
    # A frozen wallet refuses a payment, like any other; a receive-only one pays nothing out
    # and still receives.
    assert console.world.state(console.world.pay(alice, bob, 1)) == ("REJECTED", "WALLET_FROZEN")
    assert console.world.state(console.world.pay(bob, alice, 1)) == (
        "REJECTED",
        "WALLET_RECEIVE_ONLY",
    )

    assert give_order(icbc, alice, "RECEIVE_ONLY", "KYC refresh").status_code == 302
    refresh = FreezeOrder.objects.get(wallet=alice, authority="OPERATOR")
    assert status(alice) == "FROZEN"  # the full order still holds
    page = icbc.get(f"/admin/wallets/wallet/{alice.pk}/change/").content.decode()
    assert f"#{court.pk} Full freeze (nothing in or out) by the central bank: court order" in page
    assert f"#{refresh.pk} Receive only (nothing out) by the operator: KYC refresh" in page

    # A lifting needs a reason.
    response = lift(approver, court, "")
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    court.refresh_from_db()
    assert court.in_force

    page = approver.get(f"/admin/wallets/freezeorder/{court.pk}/lift/").content.decode()
    assert "court order 17" in page and "the central bank" in page
    response = lift(approver, court, "court order set aside")
    assert response.status_code == 302
    court.refresh_from_db()
    assert (court.in_force, court.lifted_by, court.lift_reason) == (
        False,
        console.users["approver"],
        "court order set aside",
    )
    assert status(alice) == "RECEIVE_ONLY"  # ICBC's order is still in force
    # A lifted order is not lifted again.
    assert lift(approver, court, "again").status_code == 403

    assert lift(icbc, refresh, "KYC refreshed").status_code == 302
    assert status(alice) == "ACTIVE"
    assert [
        (change.old_status, change.new_status, change.order_id, change.actor.username)
        for change in alice.status_changes.order_by("pk")
    ] == [
        ("ACTIVE", "FROZEN", court.pk, "checker"),
        ("FROZEN", "RECEIVE_ONLY", court.pk, "checker"),
        ("RECEIVE_ONLY", "ACTIVE", refresh.pk, "staff"),
    ]
    page = console.client("auditor").get("/admin/wallets/walletstatuschange/").content.decode()
    assert f"freeze order #{court.pk} lifted: court order set aside" in page
    # An issuer gives no orders at all.
    response = give_order(console.client("issuer"), alice, "FULL", "lift")
    assert response.status_code == 403
    assert alice.freeze_orders.count() == 2


def test_the_wrong_authority_is_not_offered_lift_and_its_post_changes_nothing(console):
    """The central bank's approver may not lift ICBC's order, nor ICBC's staff the
    central bank's: no Lift button, and the page refuses the POST (403) before any
    service runs."""
    alice, anon = console.wallets["alice"], console.wallets["anon"]
    approver, icbc = console.client("approver"), console.client("icbc_staff")
    give_order(icbc, alice, "FULL", "suspected fraud")
    give_order(approver, anon, "FULL", "sanctions list")
    icbc_order = FreezeOrder.objects.get(wallet=alice)
    cb_order = FreezeOrder.objects.get(wallet=anon)

    for client, order in [(approver, icbc_order), (icbc, cb_order)]:
        page = client.get(f"/admin/wallets/freezeorder/{order.pk}/change/").content.decode()
        assert f"/admin/wallets/freezeorder/{order.pk}/lift/" not in page
        assert lift(client, order, "not mine").status_code == 403
        order.refresh_from_db()
        assert (order.in_force, order.lifted_by, order.lift_reason) == (True, None, "")
    assert (status(alice), status(anon)) == ("FROZEN", "FROZEN")
    assert [c.new_status for c in alice.status_changes.all()] == ["FROZEN"]
    # The right authority is offered the button.
    for client, order in [(icbc, icbc_order), (approver, cb_order)]:
        page = client.get(f"/admin/wallets/freezeorder/{order.pk}/change/").content.decode()
        assert f"/admin/wallets/freezeorder/{order.pk}/lift/" in page


def test_operator_staff_close_an_empty_wallet_under_no_order(console):
    """ICBC closes Alice's wallet: refused on the form while it holds money and while an
    order is in force; closed once unloaded and freed; then it neither pays nor receives."""
    alice, bob = console.wallets["alice"], console.wallets["bob"]
    icbc = console.client("icbc_staff")
    close = f"/admin/wallets/wallet/{alice.pk}/close/"

    response = icbc.post(close, {"reason": "holder asked"})
    assert response.status_code == 200
    assert "INVALID_STATE: unload the balance before closing a wallet" in response.content.decode()
    icbc.post(f"/admin/wallets/wallet/{alice.pk}/unload/", {"amount": "1000", "nonce": "all"})
    assert balance(alice) == 0
    give_order(icbc, alice, "RECEIVE_ONLY", "dispute")
    response = icbc.post(close, {"reason": "holder asked"})
    assert "INVALID_STATE: a wallet under a freeze order cannot close" in (
        response.content.decode()
    )
    assert status(alice) == "RECEIVE_ONLY"
    lift(icbc, alice.freeze_orders.get(), "dispute settled")
    # Only the wallet's operator closes it.
    assert console.client("approver").post(close, {"reason": "x"}).status_code == 403
    assert console.client("ccb_staff").post(close, {"reason": "x"}).status_code == 404

    response = icbc.post(close, {"reason": "holder asked"})
    assert response.status_code == 302
    assert status(alice) == "CLOSED"
    change = alice.status_changes.latest("pk")
    assert (change.old_status, change.new_status, change.reason, change.order) == (
        "ACTIVE",
        "CLOSED",
        "holder asked",
        None,
    )
    assert console.world.state(console.world.pay(bob, alice, 1)) == ("REJECTED", "WALLET_CLOSED")
    response = give_order(console.client("approver"), alice, "FULL", "too late")
    assert f"WALLET_CLOSED: wallet {alice.number} is closed" in response.content.decode()
    assert response.status_code == 200 and alice.freeze_orders.count() == 1


def test_operator_staff_load_and_unload_their_wallets(console):
    alice = console.wallets["alice"]
    icbc = console.client("icbc_staff")
    before = balance(alice)
    page = icbc.get(f"/admin/wallets/wallet/{alice.pk}/load/").content.decode()
    nonce = page.split('name="nonce" value="')[1].split('"')[0]
    for _ in range(2):  # the same form submitted twice loads once
        response = icbc.post(
            f"/admin/wallets/wallet/{alice.pk}/load/", {"amount": "250.25", "nonce": nonce}
        )
        assert response.status_code == 302
    assert balance(alice) == before + 25_025
    icbc.post(f"/admin/wallets/wallet/{alice.pk}/unload/", {"amount": "0.25", "nonce": "n2"})
    assert balance(alice) == before + 25_000


def test_operator_staff_onboard_a_holder_with_a_first_wallet(console):
    response = console.client("ccb_staff").post(
        "/admin/wallets/holder/add/",
        {
            "display_name": "Chen Jing",
            "kind": "PERSON",
            "kyc_method": "PHONE_ONLY",
            "phone": "13900000000",
            "id_number": "",
            "bank_account": "",
            "wallet_class": "",
        },
    )
    assert response.status_code == 302
    holder = Holder.objects.get(display_name="Chen Jing")
    wallet = holder.wallets.get()
    assert (wallet.operator.code, wallet.wallet_class_id) == ("CCB", 4)
    # Class 2 needs more KYC than a phone number: the service refuses, the form says so.
    response = console.client("ccb_staff").post(
        "/admin/wallets/holder/add/",
        {"display_name": "Li", "kind": "PERSON", "kyc_method": "PHONE_ONLY",
         "phone": "139", "wallet_class": "2"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "KYC_INSUFFICIENT: Phone number only (anonymous) allows class 4 at best" in (
        response.content.decode()
    )
    assert not Holder.objects.filter(display_name="Li").exists()


def test_verify_now_runs_audit_verify_and_shows_the_result(console, audit_key):
    from settlement.audit.checkpoint import checkpoint_seal

    checkpoint_seal()
    auditor = console.client("auditor")
    page = auditor.get("/admin/wallets/auditverification/").content.decode()
    assert "signature-state" in page and "valid" in page
    response = auditor.post("/admin/wallets/auditverification/verify/")
    assert response.status_code == 302
    run = AuditVerification.objects.get()
    assert run.ok is True and run.finished_at is not None
    assert run.requested_by == console.users["auditor"]
    assert run.summary.startswith("OK:")
    page = auditor.get("/admin/wallets/auditverification/").content.decode()
    assert "OK:" in page
    dashboard = auditor.get("/admin/").content.decode()
    assert "last audit verify" in dashboard and "checkpoint 0: signature valid" in dashboard
    # Operator staff may not.
    assert (
        console.client("icbc_staff").post("/admin/wallets/auditverification/verify/").status_code
        == 403
    )


def test_seed_console_creates_one_user_per_role_who_can_log_in(transactional_db):
    out = io.StringIO()
    call_command("seed_console", stdout=out)
    text = out.getvalue()
    for username in [
        "cb_issuer",
        "cb_approver",
        "cb_approver2",
        "cb_auditor",
        "cb_policy",
        "op_staff",
        "shop_staff",
    ]:
        password = text.split(f"{username}")[1].split("password ")[1].split()[0]
        assert password_login(Client(), username, password), username
        assert User.objects.get(username=username).is_staff
    assert Operator.objects.count() == 8
    # Run again: the same users, new passwords.
    call_command("seed_console", "--password", "s3cret-pass-2026", stdout=io.StringIO())
    assert password_login(Client(), "op_staff", "s3cret-pass-2026")
    assert password_login(Client(), "shop_staff", "s3cret-pass-2026")
    assert User.objects.filter(username__startswith="cb_").count() == 5
    # The shop's staff see their own merchant's pages.
    shop = Client()
    password_login(shop, "shop_staff", "s3cret-pass-2026")
    page = shop.get("/admin/wallets/merchant/").content.decode()
    assert "Luohu Fresh Market" in page
    # ... and its one webhook, registered once however often the seed runs.
    hook = WebhookEndpoint.objects.get()
    assert (hook.merchant.name, hook.active) == ("Luohu Fresh Market", True)
    page = shop.get("/admin/wallets/webhookendpoint/").content.decode()
    assert hook.url in page and hook.secret not in page


@pytest.mark.worker
def test_verify_now_is_a_job_a_real_worker_runs(start_worker, world):
    """With Redis and a `celery worker`, the page queues the job and the worker records it."""
    import time

    start_worker()
    console = ConsoleWorld.build(world)
    response = console.client("approver").post("/admin/wallets/auditverification/verify/")
    assert response.status_code == 302
    run = AuditVerification.objects.get()
    deadline = time.monotonic() + 60
    while run.finished_at is None:
        assert time.monotonic() < deadline, "the worker never finished audit verify"
        time.sleep(0.2)
        run.refresh_from_db()
    assert run.ok is True and run.started_at >= run.requested_at
    page = console.client("approver").get("/admin/wallets/auditverification/").content.decode()
    assert run.summary in page


def test_the_limits_table_switches_to_the_ccb_2020_preset_and_back(console):
    policy = console.client("policy")
    assert policy.get("/admin/wallets/walletclass/preset/").status_code == 200
    assert console.client("approver").get("/admin/wallets/walletclass/preset/").status_code == 403
    response = policy.post("/admin/wallets/walletclass/preset/", {"preset": "ccb_2020"})
    assert response.status_code == 302
    klass = WalletClass.objects.get(number=4)
    assert klass.limits() == {
        "balance_cap": yuan(1_000),
        "single_limit": yuan(500),
        "daily_limit": yuan(1_000),
        "annual_limit": yuan(10_000),
    }
    anon = console.wallets["anon"]
    anon.account.refresh_from_db()
    assert anon.account.annual_limit == yuan(10_000)
    policy.post("/admin/wallets/walletclass/preset/", {"preset": "caixin_2021"})
    assert WalletClass.objects.get(number=4).limits()["balance_cap"] == yuan(10_000)
    assert klass.history.filter(history_user=console.users["policy"]).count() == 2


def test_console_actions_are_kept_in_each_rows_history(console):
    from django.contrib.admin.models import LogEntry

    request = request_issuance(console.client("issuer"), console.world.operators["ICBC"], "10")
    console.client("approver").post(f"/admin/wallets/issuancerequest/{request.pk}/approve/")
    entries = LogEntry.objects.filter(object_id=str(request.pk)).order_by("pk")
    assert [(entry.user.username, entry.change_message.split(":")[0]) for entry in entries] == [
        ("maker", f"request {request.pk} made"),
        ("checker", f"request {request.pk} approved"),
    ]
    page = console.client("auditor").get(f"/admin/wallets/issuancerequest/{request.pk}/history/")
    assert f"request {request.pk} approved" in page.content.decode()
