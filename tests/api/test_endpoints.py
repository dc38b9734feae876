"""What each endpoint does, beyond who may call it (test_authorization.py)."""

import base64
import io
from decimal import Decimal

from django.core.management import call_command

from ewallet import celery_app
from settlement.audit import merkle, proofs
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.offline import verify_receipt
from settlement.models import Checkpoint
from tests.api.conftest import fresh_rate_windows, idem
from tests.helpers import balance
from wallets.models import ApiToken, Wallet


def test_tokens_are_issued_listed_and_revoked_through_the_api(api):
    alice = api.client("alice")
    created = alice.post("/api/v1/tokens", {"name": "laptop", "ttl_days": 30}, format="json")
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("ecny_") and created.json()["expires_at"]

    listed = alice.get("/api/v1/tokens").json()
    assert {t["name"] for t in listed} == {"test", "laptop"}
    minted_with = {t["name"]: t["minted_with"] for t in listed}
    test_token = ApiToken.objects.get(user__username="alice", name="test").pk
    assert minted_with == {"test": None, "laptop": test_token}  # dies with the test token
    assert all("token" not in t for t in listed)  # the secret is never shown again
    assert ApiToken.objects.filter(key_hash__contains=secret).count() == 0

    laptop = api.client(None)
    laptop.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert laptop.get("/api/v1/me").json()["username"] == "alice"
    assert alice.delete(f"/api/v1/tokens/{created.json()['id']}").status_code == 204
    assert laptop.get("/api/v1/me").status_code == 401
    assert alice.get("/api/v1/me").status_code == 200  # the other token still works


def test_the_apitoken_command_creates_lists_and_revokes(api):
    out = io.StringIO()
    call_command("apitoken", "create", "--user", "bob", "--name", "cli", stdout=out)
    secret = out.getvalue().strip()
    client = api.client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/me").status_code == 200
    listing = io.StringIO()
    call_command("apitoken", "list", "--user", "bob", stdout=listing)
    assert "cli" in listing.getvalue() and secret not in listing.getvalue()
    token_id = ApiToken.objects.get(user__username="bob", name="cli").pk
    call_command("apitoken", "revoke", str(token_id), stdout=io.StringIO())
    assert client.get("/api/v1/me").status_code == 401


