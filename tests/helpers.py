"""Builders for tests, so a test reads like a worked example:

w = World.build()                      # PBOC, ICBC and CCB, 1,000,000 CNY issued to each
alice = w.wallet("Alice", klass=4, load=500)   # KYC'd and opened by ICBC's staff
bob = w.wallet("Bob", klass=2, operator="CCB")
t = w.pay(alice, bob, 2_500)           # yuan
assert w.state(t) == ("REJECTED", "LIMIT_SINGLE")
"""

import itertools
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import Group, User

from ewallet.money import yuan
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import Account, Transfer
from settlement.selectors import money_totals
from settlement.services import transfers_settle
from wallets import services
from wallets.actors import Actor
from wallets.models import HolderKind, KycMethod, Merchant, Operator, Wallet
from wallets.roles import Role

if TYPE_CHECKING:
    from wallets import offline
    from wallets.models import OfflineDevice

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


def assert_every_fen_kept() -> None:
    """Settle what is queued and seal a checkpoint; then e-CNY in circulation equals what
    was issued and what backs it, and the audit log verifies against the ledger."""
    settle()
    checkpoint_seal()
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing
    report = audit_verify()
    assert report.ok, report


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


def actor_with(username: str, *roles: Role) -> Actor:
    return Actor.of(user_with(username, *roles))


def staff_of(operator: Operator, username: str) -> Actor:
    """A new user made staff of `operator`, as an actor."""
    user = User.objects.create_user(username)
    services.operator_staff_assign(actor=Actor.system(), user=user, operator=operator)
    return Actor.of(user)


@dataclass(frozen=True)
class MerchantAt:
    merchant: Merchant
    staff: Actor  # the merchant's own login
    token: str  # its API token's secret

    @property
    def wallet(self) -> Wallet:
        return self.merchant.settlement_wallet


@dataclass
class World:
    """Actors (`.user` is the Django user): the central bank's maker, checker and policy
    maker, and one member of staff per operator (`staff` is the first operator's)."""

    maker: Actor
    checker: Actor
    policy: Actor
    operators: dict[str, Operator]
    staff_of: dict[str, Actor]

    @property
    def staff(self) -> Actor:
        return next(iter(self.staff_of.values()))

    @classmethod
    def build(cls, *, issue_yuan: int = 1_000_000, operators=("ICBC", "CCB")) -> "World":
        services.reference_data_ensure()
        world = cls(
            maker=actor_with("maker", Role.CB_ISSUER),
            checker=actor_with("checker", Role.CB_APPROVER),
            policy=actor_with("policy", Role.CB_POLICY),
            operators={},
            staff_of={},
        )
        for index, code in enumerate(operators):
            world.operators[code] = services.operator_onboard(
                actor=world.checker, code=code, name=code, reserve_deposit=yuan(issue_yuan * 2)
            )
            username = "staff" if index == 0 else f"staff_{code.lower()}"
            world.staff_of[code] = staff_of(world.operators[code], username)
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
        staff = self.staff_of[operator]
        holder = services.holder_register(
            actor=staff,
            operator=self.operators[operator],
            display_name=name,
            kind=HolderKind.MERCHANT if merchant else HolderKind.PERSON,
            kyc_method=kyc,
            phone=f"138{next(_keys):08d}",  # each holder their own
            **(
                {}
                if kyc == KycMethod.PHONE_ONLY
                else {"id_number": "110101199001011234", "bank_account": "6222000011112222"}
            ),
        )
        wallet = services.wallet_open(actor=staff, holder=holder, wallet_class=klass)
        if load:
            services.wallet_load(
                actor=staff, wallet=wallet, amount=yuan(load), idempotency_key=key("load")
            )
            settle()
        return wallet

    def pay(self, payer: Wallet, payee: Wallet, amount_yuan: int | str, **kwargs) -> Transfer:
        """A payment by the payer's operator's staff (as its gateway would send it)."""
        transfer, _, _ = services.payment_submit(
            actor=kwargs.pop("actor", None) or self.staff_of[payer.operator.code],
            payer=payer.number,
            payee=payee.number,
            amount=yuan(amount_yuan),
            idempotency_key=kwargs.pop("idempotency_key", None) or key("pay"),
            **kwargs,
        )
        settle()
        return transfer

    def pay_later(
        self, payer: Wallet, payee: Wallet, amount: int, idempotency_key: str | None = None
    ) -> Transfer:
        """A payment of `amount` fen queued (as the payer's operator's staff), not settled."""
        transfer, _, _ = services.payment_submit(
            actor=self.staff_of[payer.operator.code],
            payer=payer.number,
            payee=payee.number,
            amount=amount,
            idempotency_key=idempotency_key or key("pay"),
        )
        return transfer

    def merchant(
        self, name: str, *, operator: str = "ICBC", mcc: str = "5411", region: str = "440303"
    ) -> "MerchantAt":
        """A merchant registered by `operator`'s staff, and one login of its own staff."""
        merchant = services.merchant_register(
            actor=self.staff_of[operator],
            operator=self.operators[operator],
            name=name,
            mcc=mcc,
            region=region,
            licence_number=f"91440300MA5{next(_keys):07d}",
            bank_account="6222000011113333",
        )
        secret, token = services.merchant_staff_enrol(
            actor=self.staff_of[operator], merchant=merchant, name="till"
        )
        return MerchantAt(merchant, Actor.of(token.user), secret)

    @staticmethod
    def state(transfer: Transfer) -> tuple[str, str]:
        transfer.refresh_from_db()
        return transfer.state, transfer.reject_code


