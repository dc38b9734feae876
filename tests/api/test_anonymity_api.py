"""Controllable anonymity over HTTP: what each caller sees of an anonymous holder, the
disclosure of the identity behind a pseudonym with two approvals, and one anonymous wallet
per phone number across operators.

Bob is anonymous (class 4, phone only, at CCB); Alice is named (class 2, at ICBC).
"""

import json

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import AuditEvent, AuditLeaf
from tests.api.conftest import idem, token_for
from tests.helpers import user_with
from wallets.models import Holder, IdempotencyRecord, Wallet
from wallets.roles import Role

CENTRAL_BANK = ["issuer", "approver", "auditor", "policy"]
COURT_ORDER = "Shenzhen Futian court order (2026) Yue 0304 No. 123"


@pytest.fixture
def bob(api):
    holder = api.wallets["bob"].holder
    assert holder.is_anonymous and holder.phone
    return holder


@pytest.fixture
def approver2(api):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {token_for(user_with('approver2', Role.CB_APPROVER))}"
    )
    return client


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


@pytest.mark.parametrize("role", CENTRAL_BANK)
def test_every_central_bank_role_knows_bob_by_pseudonym_only(api, bob, role):
    client = api.client(role)
    number = api.number("bob")
    for path in [
        "/api/v1/wallets",
        f"/api/v1/wallets/{number}",
        f"/api/v1/wallets/{number}/history",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        text = response.content.decode()
        assert "Bob" not in text and bob.phone not in text, path
    shown = client.get(f"/api/v1/wallets/{number}").json()["holder"]
    assert shown["id"] == bob.pseudonym
    assert (shown["name"], shown["phone"]) == (None, None)
    assert shown["identity_link"] == bob.identity_link  # the central bank's own link
    # A named (class 2) holder is traceable: the central bank sees who she is.
    alice = client.get(f"/api/v1/wallets/{api.number('alice')}").json()["holder"]
    assert alice["name"] == "Alice" and alice["phone"] == api.wallets["alice"].holder.phone


@pytest.mark.parametrize("role", ["ccb_staff", "bob"])
def test_bobs_operator_and_bob_see_his_name_and_phone_and_not_the_link(api, bob, role):
    shown = api.client(role).get(f"/api/v1/wallets/{api.number('bob')}").json()["holder"]
    assert (shown["name"], shown["phone"], shown["identity_link"]) == ("Bob", bob.phone, None)


def test_a_disclosure_needs_two_approvals_then_shows_the_identity_once_asked(
    api, bob, approver2, audit_key
):
    issuer, approver = api.client("issuer"), api.client("approver")
    made = issuer.post(
        "/api/v1/disclosures", {"holder": bob.pseudonym, "reason": COURT_ORDER}, format="json",
        **idem(),
    )  # fmt: skip
    assert made.status_code == 201, made.content
    disclosure = made.json()
    assert made["Location"] == f"/api/v1/disclosures/{disclosure['id']}"
    assert (disclosure["state"], disclosure["holder"], disclosure["operator"]) == (
        "REQUESTED",
        bob.pseudonym,
        "CCB",
    )
    assert (disclosure["approvals_needed"], disclosure["approvals"]) == (2, [])
    identity = f"/api/v1/disclosures/{disclosure['id']}/identity"
    approve = f"/api/v1/disclosures/{disclosure['id']}/approve"

    key = idem()
    once = approver.post(approve, format="json", **key)
    assert once.status_code == 200 and once.json()["state"] == "REQUESTED"
    # A retry with the same key replays the answer; the approval counts once.
    again = approver.post(approve, format="json", **key)
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    problem(approver.post(approve, format="json", **idem()), 409, "DUPLICATE_APPROVAL")

    # Disclosure refused with one approval, to the requester and the approver alike.
    for client in (issuer, approver):
        body = problem(client.get(identity), 409, "DISCLOSURE_NOT_APPROVED")
        assert (body["approvals"], body["approvals_needed"]) == (1, 2)
        assert "Bob" not in json.dumps(body) and bob.phone not in json.dumps(body)

    done = approver2.post(approve, format="json", **idem())
    assert done.status_code == 200
    assert done.json()["state"] == "APPROVED"
    assert [a["approver"] for a in done.json()["approvals"]] == ["checker", "approver2"]

    shown = issuer.get(identity)
    assert shown.status_code == 200 and shown["Cache-Control"] == "no-store"
    body = shown.json()
    assert (body["name"], body["phone"], body["operator"], body["holder"]) == (
        "Bob",
        bob.phone,
        "CCB",
        bob.pseudonym,
    )
    assert body["wallets"] == [api.number("bob")]
    assert AuditEvent.objects.get(pk=body["audit_event"]).kind == "identity_disclosure.read"
    # The rest of the central bank sees the request, not the identity.
    for role in ("auditor", "policy"):
        problem(api.client(role).get(identity), 403, "PERMISSION_DENIED")
        page = api.client(role).get(f"/api/v1/disclosures/{disclosure['id']}").content.decode()
        assert bob.pseudonym in page and "Bob" not in page and bob.phone not in page
    listed = api.client("auditor").get("/api/v1/disclosures?state=APPROVED").json()["results"]
    assert [row["id"] for row in listed] == [disclosure["id"]]
    assert api.client("auditor").get("/api/v1/disclosures?state=REQUESTED").json()["results"] == []

    # Nothing kept for replays holds the identity; the audit log names the pseudonym only.
    kept = json.dumps(list(IdempotencyRecord.objects.values_list("response_body", flat=True)))
    assert bob.phone not in kept and '"Bob"' not in kept
    logged = b"".join(
        bytes(data)
        for data in AuditLeaf.objects.filter(event__isnull=False).values_list(
            "leaf_bytes", flat=True
        )
    )
    kinds = list(AuditEvent.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == [
        "identity_disclosure.requested",
        "identity_disclosure.approved",  # once, however often the retry came
        "identity_disclosure.approved",
        "identity_disclosure.read",  # the issuer's; refused readings read nothing
    ]
    assert bob.pseudonym.encode() in logged
    assert bob.phone.encode() not in logged and b'"Bob"' not in logged
    checkpoint_seal()
    assert audit_verify().ok


def test_every_refusal_of_a_disclosure_has_its_code(api, bob, approver2):
    issuer, approver = api.client("issuer"), api.client("approver")
    disclose = {"holder": bob.pseudonym, "reason": COURT_ORDER}
    alice = api.wallets["alice"].holder
    problem(
        issuer.post("/api/v1/disclosures", {**disclose, "holder": alice.pseudonym},
                    format="json", **idem()),
        400,
        "INVALID_INPUT",
    )  # fmt: skip
    problem(
        issuer.post("/api/v1/disclosures", {**disclose, "holder": "h_" + "0" * 24},
                    format="json", **idem()),
        404,
        "NOT_FOUND",
    )  # fmt: skip
    body = problem(
        issuer.post("/api/v1/disclosures", {"holder": bob.pseudonym}, format="json", **idem()),
        400,
        "INVALID_INPUT",
    )
    assert body["errors"][0]["pointer"] == "/reason"
    problem(
        approver.post("/api/v1/disclosures", disclose, format="json", **idem()),
        403,
        "PERMISSION_DENIED",
    )

    # The requester holding the approver's role too cannot approve or reject their own.
    api.users["issuer"].groups.add(Group.objects.get(name=Role.CB_APPROVER))
    both = api.client("issuer")
    made = both.post("/api/v1/disclosures", disclose, format="json", **idem()).json()
    url = f"/api/v1/disclosures/{made['id']}"
    problem(both.post(f"{url}/approve", format="json", **idem()), 403, "MAKER_CHECKER")
    problem(both.post(f"{url}/reject", {"reason": "mine"}, format="json"), 403, "MAKER_CHECKER")
    # One rejection, then every decision is refused, and the identity stays hidden.
    assert approver.post(f"{url}/approve", format="json", **idem()).status_code == 200
    rejected = approver2.post(f"{url}/reject", {"reason": "wrong number"}, format="json")
    assert rejected.json()["state"] == "REJECTED"
    assert rejected.json()["rejected_by"] == "approver2"
    problem(approver2.post(f"{url}/approve", format="json", **idem()), 409, "DISCLOSURE_DECIDED")
    body = problem(both.get(f"{url}/identity"), 409, "DISCLOSURE_NOT_APPROVED")
    assert body["state"] == "REJECTED"
    problem(approver.get("/api/v1/disclosures/999999"), 404, "NOT_FOUND")
    problem(approver.post("/api/v1/disclosures/999999/approve", format="json", **idem()),
            404, "NOT_FOUND")  # fmt: skip
    # Operator staff and holders: 403 whatever the id, so nothing tells one exists.
    for role in ("ccb_staff", "bob"):
        for path in (url, "/api/v1/disclosures/999999", f"{url}/identity"):
            problem(api.client(role).get(path), 403, "PERMISSION_DENIED")


def test_one_anonymous_wallet_per_phone_number_across_operators(api):
    phone = "13700137000"
    opened = api.client("icbc_staff").post(
        "/api/v1/wallets",
        {"holder": {"display_name": "Wu", "kyc_method": "PHONE_ONLY", "phone": phone}},
        format="json",
    )
    assert opened.status_code == 201, opened.content
    holders = Holder.objects.count()
    refused = api.client("ccb_staff").post(
        "/api/v1/wallets",
        {"holder": {"display_name": "W.", "kyc_method": "PHONE_ONLY", "phone": f"+86{phone}"}},
        format="json",
    )
    body = problem(refused, 409, "WALLET_LIMIT_PER_PERSON")
    assert (body["wallet_class"], body["limit"]) == (4, 1)
    # Nothing of where the other wallet is, and nothing made: no wallet, no KYC record.
    text = json.dumps(body)
    assert "ICBC" not in text and opened.json()["number"] not in text
    assert Holder.objects.count() == holders
    assert not Wallet.objects.filter(holder__phone=f"+86{phone}").exists()
