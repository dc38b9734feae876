"""A console world: one staff user per role, and wallets at two operators.

c = ConsoleWorld.build(world)
c.client("icbc_staff").get(f"/admin/wallets/wallet/{c.wallets['alice'].pk}/change/")
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.test import Client

from tests.helpers import World, user_with
from wallets.models import OperatorStaff, Wallet
from wallets.roles import Role

STAFF = ["issuer", "approver", "auditor", "policy", "icbc_staff", "ccb_staff"]
CENTRAL_BANK = ["issuer", "approver", "auditor", "policy"]


@dataclass
class ConsoleWorld:
    world: World
    users: dict[str, User] = field(default_factory=dict)
    wallets: dict[str, Wallet] = field(default_factory=dict)

    @classmethod
    def build(cls, world: World) -> "ConsoleWorld":
        console = cls(world)
        console.users = {
            "issuer": world.maker,
            "approver": world.checker,
            "policy": world.policy,
            "auditor": user_with("auditor", Role.CB_AUDITOR),
            "icbc_staff": world.staff,
            "ccb_staff": user_with("ccb_staff", Role.OPERATOR_STAFF),
            "holder": user_with("holder"),  # not staff: the console is not for holders
        }
        for name in STAFF:
            console.users[name].is_staff = True
            console.users[name].save(update_fields=["is_staff"])
        OperatorStaff.objects.create(user=world.staff, operator=world.operators["ICBC"])
        OperatorStaff.objects.create(
            user=console.users["ccb_staff"], operator=world.operators["CCB"]
        )
        console.wallets = {
            "alice": world.wallet("Alice", klass=2, operator="ICBC", load=1_000),
            "anon": world.wallet("Anon", klass=4, operator="ICBC", load=100),
            "bob": world.wallet("Bob", klass=2, operator="CCB", load=500),
        }
        return console

    def client(self, who: str) -> Client:
        client = Client()
        client.force_login(self.users[who])
        return client
