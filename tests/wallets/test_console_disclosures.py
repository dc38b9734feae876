"""Controllable anonymity through the console's pages.

The issuer opens Anon's holder page (a pseudonym to her), asks for disclosure with a
court order's reference; one approver approves and the identity page stays shut; a
second approver approves; the issuer reads Anon's name and phone on a page answered
no-store, the reading is in the audit log, and the disclosure's page lists its events
and still shows no name or phone, nor does its history. The requester cannot approve her
own request even holding both roles. Policy staff set one person's wallets per class on
the class's page, and the cap refuses ICBC staff onboarding the same phone number again.
"""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group

from settlement.audit.verify import audit_verify
from settlement.models import AuditEvent
from tests.helpers import user_with
from tests.wallets.console_world import PHONES, ConsoleWorld
from wallets.models import IdentityDisclosure, WalletClass
from wallets.roles import Role

pytestmark = pytest.mark.django_db

COURT_ORDER = "Shenzhen Futian court order (2026) Yue 0304 No. 123"


@pytest.fixture
def console(world):
    console = ConsoleWorld.build(world)
    second = user_with("checker2", Role.CB_APPROVER)
    second.is_staff = True
    second.save(update_fields=["is_staff"])
    console.users["approver2"] = second
    return console


def text(response) -> str:
    return response.content.decode()


def test_two_approvals_through_the_pages_then_the_requester_reads_the_identity(console):
    anon = console.wallets["anon"].holder
    issuer, approver, approver2 = (
        console.client(who) for who in ("issuer", "approver", "approver2")
    )
    holder_page = text(issuer.get(f"/admin/wallets/holder/{anon.pk}/change/"))
    assert f"/admin/wallets/holder/{anon.pk}/disclose/" in holder_page
    assert "Anon" not in holder_page and PHONES["anon"] not in holder_page
    response = issuer.get(f"/admin/wallets/holder/{anon.pk}/disclose/")
    assert response.status_code == 302
    form = issuer.get(response["Location"])
    assert anon.pseudonym in text(form)  # the form comes filled in with the pseudonym
    response = issuer.post(
        "/admin/wallets/identitydisclosure/add/", {"holder": anon.pseudonym, "reason": COURT_ORDER}
    )
    assert response.status_code == 302, text(response)
    disclosure = IdentityDisclosure.objects.get()
    page_url = f"/admin/wallets/identitydisclosure/{disclosure.pk}/change/"
    identity_url = f"/admin/wallets/identitydisclosure/{disclosure.pk}/identity/"

    # The requester sees no Approve; the approver does.
    assert f"{disclosure.pk}/approve/" not in text(issuer.get(page_url))
    assert f"{disclosure.pk}/approve/" in text(approver.get(page_url))
    assert (
        approver.post(f"/admin/wallets/identitydisclosure/{disclosure.pk}/approve/").status_code
        == 302
    )
    # One approval: no one reads the identity yet, and the approver approves no more.
    page = text(approver.get(page_url))
    assert "1 of 2" in page and f"{disclosure.pk}/approve/" not in page
    for client in (issuer, approver):
        assert client.get(identity_url).status_code == 403
        assert client.post(identity_url).status_code == 403
    assert (
        approver2.post(f"/admin/wallets/identitydisclosure/{disclosure.pk}/approve/").status_code
        == 302
    )

    page = text(issuer.get(page_url))
    assert "2 of 2" in page and f"{disclosure.pk}/identity/" in page
    assert issuer.get(identity_url).status_code == 200  # a confirmation first: reads nothing
    assert not AuditEvent.objects.filter(kind="identity_disclosure.read").exists()
    shown = issuer.post(identity_url)
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    assert "Anon" in text(shown) and PHONES["anon"] in text(shown)
    read = AuditEvent.objects.get(kind="identity_disclosure.read")
    assert read.data == {"disclosure": disclosure.pk, "holder": anon.pseudonym, "by": "maker"}

    # The rest of the central bank sees the request and its log, never the identity.
    for who in ("auditor", "policy"):
        client = console.client(who)
        page = text(client.get(page_url))
        assert anon.pseudonym in page and COURT_ORDER in page
        assert "Anon" not in page and PHONES["anon"] not in page
        assert "requested by maker" in page  # its audit log, on the page
        assert client.post(identity_url).status_code == 403
    log = text(console.client("auditor").get(page_url))
    for step in ("requested", "approved", "read"):
        assert f"{step} by" in log
    history = " ".join(f"{e.object_repr} {e.change_message}" for e in LogEntry.objects.all())
    assert "Anon" not in history and PHONES["anon"] not in history
    assert audit_verify().ok


def test_the_requester_holding_both_roles_cannot_approve_her_own_request(console):
    console.users["issuer"].groups.add(Group.objects.get(name=Role.CB_APPROVER))
    both = console.client("issuer")
    anon = console.wallets["anon"].holder
    both.post(
        "/admin/wallets/identitydisclosure/add/", {"holder": anon.pseudonym, "reason": COURT_ORDER}
    )
    disclosure = IdentityDisclosure.objects.get()
    page = text(both.get(f"/admin/wallets/identitydisclosure/{disclosure.pk}/change/"))
    assert f"{disclosure.pk}/approve/" not in page and f"{disclosure.pk}/reject/" not in page
    assert (
        both.post(f"/admin/wallets/identitydisclosure/{disclosure.pk}/approve/").status_code == 403
    )
    assert not disclosure.approvals.exists()


def test_a_named_holder_is_refused_on_the_form(console):
    alice = console.wallets["alice"].holder
    response = console.client("issuer").post(
        "/admin/wallets/identitydisclosure/add/",
        {"holder": alice.pseudonym, "reason": COURT_ORDER},
    )
    assert response.status_code == 200
    assert "INVALID_INPUT" in text(response) and "not anonymous" in text(response)
    assert not IdentityDisclosure.objects.exists()


def test_policy_staff_set_wallets_per_person_and_onboarding_twice_is_refused(console):
    policy = console.client("policy")
    assert "wallets per person" in text(policy.get("/admin/wallets/walletclass/"))
    limits = {"balance_cap": "10000", "single_limit": "2000", "daily_limit": "5000"}
    response = policy.post(
        "/admin/wallets/walletclass/4/limits/",
        {**limits, "annual_limit": "", "wallets_per_person": "2"},
    )
    assert response.status_code == 302
    assert WalletClass.objects.get(number=4).wallets_per_person == 2
    # A form without the field leaves the cap as it was.
    policy.post("/admin/wallets/walletclass/4/limits/", {**limits, "annual_limit": ""})
    assert WalletClass.objects.get(number=4).wallets_per_person == 2
    response = policy.post(
        "/admin/wallets/walletclass/4/limits/",
        {**limits, "annual_limit": "", "wallets_per_person": "0"},
    )
    assert "INVALID_INPUT" in text(response)
    policy.post(
        "/admin/wallets/walletclass/4/limits/",
        {**limits, "annual_limit": "", "wallets_per_person": "1"},
    )

    # Anon's phone number already holds ICBC's class-4 wallet: CCB cannot onboard it again.
    response = console.client("ccb_staff").post(
        "/admin/wallets/holder/add/",
        {
            "display_name": "Anon again",
            "kind": "PERSON",
            "kyc_method": "PHONE_ONLY",
            "phone": PHONES["anon"],
            "wallet_class": "",
        },
    )
    assert response.status_code == 200
    assert "WALLET_LIMIT_PER_PERSON" in text(response) and "ICBC" not in text(response)
