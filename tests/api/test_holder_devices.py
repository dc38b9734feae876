"""A holder's own access: their operator enrols a wallet-app device, and the holder then
uses the API for their own wallets only."""

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.api.conftest import idem
from tests.helpers import balance
from wallets.models import ApiToken, Holder


def device(api, who: str, holder: Holder, name: str = "phone"):
    return api.client(who).post(
        f"/api/v1/holders/{holder.pseudonym}/devices", {"name": name}, format="json"
    )


def as_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_an_operator_enrols_its_holders_device_and_the_holder_pays_from_their_own(api):
    carol = api.world.wallet("Carol", klass=2, load=300)  # an ICBC holder with no login
    holder = carol.holder
    assert holder.user is None
    answer = device(api, "icbc_staff", holder)
    assert answer.status_code == 201, answer.content
    secret = answer.json()["token"]
    holder.refresh_from_db()
    assert holder.user.username == f"holder-{holder.pseudonym}"
    assert not holder.user.has_usable_password()  # the device token is how Carol signs in
    phone = as_token(secret)

    me = phone.get("/api/v1/me").json()
    assert (me["holder"], me["roles"], me["operator"]) == (holder.pseudonym, [], None)
    listed = phone.get("/api/v1/wallets").json()["results"]
    assert [w["number"] for w in listed] == [carol.number]
    assert phone.get(f"/api/v1/wallets/{api.number('alice')}").status_code == 404

    paid = phone.post(
        "/api/v1/transfers?wait=5000",
        {"payer": carol.number, "payee": api.number("shop"), "amount": "12.34"},
        format="json",
        **idem(),
    )
    assert (paid.status_code, paid.json()["state"]) == (201, "SETTLED")
    assert balance(carol) == 30_000 - 1_234
    alices = api.number("alice")
    before = balance(api.wallets["alice"])
    stolen = phone.post(
        "/api/v1/transfers",
        {"payer": alices, "payee": carol.number, "amount": "1.00"},
        format="json",
        **idem(),
    )
    assert (stolen.status_code, stolen.json()["code"]) == (404, "NOT_FOUND")
    # Carol sees her wallet but does not load it: that is her operator's act.
    load = phone.post(
        f"/api/v1/wallets/{carol.number}/load",
        {"amount": "1.00"},
        format="json",
        **idem(),
    )
    assert (load.status_code, load.json()["code"]) == (403, "PERMISSION_DENIED")
    assert (balance(api.wallets["alice"]), balance(carol)) == (before, 30_000 - 1_234)

    # A second device: the same login, a second token; each revocable by Carol.
    second = device(api, "icbc_staff", holder, name="tablet").json()
    assert ApiToken.objects.filter(user=holder.user).count() == 2
    assert phone.delete(f"/api/v1/tokens/{second['id']}").status_code == 204
    assert as_token(second["token"]).get("/api/v1/me").status_code == 401
    assert phone.get("/api/v1/me").status_code == 200


def test_only_the_holders_operator_enrols_a_device(api):
    holder = api.wallets["bob"].holder  # a CCB holder
    users, tokens = User.objects.count(), ApiToken.objects.count()
    expected = {
        "icbc_staff": (404, "NOT_FOUND"),  # another operator's holder is not there
        "alice": (404, "NOT_FOUND"),
        "issuer": (403, "PERMISSION_DENIED"),  # the central bank sees, enrols nothing
        "approver": (403, "PERMISSION_DENIED"),
        "bob": (403, "PERMISSION_DENIED"),  # the holder does not enrol their own
    }
    for who, (status, code) in expected.items():
        answer = device(api, who, holder)
        assert (answer.status_code, answer.json()["code"]) == (status, code), who
        assert "Bob" not in answer.content.decode(), who
    assert (User.objects.count(), ApiToken.objects.count()) == (users, tokens)
    assert device(api, "ccb_staff", holder).status_code == 201
    unknown = api.client("ccb_staff").post(
        "/api/v1/holders/h_nobody/devices", {"name": "x"}, format="json"
    )
    assert unknown.status_code == 404
