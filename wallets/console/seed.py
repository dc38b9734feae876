"""One console user per role, so a newcomer can log in and look around."""

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from ewallet.money import yuan
from wallets import services
from wallets.actors import Actor
from wallets.catalogue import OPERATORS
from wallets.models import Operator
from wallets.roles import Role

# username, role, what they do in the console
SEED_USERS = [
    ("cb_issuer", Role.CB_ISSUER, "central bank, maker: requests issuance and redemption"),
    ("cb_approver", Role.CB_APPROVER, "central bank, checker: approves or rejects; operators; "
     "freeze orders"),
    ("cb_auditor", Role.CB_AUDITOR, "central bank, read-only: dashboard, ledger, audit verify"),
    ("cb_policy", Role.CB_POLICY, "central bank: edits wallet-class limits"),
    ("op_staff", Role.OPERATOR_STAFF, "operator staff: their operator's holders, wallets, "
     "transfers; load, unload, freeze"),
]  # fmt: skip
OPENING_RESERVE_YUAN = 10_000_000


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
        secret = password or secrets.token_urlsafe(9)
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
    return seeded, operator
