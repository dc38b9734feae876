"""Who is acting: every service of `wallets.services` takes one, keyword-only, as `actor`.

An `Actor` is a user as this system knows them: their roles (groups), the operator they
work for (operator staff), the holder they are (a wallet holder's own login), the merchant
they work for (merchant staff, who see what its holder record and wallets see). The system
actor is the machine itself: a Celery task finishing work someone was allowed to ask for,
or a command run by whoever holds the server's shell (the demo, seeding, `apitoken`).
"""

from dataclasses import dataclass

from wallets.auth import remembered
from wallets.models import Holder, KycMethod, MerchantStaff, OperatorStaff
from wallets.roles import CENTRAL_BANK_ROLES, Role


@dataclass(frozen=True)
class Actor:
    user: object | None  # the Django user; None for the system
    roles: frozenset[Role] = frozenset()
    operator_id: int | None = None  # the operator this user works for, as its staff
    holder_id: int | None = None  # the holder this user is
    merchant_id: int | None = None  # the merchant this user works for, as its staff
    merchant_holder_id: int | None = None  # and that merchant's holder record
    is_system: bool = False

    @classmethod
    def of(cls, user) -> "Actor":
        """The actor for a user (anonymous: no roles, no scope)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(user=None)
        roles, operator_id, holder_id, merchant = remembered("actor", user.pk, lambda: _facts(user))
        merchant_id, merchant_holder_id = merchant
        return cls(
            user=user,
            roles=roles,
            operator_id=operator_id,
            holder_id=holder_id,
            merchant_id=merchant_id,
            merchant_holder_id=merchant_holder_id,
        )

    @classmethod
    def system(cls) -> "Actor":
        return cls(user=None, is_system=True)

    @property
    def user_id(self) -> int | None:
        return None if self.user is None else self.user.pk

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_central_bank(self) -> bool:
        return bool(self.roles & CENTRAL_BANK_ROLES)

    def is_staff_of(self, operator_id: int | None) -> bool:
        return self.operator_id is not None and self.operator_id == operator_id

    def sees_identity_of(self, holder: Holder) -> bool:
        """Names and numbers of a holder: their operator and themselves see them; the
        central bank knows anonymous (phone-only) holders by pseudonym only. (The same
        rule as a query column: `authority.identity_shown`.)"""
        if self.holder_id == holder.pk or self.is_staff_of(holder.operator_id):
            return True
        return holder.kyc_method != KycMethod.PHONE_ONLY


def _facts(user) -> tuple[frozenset[Role], int | None, int | None, tuple[int | None, ...]]:
    if user.is_superuser:
        roles = frozenset(Role)
    else:
        names = set(user.groups.values_list("name", flat=True))
        roles = frozenset(role for role in Role if role in names)
    operator_id = None
    if Role.OPERATOR_STAFF in roles:
        operator_id = (
            OperatorStaff.objects.filter(user_id=user.pk)
            .values_list("operator_id", flat=True)
            .first()
        )
    holder_id = Holder.objects.filter(user_id=user.pk).values_list("pk", flat=True).first()
    merchant: tuple[int | None, ...] = (None, None)
    if Role.MERCHANT in roles:
        merchant = (
            MerchantStaff.objects.filter(user_id=user.pk)
            .values_list("merchant_id", "merchant__holder_id")
            .first()
        ) or (None, None)
    return roles, operator_id, holder_id, merchant


def request_actor(request) -> Actor:
    """The actor of a web request (API or console), built once per request."""
    actor = getattr(request, "_actor", None)
    if actor is None:
        actor = request._actor = Actor.of(request.user)
    return actor
