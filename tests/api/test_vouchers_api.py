"""Consumption vouchers over HTTP: Alice wins a 200 voucher of the Luohu programme, pays
236.80 at the Luohu Fresh Market by QR code (the answer shows both legs), and reads what
is left on her voucher; the programme's page shows its totals from the ledger."""

from datetime import timedelta

from django.utils import timezone

from tests.api.conftest import idem
from wallets import services


def test_a_voucher_paid_by_qr_and_read_back(api):
    world = api.world
    government = world.wallet("Luohu District Government", klass=1, load=1_000)
    now = timezone.now()
    programme = services.voucher_programme_create(
        actor=world.policy,
        name="Luohu red envelopes",
        government_wallet=government,
        voucher_amount=20_000,
        count=2,
        mccs=["5411"],
        regions=["440303"],
        valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(days=7),
        seed=20201012,
    )
    services.voucher_programme_fund(actor=world.staff, programme=programme)
    alice = api.wallets["alice"]
    services.voucher_apply(actor=api.actors["alice"], programme=programme, wallet=alice)
    services.voucher_lottery_draw(actor=world.policy, programme=programme)
    shop = world.merchant("Luohu Fresh Market")
    request = services.payment_request_create(actor=shop.staff, amount=23_680)

    answer = api.client("alice").post(
        "/api/v1/payments/qr?wait=2000",
        {"payload": services.request_payload(request), "wallet": alice.number},
        format="json",
        **idem(),
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["state"] == "SETTLED"
    assert [(leg["debit"].split(":")[0], leg["amount"]) for leg in body["legs"]] == [
        ("voucher", "200.00"),
        (alice.number, "36.80"),
    ]

    vouchers = api.client("alice").get(f"/api/v1/wallets/{alice.number}/vouchers").json()
    (voucher,) = vouchers["results"]
    assert (voucher["programme"], voucher["amount"], voucher["balance_fen"]) == (
        programme.pk,
        "200.00",
        0,
    )
    page = api.client("bob").get(f"/api/v1/voucher-programmes/{programme.pk}").json()
    assert page["totals"] == {
        "funded_fen": 40_000,
        "granted_fen": 20_000,
        "spent_fen": 20_000,
        "returned_fen": 0,
        "returned_to_government_fen": 0,
        "outstanding_fen": 0,
        "winners": 1,
    }
    listed = api.client("bob").get("/api/v1/voucher-programmes").json()["results"]
    assert [p["id"] for p in listed] == [programme.pk]
    assert api.client("bob").get(f"/api/v1/wallets/{alice.number}/vouchers").status_code == 404
