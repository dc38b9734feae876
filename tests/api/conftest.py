"""An API world: every role as a user with a token, and wallets at two operators.

api = ApiWorld.build(world)
api.client("alice").get(f"/api/v1/wallets/{api.wallets['alice'].number}")
services.wallet_freeze(actor=api.actors["approver"], ...)   # the same people, as actors
"""

import itertools
import time
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from ewallet.redisclient import redis_client
from tests.helpers import World, user_with
from wallets.actors import Actor
from wallets.api.throttling import LEASES
from wallets.auth import token_issue
from wallets.models import Wallet
from wallets.roles import Role

_keys = itertools.count()


def idem() -> dict:
    """A fresh Idempotency-Key header for APIClient."""
    return {"HTTP_IDEMPOTENCY_KEY": f"k-{next(_keys)}"}


def token_for(user: User, name: str = "test") -> str:
    """A new API token for `user`, as `manage.py apitoken` makes one (the system's act)."""
    return token_issue(actor=Actor.system(), user=user, name=name)[0]


def fresh_rate_windows(period: int = 60) -> None:
    """Forget windows counted by earlier runs (user ids repeat per test database), and start
    near the beginning of a window, so a test's requests all fall in one."""
    client = redis_client()
    if client is not None:
        for key in client.scan_iter("throttle:*"):
            client.delete(key)
    cache.clear()
    LEASES.forget()
    left = period - time.time() % period
    if left < 5:
        time.sleep(left + 0.05)


@pytest.fixture
def bad_tokens_unthrottled(settings):
    """Lifts the failed-token throttle, which would rightly answer a fuzzer's thousands of
    bad tokens from one address 429 (test_auth_hardening.py holds that)."""
    settings.EWALLET_AUTH_FAILURE_RATE = "1000000/s"


@dataclass
class ApiWorld:
    world: World
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    wallets: dict[str, Wallet] = field(default_factory=dict)

    @classmethod
    def build(cls, world: World) -> "ApiWorld":
        api = cls(world)
        # The world's staff are already each their operator's (operator_staff_assign).
        api.users = {
            "issuer": world.maker.user,
            "approver": world.checker.user,
            "policy": world.policy.user,
            "auditor": user_with("auditor", Role.CB_AUDITOR),
            "icbc_staff": world.staff_of["ICBC"].user,
            "ccb_staff": world.staff_of["CCB"].user,
            "alice": user_with("alice"),
            "bob": user_with("bob"),
            "shop": user_with("shop"),
        }
        api.wallets = {
            "alice": world.wallet("Alice", klass=2, load=1_000),
            "bob": world.wallet("Bob", klass=4, operator="CCB", load=100),
            "shop": world.wallet("Tea shop", merchant=True, klass=1, operator="CCB"),
        }
        for name in ("alice", "bob", "shop"):
            holder = api.wallets[name].holder
            holder.user = api.users[name]
            holder.save(update_fields=["user"])
        api.tokens = {name: token_for(user) for name, user in api.users.items()}
        return api

    @property
    def actors(self) -> dict[str, Actor]:
        """Each user as an actor, as they are now (roles, operator, holder)."""
        return {name: Actor.of(user) for name, user in self.users.items()}

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