# ---------------------------------------------------------------- offline hardware wallets

_device_keys = itertools.count(1)


@dataclass
class HardwareWallet:
    """A registered device (`record`, the server's row) and its simulator (`device`, which
    pays and receives with no network), registered to `wallet`."""

    record: "OfflineDevice"
    device: "offline.Device"
    wallet: Wallet

    @property
    def id(self) -> str:
        return self.device.id


def hardware_wallet(world: World, wallet: Wallet, *, load: int = 0) -> HardwareWallet:
    """A hardware wallet registered to `wallet` by its operator's staff, `load` fen moved
    into its reserve and settled, and its simulator told so."""
    from wallets import offline
    from wallets.models import OfflineDevice

    secret = offline.Device.new_key(random.Random(f"device:{next(_device_keys)}"))
    staff = world.staff_of[wallet.operator.code]
    record = services.offline_device_register(
        actor=staff, wallet=wallet, public_key=offline.public_key_of(secret), name="card"
    )
    certificate = offline.Certificate.decode(bytes.fromhex(record.certificate))
    device = offline.Device(secret, certificate, services.offline_ca_public_key())
    if load:
        services.offline_device_load(
            actor=staff, device=record, amount=load, idempotency_key=key("offline-load")
        )
        settle()
        device.loaded = load
    return HardwareWallet(OfflineDevice.objects.get(pk=record.pk), device, wallet)


def offline_sync(world: World, hw: HardwareWallet, payments=None) -> "services.SyncResult":
    """`hw` syncs (its outbox, or `payments`) through its operator's staff, and settles; the
    simulator takes the server's word on loads and blocked devices."""
    uploading = hw.device.upload() if payments is None else list(payments)
    result = services.offline_sync(
        actor=world.staff_of[hw.wallet.operator.code], device=hw.record, payments=uploading
    )
    settle()
    loaded = selectors_reserve(hw.record)["loaded"]
    hw.device.synced(
        uploaded=len(uploading) if payments is None else 0, loaded=loaded, blocked=result.blocked
    )
    return result


def selectors_reserve(record) -> dict:
    """A device's reserve figures (selectors.offline_devices_with_reserve), in fen."""
    from wallets import selectors
    from wallets.models import OfflineDevice

    row = selectors.offline_devices_with_reserve(OfflineDevice.objects.filter(pk=record.pk)).get()
    names = ("loaded", "loading", "paid_out", "claimed", "allocated", "available", "shortfall")
    return {name: getattr(row, name) for name in names} | {"state": row.state}


def password_login(client, username: str, password: str) -> bool:
    """`client.login` with a password, as a sign-in page does: django-axes counts failures
    per address, so authenticate() must be given the request it came in."""
    from django.test import RequestFactory

    request = RequestFactory().post("/admin/login/")
    return client.login(request=request, username=username, password=password)
