"""One console user per role, so a newcomer can log in and look around."""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from ewallet.money import yuan
from wallets import services
from wallets.actors import Actor
from wallets.catalogue import OPERATORS
from wallets.models import Merchant, Operator
from wallets.roles import Role

# username, role, what they do in the console
SEED_USERS = [
    ("cb_issuer", Role.CB_ISSUER, "central bank, maker: requests issuance and redemption"),
    ("cb_approver", Role.CB_APPROVER, "central bank, checker: approves or rejects; operators; "
     "freeze orders"),
    ("cb_approver2", Role.CB_APPROVER, "central bank, a second checker: an identity "
     "disclosure takes two approvers besides its requester"),
    ("cb_auditor", Role.CB_AUDITOR, "central bank, read-only: dashboard, ledger, audit verify"),
    ("cb_policy", Role.CB_POLICY, "central bank: edits wallet-class limits"),
    ("op_staff", Role.OPERATOR_STAFF, "operator staff: their operator's holders, wallets, "
     "transfers; load, unload, freeze"),
]  # fmt: skip
OPENING_RESERVE_YUAN = 10_000_000
# A merchant at op_staff's operator, and its console login.
SEED_MERCHANT = "Luohu Fresh Market"
# Port 9 (discard): nothing listens there.
SEED_WEBHOOK_URL = "http://127.0.0.1:9/luohu-fresh-market/ecny-webhooks"
SHOP_STAFF = (
    "shop_staff",
    Role.MERCHANT,
    "merchant staff: their shop's payment requests, QR codes, payments, refunds and webhooks",
)


@dataclass(frozen=True)
class SeededUser:
    username: str
    password: str
    role: Role
    does: str


@transaction.atomic
def console_users_seed(*, password: str | None = None, operator_code: str = "ICBC"):
    """Create (or reset the passwords of) one staff user per role. With no operator yet, the
    eight operators of the catalogue are onboarded so there is something to look at."""
    services.reference_data_ensure()
    services.central_bank_ensure()
    User = get_user_model()
    seeded = []
    for username, role, does in SEED_USERS:
        user, _ = User.objects.get_or_create(username=username)
        secret = password or secrets.token_urlsafe(12)
        user.set_password(secret)
        user.is_staff = True
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        seeded.append(SeededUser(username, secret, role, does))
    approver = Actor.of(User.objects.get(username="cb_approver"))
    if not Operator.objects.exists():
        for code, name, name_zh in OPERATORS:
            services.operator_onboard(
                actor=approver,
                code=code,
                name=name,
                name_zh=name_zh,
                reserve_deposit=yuan(OPENING_RESERVE_YUAN),
            )
    operator = Operator.objects.filter(code=operator_code).first() or Operator.objects.first()
    services.operator_staff_assign(
        actor=Actor.system(), user=User.objects.get(username="op_staff"), operator=operator
    )
    seeded.append(_shop_staff_seed(operator, password))
    return seeded, operator


def _shop_staff_seed(operator: Operator, password: str | None) -> SeededUser:
    """A merchant registered by op_staff, and its staff's console login (made through the
    services the first time, its password reset afterwards)."""
    username, role, does = SHOP_STAFF
    secret = password or secrets.token_urlsafe(12)
    user = get_user_model().objects.filter(username=username).first()
    if user is not None:
        user.set_password(secret)
        user.save()
        _webhook_seed(user)
        return SeededUser(username, secret, role, does)
    staff = Actor.of(get_user_model().objects.get(username="op_staff"))
    merchant = Merchant.objects.filter(operator=operator, name=SEED_MERCHANT).first()
    if merchant is None:
        merchant = services.merchant_register(
            actor=staff,
            operator=operator,
            name=SEED_MERCHANT,
            mcc="5411",
            region="440303",
            licence_number="91440303MA5SEED001",
        )
    _, token = services.merchant_staff_enrol(
        actor=staff, merchant=merchant, name="console", username=username, password=secret
    )
    _webhook_seed(token.user)
    return SeededUser(username, secret, role, does)


def _webhook_seed(user) -> None:
    """One webhook of the seeded merchant, registered by its staff, unless it has one: at a
    port where nothing listens, so its deliveries show failed attempts in the console until
    the merchant registers its own server. None where loopback is not an allowed target."""
    merchant = user.merchant_staff.merchant
    if settings.EWALLET_WEBHOOK_ALLOW_PRIVATE_TARGETS and not merchant.webhooks.exists():
        services.webhook_register(actor=Actor.of(user), url=SEED_WEBHOOK_URL)