def test_requests_beyond_the_rate_get_429_with_retry_after(api, settings):
    settings.EWALLET_API_RATE = "3/m"
    fresh_rate_windows()
    alice = api.client("alice")
    statuses = [alice.get("/api/v1/me") for _ in range(5)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    limited = statuses[3]
    assert limited.status_code == 429
    assert limited.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert api.client("bob").get("/api/v1/me").status_code == 200  # per user


def test_wallet_detail_shows_limits_and_what_is_used(api):
    alice = api.number("alice")
    api.client("alice").post(
        "/api/v1/transfers",
        {"payer": alice, "payee": api.number("shop"), "amount": "120.50"},
        format="json",
        **idem(),
    )
    detail = api.client("alice").get(f"/api/v1/wallets/{alice}").json()
    assert detail["balance"] == "879.50" and detail["wallet_class"] == 2
    assert detail["limits"]["single"] == "50000.00"
    assert detail["limits"]["daily"] == {
        "limit": "100000.00",
        "limit_fen": 10_000_000,
        "used": "120.50",
        "used_fen": 12_050,
        "remaining": "99879.50",
        "remaining_fen": 9_987_950,
    }


def test_wallet_detail_shows_what_pending_transfers_hold(api):
    from datetime import timedelta

    from settlement import services as ledger
    from settlement.models import TransferKind

    alice, shop = (Wallet.objects.get(number=api.number(n)) for n in ("alice", "shop"))
    pending, _ = ledger.transfer_reserve(
        kind=TransferKind.P2P,
        legs=[ledger.LegSpec(alice.account_id, shop.account_id, 30_000)],
        idempotency_key="hold-1",
        timeout=timedelta(hours=1),
    )
    ledger.transfers_settle()
    detail = api.client("alice").get(f"/api/v1/wallets/{alice.number}").json()
    assert (detail["balance"], detail["reserved"], detail["reserved_fen"]) == (
        "1000.00",
        "300.00",
        30_000,
    )
    ledger.transfer_void(pending=pending, idempotency_key="void-1")
    ledger.transfers_settle()
    assert api.client("alice").get(f"/api/v1/wallets/{alice.number}").json()["reserved"] == "0.00"


def test_history_filters_and_cursor_pages(api):
    alice, shop, bob = api.number("alice"), api.number("shop"), api.number("bob")
    client = api.client("icbc_staff")
    for amount in ("1.00", "2.00", "3.00"):
        client.post(
            "/api/v1/transfers",
            {"payer": alice, "payee": shop, "amount": amount},
            format="json",
            **idem(),
        )
    history = f"/api/v1/wallets/{alice}/history"
    everything = client.get(history).json()["results"]
    assert [e["amount"] for e in everything] == ["-3.00", "-2.00", "-1.00", "1000.00"]
    assert [e["counterparty"] for e in everything[:3]] == [shop] * 3

    first = client.get(history, {"page_size": 2}).json()
    assert [e["amount"] for e in first["results"]] == ["-3.00", "-2.00"]
    second = client.get(first["next"]).json()
    assert [e["amount"] for e in second["results"]] == ["-1.00", "1000.00"]
    assert second["next"] is None

    assert {e["kind"] for e in client.get(history, {"kind": "LOAD"}).json()["results"]} == {"LOAD"}
    by_shop = client.get(history, {"counterparty": shop}).json()["results"]
    assert len(by_shop) == 3
    assert client.get(history, {"counterparty": bob}).json()["results"] == []
    later = client.get(history, {"since": everything[0]["created_at"]}).json()["results"]
    assert [e["amount"] for e in later] == ["-3.00"]
    bad = client.get(history, {"since": "yesterday"})
    assert (bad.status_code, bad.json()["errors"][0]["pointer"]) == (400, "/since")
    assert client.get(history, {"cursor": "garbage"}).status_code == 400


def test_load_unload_and_a_freeze_through_the_api(api):
    staff, alice = api.client("icbc_staff"), api.wallets["alice"]
    path = f"/api/v1/wallets/{alice.number}"
    assert (
        staff.post(f"{path}/load", {"amount": "50.00"}, format="json", **idem()).status_code == 202
    )
    assert balance(alice) == 105_000
    assert (
        staff.post(f"{path}/unload", {"amount": "5.00"}, format="json", **idem()).status_code == 202
    )
    assert balance(alice) == 104_500

    frozen = staff.post(
        f"{path}/freezes", {"scope": "FULL", "reason": "court order"}, format="json"
    )
    assert frozen.status_code == 201
    assert (frozen.json()["authority"], frozen.json()["operator"]) == ("OPERATOR", "ICBC")
    assert (frozen.json()["in_force"], frozen.json()["ordered_by"]) == (True, "staff")
    assert staff.get(path).json()["status"] == "FROZEN"
    paid = api.client("alice").post(
        "/api/v1/transfers?wait=2000",
        {"payer": alice.number, "payee": api.number("shop"), "amount": "1.00"},
        format="json",
        **idem(),
    )
    assert (paid.status_code, paid.json()["reject_code"]) == (201, "WALLET_FROZEN")
    assert balance(alice) == 104_500

    upgrade = staff.post(f"{path}/class", {"wallet_class": 1}, format="json")
    assert (upgrade.status_code, upgrade.json()["code"]) == (400, "KYC_INSUFFICIENT")

    closing = staff.post(f"{path}/close", {"reason": "asked to"}, format="json")
    assert (closing.status_code, closing.json()["code"]) == (409, "INVALID_STATE")  # not empty
    lifted = staff.post(
        f"{path}/freezes/{frozen.json()['id']}/lift", {"reason": "order withdrawn"}, format="json"
    )
    assert lifted.status_code == 200
    assert (lifted.json()["in_force"], lifted.json()["lift_reason"]) == (False, "order withdrawn")
    assert staff.get(path).json()["status"] == "ACTIVE"


def test_a_wallet_closes_only_when_empty_and_unfrozen_and_then_stays_closed(api):
    staff = api.client("icbc_staff")
    opened = staff.post(
        "/api/v1/wallets", {"holder_id": api.wallets["alice"].holder.pseudonym}, format="json"
    )
    path = f"/api/v1/wallets/{opened.json()['number']}"
    order = staff.post(f"{path}/freezes", {"scope": "RECEIVE_ONLY", "reason": "kyc"}, format="json")
    assert order.json()["scope"] == "RECEIVE_ONLY"
    under_order = staff.post(f"{path}/close", {"reason": "asked to"}, format="json")
    assert (under_order.status_code, under_order.json()["code"]) == (409, "INVALID_STATE")
    staff.post(f"{path}/freezes/{order.json()['id']}/lift", {"reason": "done"}, format="json")
    no_reason = staff.post(f"{path}/close", {}, format="json")
    assert [e["pointer"] for e in no_reason.json()["errors"]] == ["/reason"]

    closed = staff.post(f"{path}/close", {"reason": "asked to"}, format="json")
    assert (closed.status_code, closed.json()["status"]) == (200, "CLOSED")
    again = staff.post(f"{path}/freezes", {"scope": "FULL", "reason": "late"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "WALLET_CLOSED")
    load = staff.post(f"{path}/load", {"amount": "1.00"}, format="json", **idem())
    assert load.status_code == 202
    assert staff.get(load["Location"]).json()["state"] == "REJECTED"
    assert balance(Wallet.objects.get(number=opened.json()["number"])) == 0


def test_opening_a_wallet_takes_the_class_the_kyc_allows(api):
    staff = api.client("icbc_staff")
    opened = staff.post(
        "/api/v1/wallets",
        {
            "holder": {
                "display_name": "Chen",
                "kyc_method": "REMOTE_ID",
                "id_number": "110101199001011234",
            }
        },
        format="json",
    )
    assert opened.status_code == 201
    assert (opened.json()["wallet_class"], opened.json()["operator"]) == (3, "ICBC")
    assert opened["Location"] == f"/api/v1/wallets/{opened.json()['number']}"
    second = staff.post(
        "/api/v1/wallets", {"holder_id": opened.json()["holder"]["id"]}, format="json"
    )
    assert second.status_code == 201 and second.json()["holder"] == opened.json()["holder"]
    weak = staff.post(
        "/api/v1/wallets",
        {"holder": {"display_name": "Anon", "kyc_method": "PHONE_ONLY", "phone": "13900000000"},
         "wallet_class": 2},
        format="json",
    )  # fmt: skip
    assert (weak.status_code, weak.json()["code"]) == (400, "KYC_INSUFFICIENT")
    both = staff.post("/api/v1/wallets", {"holder_id": "x", "holder": {}}, format="json")
    assert both.status_code == 400


def test_an_approved_issuance_raises_circulation_by_exactly_its_amount(api):
    before = api.client("auditor").get("/api/v1/money-supply").json()
    made = (
        api.client("issuer")
        .post(
            "/api/v1/issuances",
            {"operator": "icbc", "direction": "ISSUE", "amount": "12345.67"},
            format="json",
            **idem(),
        )
        .json()
    )
    assert made["state"] == "REQUESTED" and made["maker"] == "maker"
    approved = (
        api.client("approver")
        .post(f"/api/v1/issuances/{made['id']}/approve", format="json", **idem())
        .json()
    )
    assert approved["state"] == "APPROVED" and approved["checker"] == "checker"
    after = api.client("auditor").get("/api/v1/money-supply").json()
    assert Decimal(after["circulation"]) - Decimal(before["circulation"]) == Decimal("12345.67")
    assert after["fully_backed"] is True

    def icbc(supply):
        return Decimal({row["operator"]: row for row in supply["by_operator"]}["ICBC"]["vault"])

    assert icbc(after) - icbc(before) == Decimal("12345.67")
    again = api.client("approver").post(
        f"/api/v1/issuances/{made['id']}/reject", {"reason": "late"}, format="json"
    )
    assert (again.status_code, again.json()["code"]) == (409, "INVALID_STATE")


def test_consistency_proofs_verify_and_bad_sizes_are_refused(api, audit_key):
    first = checkpoint_seal().size
    api.world.wallet("Dan", load=10)
    second = checkpoint_seal().size
    anyone = api.client(None)
    proof = anyone.get("/api/v1/audit/consistency", {"first": first, "second": second}).json()
    decode = base64.b64decode
    assert merkle.verify_consistency(
        first,
        second,
        decode(proof["first_root"]),
        decode(proof["second_root"]),
        [decode(node) for node in proof["proof"]],
    )
    latest = anyone.get("/api/v1/audit/checkpoints/latest").json()
    assert latest["size"] == second and proof["second_root"] == latest["root_hash"]
    assert proof == proofs.consistency_proof(first=first, second=second)
    assert anyone.get("/api/v1/audit/consistency", {"first": 3, "second": 2}).status_code == 400
    beyond = anyone.get("/api/v1/audit/consistency", {"first": 1, "second": second + 1})
    assert (beyond.status_code, beyond.json()["code"]) == (409, "NOT_CHECKPOINTED")


def test_a_receipt_get_never_seals_it_waits_for_the_next_checkpoint(api, audit_key):
    alice = api.client("alice")
    paid = alice.post(
        "/api/v1/transfers",
        {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "8.88"},
        format="json",
        **idem(),
    ).json()
    assert alice.get(f"/api/v1/transfers/{paid['id']}").json()["state"] == "SETTLED"
    receipt_url = f"/api/v1/transfers/{paid['id']}/receipt"

    checkpoints = Checkpoint.objects.count()
    early = alice.get(receipt_url)
    assert (early.status_code, early.json()["code"]) == (409, "NOT_CHECKPOINTED")
    assert early["Content-Type"] == "application/problem+json"
    assert Checkpoint.objects.count() == checkpoints  # the GET sealed nothing

    checkpoint_seal()
    receipt = alice.get(receipt_url)
    assert receipt.status_code == 200
    trusted = str(audit_key)
    assert verify_receipt(receipt.json(), trusted_key=trusted)["transfer"] == paid["id"]
    assert receipt.json() == proofs.transfer_receipt(transfer_id=paid["id"])


def test_a_receipt_before_settlement_is_a_409(api, audit_key):
    from settlement.models import Transfer, TransferKind, TransferLeg

    pending = Transfer.objects.create(kind=TransferKind.P2P, idempotency_key="pending")
    TransferLeg.objects.create(
        transfer=pending,
        seq=0,
        asset="ECNY",
        debit_id=api.wallets["alice"].account_id,
        credit_id=api.wallets["shop"].account_id,
        amount=1,
    )
    response = api.client("alice").get(f"/api/v1/transfers/{pending.pk}/receipt")
    assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")


def test_health_reports_a_broker_that_does_not_answer(api, monkeypatch):
    """Not mocked: the broker URL points at a port nothing listens on."""
    ok = api.client(None).get("/api/v1/health")
    assert ok.status_code == 200 and ok.json()["database"]["ok"] is True
    nowhere = "redis://127.0.0.1:1/0"
    # Celery reads CELERY_BROKER_URL from the environment before its own setting.
    monkeypatch.setenv("CELERY_BROKER_URL", nowhere)
    eager, url = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = nowhere
    try:
        degraded = api.client(None).get("/api/v1/health")
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = eager, url
    assert degraded.status_code == 503
    body = degraded.json()
    assert body["status"] == "degraded" and body["broker"]["ok"] is False
    assert body["workers"]["ok"] is False
