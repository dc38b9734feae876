"""An API world: every role as a user with a token, and wallets at two operators.

api = ApiWorld.build(world)
api.client("alice").get(f"/api/v1/wallets/{api.wallets['alice'].number}")
"""

import itertools
from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from tests.helpers import World, user_with
from wallets.api.tokens import token_issue
from wallets.models import OperatorStaff, Wallet
from wallets.roles import Role

_keys = itertools.count()


def idem() -> dict:
    """A fresh Idempotency-Key header for APIClient."""
    return {"HTTP_IDEMPOTENCY_KEY": f"k-{next(_keys)}"}


@dataclass
class ApiWorld:
    world: World
    tokens: dict[str, str] = field(default_factory=dict)
    wallets: dict[str, Wallet] = field(default_factory=dict)

    @classmethod
    def build(cls, world: World) -> "ApiWorld":
        api = cls(world)
        users = {
            "issuer": world.maker,
            "approver": world.checker,
            "policy": world.policy,
            "auditor": user_with("auditor", Role.CB_AUDITOR),
            "icbc_staff": user_with("icbc_staff", Role.OPERATOR_STAFF),
            "ccb_staff": user_with("ccb_staff", Role.OPERATOR_STAFF),
            "alice": user_with("alice"),
            "bob": user_with("bob"),
            "shop": user_with("shop"),
        }
        OperatorStaff.objects.create(user=users["icbc_staff"], operator=world.operators["ICBC"])
        OperatorStaff.objects.create(user=users["ccb_staff"], operator=world.operators["CCB"])
        api.wallets = {
            "alice": world.wallet("Alice", klass=2, load=1_000),
            "bob": world.wallet("Bob", klass=4, operator="CCB", load=100),
            "shop": world.wallet("Tea shop", merchant=True, klass=1, operator="CCB"),
        }
        for name in ("alice", "bob", "shop"):
            holder = api.wallets[name].holder
            holder.user = users[name]
            holder.save(update_fields=["user"])
        api.tokens = {name: token_issue(user=user, name="test")[0] for name, user in users.items()}
        return api

    def client(self, who: str | None) -> APIClient:
        client = APIClient()
        if who is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[who]}")
        return client

    def number(self, name: str) -> str:
        return self.wallets[name].number


@pytest.fixture
def api(transactional_db, world) -> ApiWorld:
    """Real commits, so that settlement runs when a request's transaction commits."""
    return ApiWorld.build(world)
