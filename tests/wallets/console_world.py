"""A console world: one staff user per role, and wallets at two operators.

c = ConsoleWorld.build(world)
c.client("icbc_staff").get(f"/admin/wallets/wallet/{c.wallets['alice'].pk}/change/")
services.wallet_freeze(actor=c.actors["approver"], ...)   # the same people, as actors
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.test import Client

from ewallet.money import yuan
from tests.helpers import KYC_FOR_CLASS, World, actor_with, key, settle, user_with
from wallets import services
from wallets.actors import Actor
from wallets.models import Merchant, Wallet
from wallets.roles import Role

STAFF = ["issuer", "approver", "auditor", "policy", "icbc_staff", "ccb_staff"]
CENTRAL_BANK = ["issuer", "approver", "auditor", "policy"]
# Each holder's own phone number, so a page showing one can be told from one showing another.
PHONES = {"alice": "13800000001", "anon": "13800000004", "bob": "13900000002"}


@dataclass
class ConsoleWorld:
    world: World
    actors: dict[str, Actor] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    wallets: dict[str, Wallet] = field(default_factory=dict)

    @classmethod
    def build(cls, world: World) -> "ConsoleWorld":
        console = cls(world)
        # The world's staff are already each their operator's (operator_staff_assign).
        console.actors = {
            "issuer": world.maker,
            "approver": world.checker,
            "policy": world.policy,
            "auditor": actor_with("auditor", Role.CB_AUDITOR),
            "icbc_staff": world.staff_of["ICBC"],
            "ccb_staff": world.staff_of["CCB"],
        }
        console.users = {name: actor.user for name, actor in console.actors.items()}
        console.users["holder"] = user_with("holder")  # not staff: the console is not for them
        for name in STAFF:
            console.users[name].is_staff = True
            console.users[name].save(update_fields=["is_staff"])
        console.wallets = {
            "alice": opened(world, "Alice", klass=2, operator="ICBC", load=1_000),
            "anon": opened(world, "Anon", klass=4, operator="ICBC", load=100),
            "bob": opened(world, "Bob", klass=2, operator="CCB", load=500),
        }
        return console

    def client(self, who: str) -> Client:
        client = Client()
        client.force_login(self.users[who])
        return client


def opened(world: World, name: str, *, klass: int, operator: str, load: int) -> Wallet:
    """Like `world.wallet`, with the holder's own phone number (PHONES)."""
    staff = world.staff_of[operator]
    holder = services.holder_register(
        actor=staff,
        operator=world.operators[operator],
        display_name=name,
        kyc_method=KYC_FOR_CLASS[klass],
        phone=PHONES[name.lower()],
        **(
            {}  # an anonymous holder gives the phone number only
            if klass == 4
            else {"id_number": "110101199001011234", "bank_account": "6222000011112222"}
        ),
    )
    wallet = services.wallet_open(actor=staff, holder=holder, wallet_class=klass)
    services.wallet_load(actor=staff, wallet=wallet, amount=yuan(load), idempotency_key=key("load"))
    settle()
    return wallet


MERCHANT_PASSWORD = "tea-house-console-1"


def merchant_registered(
    console: ConsoleWorld, name: str, operator: str, username: str, licence: str
) -> Merchant:
    """A merchant registered by `operator`'s staff, with one staff login (`username`, a
    console password) in `console.users`."""
    staff = console.actors[f"{operator.lower()}_staff"]
    merchant = services.merchant_register(
        actor=staff,
        operator=console.world.operators[operator],
        name=name,
        mcc="5812",
        region="440303",
        licence_number=licence,
    )
    _, token = services.merchant_staff_enrol(
        actor=staff,
        merchant=merchant,
        name="back office",
        username=username,
        password=MERCHANT_PASSWORD,
    )
    console.users[username] = token.user
    return merchant
