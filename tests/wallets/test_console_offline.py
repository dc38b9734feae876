"""Hardware wallets in the console: the operator sees its devices and is alerted to a
double spend, which its staff acknowledge (the central bank looks on, CCB sees nothing of
it); the central bank's policy staff change a class's offline cap and loads follow it."""

import pytest

from ewallet.money import yuan
from tests.helpers import hardware_wallet, key, offline_sync
from tests.wallets.console_world import ConsoleWorld
from wallets import services
from wallets.models import DoubleSpendAlert, OfflineLimit


@pytest.fixture
def console(world):
    console = ConsoleWorld.build(world)
    bobs_card = hardware_wallet(world, console.wallets["bob"])
    console.cheat = hardware_wallet(world, console.wallets["alice"], load=yuan(300))
    clone = console.cheat.device.clone()
    payments = [
        d.pay(bobs_card.id, yuan(200), at_ms=at).signed
        for at, d in enumerate((clone, console.cheat.device))
    ]
    offline_sync(world, bobs_card, payments)
    console.alerts = list(DoubleSpendAlert.objects.order_by("shape"))
    return console


def test_the_operator_sees_its_blocked_card_and_the_payees_loss(console):
    device_id = console.cheat.id
    page = console.client("icbc_staff").get("/admin/wallets/offlinedevice/").content.decode()
    assert device_id in page and "BLOCKED" in page
    detail = console.client("icbc_staff").get(
        f"/admin/wallets/offlinedevice/{console.cheat.record.pk}/change/"
    )
    text = detail.content.decode()
    assert "300.00" in text and "100.00" in text  # loaded; what the payee loses
    assert (
        device_id
        not in console.client("ccb_staff").get("/admin/wallets/offlinedevice/").content.decode()
    )
    alerts = console.client("icbc_staff").get("/admin/wallets/doublespendalert/").content.decode()
    assert "COUNTER_REUSED" in alerts and "OVER_RESERVE" in alerts
    assert device_id in alerts
    elsewhere = console.client("ccb_staff").get("/admin/wallets/doublespendalert/")
    assert device_id not in elsewhere.content.decode()


def test_the_operators_staff_acknowledge_an_alert(console):
    alert = console.alerts[0]
    url = f"/admin/wallets/doublespendalert/{alert.pk}/acknowledge/"
    change = console.client("icbc_staff").get(f"/admin/wallets/doublespendalert/{alert.pk}/change/")
    assert "Acknowledge" in change.content.decode()
    assert console.client("approver").post(url, {"note": "x"}).status_code == 403
    assert console.client("ccb_staff").post(url, {"note": "x"}).status_code == 404
    answer = console.client("icbc_staff").post(url, {"note": "card recalled, case 118"})
    assert answer.status_code == 302
    alert.refresh_from_db()
    assert alert.note == "card recalled, case 118"
    assert alert.acknowledged_by == console.users["icbc_staff"]
    page = console.client("auditor").get(f"/admin/wallets/doublespendalert/{alert.pk}/change/")
    assert "card recalled, case 118" in page.content.decode()
    assert "by staff" in page.content.decode()


def test_policy_staff_change_a_classs_offline_cap_and_loads_follow(console, world):
    url = "/admin/wallets/offlinelimit/2/cap/"
    assert console.client("issuer").post(url, {"reserve_cap": "1.00"}).status_code == 403
    assert console.client("policy").post(url, {"reserve_cap": "100.00"}).status_code == 302
    assert OfflineLimit.objects.get(wallet_class=2).reserve_cap == yuan(100)
    card = hardware_wallet(world, console.wallets["alice"])
    with pytest.raises(Exception, match="OFFLINE_CAP_EXCEEDED"):
        services.offline_device_load(
            actor=world.staff, device=card.record, amount=yuan("100.01"), idempotency_key=key()
        )
    assert console.client("policy").post(url, {"reserve_cap": "1.001"}).status_code == 200
    assert OfflineLimit.objects.get(wallet_class=2).reserve_cap == yuan(100)
