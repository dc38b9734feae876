"""The API end to end, over HTTP: a gunicorn server, PostgreSQL, Redis and a real
`celery worker --beat`. Issue, open wallets, load, pay, see it settle, wait for beat's
checkpoint, fetch and check the receipt.
"""

import os
import time
import uuid

import pytest
import requests

from settlement.audit.offline import verify_receipt
from settlement.audit.verify import audit_verify
from tests.api.conftest import token_for
from tests.helpers import staff_of, user_with
from wallets import services
from wallets.actors import Actor
from wallets.loadrun.server import GunicornServer
from wallets.roles import Role

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(start_worker, tmp_path):
    worker = start_worker()
    server = GunicornServer(worker.env, tmp_path / "gunicorn.log")
    yield server
    server.stop()


class Caller:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=30)

    def post(self, path: str, body: dict | None = None, *, key: bool = True, **params):
        headers = {"Idempotency-Key": uuid.uuid4().hex} if key else {}
        return self.session.post(
            self.base + path, json=body, params=params, headers=headers, timeout=30
        )

    def settled(self, transfer_id: int, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            transfer = self.get(f"/api/v1/transfers/{transfer_id}").json()
            if transfer["state"] != "RECEIVED":
                return transfer
            time.sleep(0.1)
        raise AssertionError(f"transfer {transfer_id} was never decided")


def test_issue_open_load_pay_settle_and_prove_over_http(server):
    services.reference_data_ensure()
    users = {
        "issuer": user_with("issuer", Role.CB_ISSUER),
        "approver": user_with("approver", Role.CB_APPROVER),
    }
    icbc = services.operator_onboard(
        actor=Actor.of(users["approver"]), code="ICBC", name="ICBC", reserve_deposit=10**9
    )
    users["staff"] = staff_of(icbc, "staff").user
    issuer, approver, staff = (
        Caller(server.url, token_for(users[name], "e2e"))
        for name in ("issuer", "approver", "staff")
    )

    health = requests.get(f"{server.url}/api/v1/health", timeout=10).json()
    assert health["status"] == "ok", health
    assert health["workers"]["count"] >= 1 and health["database"]["vendor"] == "postgresql"

    # The central bank issues 10,000 yuan to ICBC: maker, then checker.
    made = issuer.post(
        "/api/v1/issuances", {"operator": "ICBC", "direction": "ISSUE", "amount": "10000"}
    )
    assert made.status_code == 201, made.text
    approved = approver.post(f"/api/v1/issuances/{made.json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approver.settled(approved.json()["transfer"])["state"] == "SETTLED"

    # ICBC opens two wallets from KYC evidence and loads one.
    alice = staff.post(
        "/api/v1/wallets",
        {"holder": {"display_name": "Alice", "kyc_method": "REMOTE_ID_BANK",
                    "id_number": "110101199001011234", "bank_account": "6222000011112222"}},
        key=False,
    )  # fmt: skip
    shop = staff.post(
        "/api/v1/wallets",
        {"holder": {"display_name": "Tea shop", "kind": "MERCHANT", "kyc_method": "IN_PERSON",
                    "id_number": "91110000600037341X"}},
        key=False,
    )  # fmt: skip
    assert (alice.status_code, shop.status_code) == (201, 201), (alice.text, shop.text)
    alice, shop = alice.json()["number"], shop.json()["number"]
    assert staff.get(f"/api/v1/wallets/{alice}").json()["wallet_class"] == 2
    load = staff.post(f"/api/v1/wallets/{alice}/load", {"amount": "500.00"})
    assert load.status_code == 202, load.text
    assert staff.settled(load.json()["id"])["state"] == "SETTLED"

    # A payment that waits for its settlement, made by the worker, not this process.
    paid = staff.post(
        "/api/v1/transfers", {"payer": alice, "payee": shop, "amount": "12.34"}, wait=10000
    )
    assert paid.status_code == 201, paid.text
    assert (paid.json()["state"], paid.json()["kind"]) == ("SETTLED", "MERCHANT")
    assert staff.get(paid.headers["Location"]).json()["state"] == "SETTLED"
    detail = staff.get(f"/api/v1/wallets/{alice}").json()
    assert detail["balance"] == "487.66"
    assert detail["limits"]["daily"]["used"] == "12.34"

    # A batch of 200 from ICBC's staff, each item settled once.
    items = [
        {"payer": alice, "payee": shop, "amount": "0.01", "idempotency_key": f"b-{i}"}
        for i in range(200)
    ]
    batch = staff.post("/api/v1/transfers/batch", {"transfers": items})
    assert batch.status_code == 202 and batch.json()["accepted"] == 200, batch.text
    last = batch.json()["results"][-1]["id"]
    assert staff.settled(last)["state"] == "SETTLED"
    deadline = time.monotonic() + 30
    while staff.get("/api/v1/transfers", state="RECEIVED").json()["results"]:
        assert time.monotonic() < deadline, "the batch never finished settling"
        time.sleep(0.2)
    assert staff.get(f"/api/v1/wallets/{shop}").json()["balance"] == "14.34"

    # The receipt proves the payment is in the signed log; anyone can check it offline.
    # A GET never seals: until beat's next checkpoint covers the payment it answers 409.
    receipt = staff.get(f"/api/v1/transfers/{paid.json()['id']}/receipt")
    deadline = time.monotonic() + 30
    while receipt.status_code == 409 and receipt.json()["code"] == "NOT_CHECKPOINTED":
        assert time.monotonic() < deadline, "no checkpoint ever covered the payment"
        time.sleep(0.1)
        receipt = staff.get(f"/api/v1/transfers/{paid.json()['id']}/receipt")
    assert receipt.status_code == 200, receipt.text
    keys = requests.get(f"{server.url}/api/v1/audit/keys", timeout=10).json()
    checked = verify_receipt(receipt.json(), trusted_key=keys[0]["verifier_key"])
    assert checked["transfer"] == paid.json()["id"]
    latest = requests.get(f"{server.url}/api/v1/audit/checkpoints/latest", timeout=10).json()
    proof = requests.get(
        f"{server.url}/api/v1/audit/consistency",
        params={"first": receipt.json()["tree_size"], "second": latest["size"]},
        timeout=10,
    )
    assert proof.status_code == 200, proof.text

    report = audit_verify()
    assert report.ok, report.mismatch
    assert os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")
