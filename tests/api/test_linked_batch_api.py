"""Linked items of /transfers/batch: a chain is queued whole or refused whole, and settles
whole or is rejected whole; each bad input's answer, and nothing moved when refused."""

import pytest

from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import Transfer
from tests.api.conftest import idem
from tests.helpers import balance


@pytest.fixture
def dora(api):
    """A second ICBC wallet, empty: the operator's batches pay from ICBC wallets only."""
    return api.world.wallet("Dora", klass=2)


def item(payer, payee, amount, key, **extra) -> dict:
    return {"payer": payer, "payee": payee, "amount": amount, "idempotency_key": key, **extra}


def post_batch(api, items):
    return api.client("icbc_staff").post(
        "/api/v1/transfers/batch", {"transfers": items}, format="json", **idem()
    )


def transfer(api, transfer_id) -> dict:
    return api.client("icbc_staff").get(f"/api/v1/transfers/{transfer_id}").json()


def balances(api, dora) -> tuple[int, int, int]:
    return balance(api.wallets["alice"]), balance(dora), balance(api.wallets["shop"])


def test_a_chain_whose_second_payment_fails_moves_nothing(api, dora):
    alice, shop = api.number("alice"), api.number("shop")
    before = balances(api, dora)
    # Dora pays the shop 700.00 out of the 600.00 Alice pays her first: one too many.
    response = post_batch(
        api,
        [
            item(alice, dora.number, "600.00", "a1", linked=True),
            item(dora.number, shop, "700.00", "a2"),
        ],
    )
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 202]
    first, second = (transfer(api, r["id"]) for r in results)
    assert (first["state"], first["reject_code"]) == ("REJECTED", "LINKED_FAILED")
    assert (second["state"], second["reject_code"]) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert first["link"] == second["link"] is not None
    assert balances(api, dora) == before


def test_a_chain_that_stands_settles_every_member(api, dora, audit_key):
    alice, shop = api.number("alice"), api.number("shop")
    response = post_batch(
        api,
        [
            item(alice, dora.number, "600.00", "b1", linked=True),
            item(dora.number, shop, "500.00", "b2"),
            item(alice, shop, "1.00", "b3"),
        ],
    )
    results = response.json()["results"]
    states = [transfer(api, r["id"]) for r in results]
    assert [t["state"] for t in states] == ["SETTLED"] * 3
    assert states[0]["link"] == states[1]["link"] and states[2]["link"] is None
    assert balances(api, dora) == (100_000 - 60_100, 10_000, 50_100)
    checkpoint_seal()
    assert audit_verify().ok


def test_a_member_refused_at_submission_refuses_its_chain_and_nothing_else(api, dora):
    alice, shop = api.number("alice"), api.number("shop")
    response = post_batch(
        api,
        [
            item(alice, dora.number, "1.00", "c1", linked=True),
            item(alice, "9" * 16, "1.00", "c2", linked=True),  # no such wallet
            item(alice, shop, "1.00", "c3"),
            item(alice, shop, "2.00", "c4"),  # not in the chain: queued
        ],
    )
    body = response.json()
    assert (response.status_code, body["accepted"], body["refused"]) == (202, 1, 3)
    problems = [(r["status"], r["problem"] and r["problem"]["code"]) for r in body["results"]]
    assert problems == [
        (422, "LINKED_FAILED"),
        (404, "NOT_FOUND"),
        (422, "LINKED_FAILED"),
        (202, None),
    ]
    assert body["results"][0]["problem"]["linked_failed"] == 1
    assert not Transfer.objects.filter(idempotency_key__in=["api:c1", "api:c2", "api:c3"])


def test_a_batch_ending_in_an_open_chain_is_a_400_and_queues_nothing(api, dora):
    alice = api.number("alice")
    response = post_batch(api, [item(alice, dora.number, "1.00", "d1", linked=True)])
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "LINKED_CHAIN_OPEN" in response.text
    assert balance(dora) == 0


@pytest.mark.parametrize("linked", ["true", 1, None, []])
def test_linked_must_be_true_or_false(api, dora, linked):
    alice = api.number("alice")
    items = [
        item(alice, dora.number, "1.00", "e1", linked=linked),
        item(alice, dora.number, "1.00", "e2"),
    ]
    response = post_batch(api, items)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["pointer"].startswith("/transfers/0/linked")
    assert balance(dora) == 0


def test_a_chain_replays_in_a_new_request_as_the_same_chain(api, dora):
    alice, shop = api.number("alice"), api.number("shop")
    chain = [
        item(alice, dora.number, "3.00", "f1", linked=True),
        item(dora.number, shop, "3.00", "f2"),
    ]
    first = post_batch(api, chain).json()["results"]
    again = post_batch(api, chain).json()["results"]
    assert [(r["status"], r["id"]) for r in again] == [(200, r["id"]) for r in first]
    # Its keys unlinked are another request, not a replay.
    unlinked = post_batch(api, [{**chain[0], "linked": False}, chain[1]]).json()["results"]
    assert [r["problem"]["code"] for r in unlinked] == ["IDEMPOTENCY_CONFLICT"] * 2
    assert balance(api.wallets["shop"]) == 300
