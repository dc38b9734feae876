"""Builders for tests, so a test reads like a worked example:

w = World.build()                      # PBOC, ICBC and CCB, 1,000,000 CNY issued to each
alice = w.wallet("Alice", klass=4, load=500)
bob = w.wallet("Bob", klass=2, operator="CCB")
t = w.pay(alice, bob, 2_500)           # yuan
assert w.state(t) == ("REJECTED", "LIMIT_SINGLE")
"""

import itertools
from dataclasses import dataclass

from django.contrib.auth.models import Group, User

from ewallet.money import yuan
from settlement.models import Account, Transfer
from settlement.services import transfers_settle
from wallets import services
from wallets.models import HolderKind, KycMethod, Operator, Wallet
from wallets.roles import Role

KYC_FOR_CLASS = {
    1: KycMethod.IN_PERSON,
    2: KycMethod.REMOTE_ID_BANK,
    3: KycMethod.REMOTE_ID,
    4: KycMethod.PHONE_ONLY,
}
_keys = itertools.count()


def key(prefix: str = "t") -> str:
    return f"{prefix}:{next(_keys)}"


def settle() -> None:
    transfers_settle()


def balance(wallet_or_account) -> int:
    """Current balance in fen, read fresh from the database."""
    account_id = (
        wallet_or_account.account_id
        if isinstance(wallet_or_account, Wallet)
        else wallet_or_account.pk
    )
    return Account.objects.get(pk=account_id).balance


def user_with(username: str, *roles: Role) -> User:
    user = User.objects.create_user(username)
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


@dataclass
class World:
    maker: User
    checker: User
    policy: User
    staff: User
    operators: dict[str, Operator]

    @classmethod
    def build(cls, *, issue_yuan: int = 1_000_000, operators=("ICBC", "CCB")) -> "World":
        services.reference_data_ensure()
        world = cls(
            maker=user_with("maker", Role.CB_ISSUER),
            checker=user_with("checker", Role.CB_APPROVER),
            policy=user_with("policy", Role.CB_POLICY),
            staff=user_with("staff", Role.OPERATOR_STAFF),
            operators={},
        )
        for code in operators:
            world.operators[code] = services.operator_onboard(
                actor=world.checker, code=code, name=code, reserve_deposit=yuan(issue_yuan * 2)
            )
        settle()
        for code in operators:
            world.issue(code, issue_yuan)
        return world

    def issue(self, code: str, amount_yuan: int, direction: str = "ISSUE") -> Transfer:
        request = services.issuance_request(
            actor=self.maker,
            operator=self.operators[code],
            amount=yuan(amount_yuan),
            direction=direction,
        )
        request = services.issuance_approve(actor=self.checker, request_id=request.pk)
        settle()
        return request.transfer

    def wallet(
        self,
        name: str,
        *,
        klass: int = 2,
        operator: str = "ICBC",
        load: int | str = 0,
        merchant: bool = False,
    ) -> Wallet:
        kyc = KycMethod.IN_PERSON if merchant else KYC_FOR_CLASS[klass]
        holder = services.holder_register(
            display_name=name,
            kind=HolderKind.MERCHANT if merchant else HolderKind.PERSON,
            kyc_method=kyc,
            phone="13800000000",
            id_number="110101199001011234",
            bank_account="6222000011112222",
        )
        wallet = services.wallet_open(
            actor=self.staff, holder=holder, operator=self.operators[operator], wallet_class=klass
        )
        if load:
            services.wallet_load(
                actor=self.staff, wallet=wallet, amount=yuan(load), idempotency_key=key("load")
            )
            settle()
        return wallet

    def pay(self, payer: Wallet, payee: Wallet, amount_yuan: int | str, **kwargs) -> Transfer:
        transfer = services.payment_submit(
            payer=payer,
            payee=payee,
            amount=yuan(amount_yuan),
            idempotency_key=kwargs.pop("idempotency_key", None) or key("pay"),
            **kwargs,
        )
        settle()
        return transfer

    @staticmethod
    def state(transfer: Transfer) -> tuple[str, str]:
        transfer.refresh_from_db()
        return transfer.state, transfer.reject_code
