"""A holder's wallet-app device enrolled through the console, by the holder's operator:
the secret is on the answer page once, and nowhere else."""

from django.contrib.admin.models import LogEntry

from tests.wallets.console_world import ConsoleWorld
from wallets.auth import token_authenticate
from wallets.models import ApiToken


def test_the_operator_enrols_a_device_and_the_secret_is_shown_once(world):
    console = ConsoleWorld.build(world)
    alice = console.wallets["alice"].holder
    url = f"/admin/wallets/holder/{alice.pk}/device/"
    staff = console.client("icbc_staff")
    change = staff.get(f"/admin/wallets/holder/{alice.pk}/change/").content.decode()
    assert "Enrol a device" in change

    answer = staff.post(url, {"name": "Alice's phone", "ttl_days": "30"})
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    token = ApiToken.objects.get(name="Alice's phone")
    page = answer.content.decode()
    secret = page.split('data-fact="token"><code>')[1].split("</code>")[0]
    assert secret.startswith("ecny_") and token_authenticate(secret).user == token.user
    alice.refresh_from_db()
    assert token.user == alice.user
    # Kept nowhere else: not in the history, not on the holder's page.
    history = " ".join(LogEntry.objects.values_list("change_message", flat=True))
    assert "Alice's phone" in history and secret not in history
    assert secret not in staff.get(f"/admin/wallets/holder/{alice.pk}/change/").content.decode()


def test_only_the_holders_operator_enrols_a_device(world):
    console = ConsoleWorld.build(world)
    alice = console.wallets["alice"].holder
    url = f"/admin/wallets/holder/{alice.pk}/device/"
    expected = {"ccb_staff": 404, "approver": 403, "issuer": 403, "auditor": 403}
    for who, status in expected.items():
        answer = console.client(who).post(url, {"name": "x"})
        assert answer.status_code == status, who
    assert not ApiToken.objects.filter(name="x").exists()
    change = console.client("approver").get(f"/admin/wallets/holder/{alice.pk}/change/")
    assert "Enrol a device" not in change.content.decode()
