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
from tests.helpers import balance, user_with
from tests.settlement.test_workers import start_worker  # noqa: F401  (a fixture)
from tests.wallets.console_world import ConsoleWorld
from wallets.models import (
    AuditVerification,
    Holder,
    IssuanceRequest,
    IssuanceState,
    Operator,
    WalletClass,
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
    icbc = console.world.operators["ICBC"]
    request = request_issuance(console.client("issuer"), icbc, "100")
    approver = console.client("approver")
    approver.post(f"/admin/wallets/operator/{icbc.pk}/suspend/")
    icbc.refresh_from_db()
    assert icbc.status == "SUSPENDED"
    response = approver.post(f"/admin/wallets/issuancerequest/{request.pk}/approve/")
    assert "OPERATOR_SUSPENDED" in response.content.decode()
    approver.post(f"/admin/wallets/operator/{icbc.pk}/reinstate/")
    icbc.refresh_from_db()
    assert icbc.status == "ACTIVE"


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


def test_freeze_orders_full_and_receive_only_with_a_reason(console):
    alice, bob = console.wallets["alice"], console.wallets["bob"]
    approver = console.client("approver")
    response = approver.post(
        "/admin/wallets/walletstatuschange/add/",
        {"wallet": alice.number, "status": "FROZEN", "reason": "court order 17"},
    )
    assert response.status_code == 302
    response = console.client("ccb_staff").post(
        "/admin/wallets/walletstatuschange/add/",
        {"wallet": bob.number, "status": "RECEIVE_ONLY", "reason": "KYC review"},
    )
    assert response.status_code == 302
    alice.account.refresh_from_db()
    bob.account.refresh_from_db()
    assert (alice.account.status, bob.account.status) == ("FROZEN", "RECEIVE_ONLY")
    order = alice.status_changes.get()
    assert (order.reason, order.actor, order.old_status) == (
        "court order 17",
        console.users["approver"],
        "ACTIVE",
    )
    # A frozen wallet refuses a payment, like any other.
    transfer = console.world.pay(alice, bob, 1)
    assert console.world.state(transfer) == ("REJECTED", "WALLET_FROZEN")

    response = approver.post(
        "/admin/wallets/walletstatuschange/add/",
        {"wallet": alice.number, "status": "ACTIVE", "reason": ""},
    )
    assert response.status_code == 200  # a reason is required
    # An issuer may not give orders at all.
    response = console.client("issuer").post(
        "/admin/wallets/walletstatuschange/add/",
        {"wallet": alice.number, "status": "ACTIVE", "reason": "lift"},
    )
    assert response.status_code == 403


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
    assert "KYC_INSUFFICIENT" in response.content.decode()


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
    for username in ["cb_issuer", "cb_approver", "cb_auditor", "cb_policy", "op_staff"]:
        password = text.split(f"{username}")[1].split("password ")[1].split()[0]
        assert Client().login(username=username, password=password), username
        assert User.objects.get(username=username).is_staff
    assert Operator.objects.count() == 8
    # Run again: the same users, new passwords.
    call_command("seed_console", "--password", "s3cret-pass", stdout=io.StringIO())
    assert Client().login(username="op_staff", password="s3cret-pass")
    assert User.objects.filter(username__startswith="cb_").count() == 4


@pytest.mark.worker
def test_verify_now_is_a_job_a_real_worker_runs(start_worker, world):  # noqa: F811
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
