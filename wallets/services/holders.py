"""Holders (KYC at one operator), their wallets, and the wallet classes' limits."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ewallet.errors import ErrorCode
from settlement import services as ledger
from settlement.models import AccountKind, AccountStatus, Asset
from wallets.actors import Actor
from wallets.auth import token_issue
from wallets.authority import (
    operates_holder,
    require_operates_wallet,
    require_role,
    require_staff_of,
    sees_holder,
)
from wallets.exceptions import WalletError
from wallets.identity import identity_link
from wallets.models import (
    LIMIT_FIELDS,
    ApiToken,
    Holder,
    HolderKind,
    KycMethod,
    LinkedPerson,
    Operator,
    Wallet,
    WalletClass,
    WalletKind,
)
from wallets.roles import Role
from wallets.services.institutions import require_operator_active


@transaction.atomic
def holder_register(
    *,
    actor: Actor,
    operator: Operator,
    display_name: str,
    kyc_method: KycMethod,
    kind: HolderKind = HolderKind.PERSON,
    phone: str = "",
    id_number: str = "",
    bank_account: str = "",
    user=None,
) -> Holder:
    """Record a holder after KYC at `operator`, by its staff. Identity and bank numbers are
    stored masked; the central bank's link to the same person's records at other operators
    is a keyed hash (wallets/identity.py)."""
    require_staff_of(actor, operator.pk, "records its holders' KYC")
    kyc_method = KycMethod(kyc_method)
    needs_id = kyc_method in (KycMethod.IN_PERSON, KycMethod.REMOTE_ID_BANK, KycMethod.REMOTE_ID)
    if needs_id and not id_number:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, f"{kyc_method} needs an identity number")
    if kyc_method == KycMethod.REMOTE_ID_BANK and not bank_account:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, f"{kyc_method} needs a linked bank account")
    if kyc_method == KycMethod.PHONE_ONLY and not phone:
        raise WalletError(ErrorCode.KYC_INSUFFICIENT, "an anonymous wallet needs a phone number")
    if kyc_method == KycMethod.PHONE_ONLY and (id_number or bank_account):
        # Anonymous means the operator keeps the phone number and nothing else.
        raise WalletError(
            ErrorCode.INVALID_INPUT, "a phone-only holder gives no identity or bank number"
        )
    return Holder.objects.create(
        operator=operator,
        kind=HolderKind(kind),
        display_name=display_name,
        kyc_method=kyc_method,
        phone=phone,
        id_number_masked=_mask(id_number),
        bank_account_masked=_mask(bank_account),
        identity_link=identity_link(
            settings.EWALLET_IDENTITY_LINK_KEY,
            id_number=id_number if needs_id else "",
            phone=phone,
        ),
        user=user,
    )


def new_wallet_number(operator: Operator) -> str:
    """16 digits: two naming the operator, fourteen random; the unique index guards the rest."""
    return f"{operator.pk % 100:02d}{secrets.randbelow(10**14):014d}"


def _mask(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:] if number else ""


@transaction.atomic
def wallet_open(
    *,
    actor: Actor,
    holder: Holder,
    wallet_class: int | None = None,
    kind: WalletKind | None = None,
) -> Wallet:
    """Open a wallet for a holder at the operator that KYC'd them, by its staff; the class
    defaults to the strongest the KYC allows. Another operator's holder is not found."""
    if not sees_holder(actor, holder):
        raise WalletError(ErrorCode.NOT_FOUND, f"no holder {holder.pseudonym}", field="holder_id")
    require_staff_of(actor, holder.operator_id, "opens wallets for its holders")
    # Read under the row lock that operator_set_status takes, so a suspension and an
    # opening cannot cross.
    operator = Operator.objects.select_for_update().get(pk=holder.operator_id)
    require_operator_active(operator)
    kind = WalletKind(
        kind or (WalletKind.MERCHANT if holder.kind == HolderKind.MERCHANT else WalletKind.PERSONAL)
    )
    if kind == WalletKind.SUB:
        raise WalletError(ErrorCode.INVALID_INPUT, "a sub-wallet is pushed, not opened")
    if kind == WalletKind.MERCHANT and holder.kind != HolderKind.MERCHANT:
        raise WalletError(ErrorCode.INVALID_INPUT, "only a merchant can open a merchant wallet")
    klass = _class_allowed(holder, wallet_class or holder.strongest_class)
    if kind == WalletKind.PERSONAL:
        _require_room_for_one_more(holder, klass)
    number = new_wallet_number(operator)
    account = ledger.account_open(
        label=f"wallet:{number}", kind=AccountKind.WALLET, asset=Asset.ECNY, **klass.limits()
    )
    return Wallet.objects.create(
        number=number,
        holder=holder,
        operator=operator,
        wallet_class=klass,
        kind=kind,
        account=account,
    )


@transaction.atomic
def holder_onboard(
    *,
    actor: Actor,
    operator: Operator | None = None,
    wallet_class: int | None = None,
    **holder_fields,
) -> Wallet:
    """A new holder after KYC at `operator` (by default the actor's own) and their first
    wallet there, both or neither."""
    if operator is None:
        if actor.operator_id is None:
            raise WalletError(ErrorCode.PERMISSION_DENIED, "only operator staff onboard holders")
        operator = Operator.objects.get(pk=actor.operator_id)
    holder = holder_register(actor=actor, operator=operator, **holder_fields)
    return wallet_open(actor=actor, holder=holder, wallet_class=wallet_class)


@transaction.atomic
def wallet_change_class(*, actor: Actor, wallet: Wallet, wallet_class: int) -> Wallet:
    """Upgrade or downgrade, by the wallet's operator; a stronger class needs the KYC for it."""
    require_operates_wallet(actor, wallet)
    if wallet.kind == WalletKind.SUB:
        # A sub-wallet has no limits of its own: its funding counted against its parent's.
        raise WalletError(ErrorCode.INVALID_INPUT, "a sub-wallet has no class of its own")
    klass = _class_allowed(wallet.holder, wallet_class)
    if wallet.kind == WalletKind.PERSONAL and klass.number != wallet.wallet_class_id:
        # Moving into a capped class counts as opening one there (this wallet is not
        # counted yet: it is still of its old class).
        _require_room_for_one_more(wallet.holder, klass)
    wallet.wallet_class = klass
    wallet.save(update_fields=["wallet_class"])
    ledger.accounts_set_policy(account_ids=[wallet.account_id], limits=klass.limits())
    return wallet


def _require_room_for_one_more(holder: Holder, klass: WalletClass) -> None:
    """WALLET_LIMIT_PER_PERSON if the person already holds `klass.wallets_per_person` open
    personal wallets of the class, at any operator: they are one person to the central
    bank through the keyed hash of their identity (or phone) number.

    The count is taken under the person's row lock (`LinkedPerson`), which every opening
    for them takes first, so two operators opening at once are serialised and the second
    counts the first's wallet (READ COMMITTED: each statement sees what committed before
    it). The refusal says nothing of where the other wallets are: an operator does not
    learn where else its customer banks. Merchants, sub-wallets, closed wallets and
    records made before links were kept (no link) are not counted."""
    cap = klass.wallets_per_person
    if cap is None or holder.kind != HolderKind.PERSON or not holder.identity_link:
        return
    link = holder.identity_link
    LinkedPerson.objects.bulk_create([LinkedPerson(identity_link=link)], ignore_conflicts=True)
    LinkedPerson.objects.select_for_update().get(identity_link=link)
    held = (
        Wallet.objects.filter(
            holder__identity_link=link,
            holder__kind=HolderKind.PERSON,
            wallet_class=klass,
            kind=WalletKind.PERSONAL,
        )
        .exclude(account__status=AccountStatus.CLOSED)
        .count()
    )
    if held >= cap:
        raise WalletError(
            ErrorCode.WALLET_LIMIT_PER_PERSON,
            f"this person already holds the most open class-{klass.number} wallets one "
            f"person may hold across all operators ({cap})",
            wallet_class=klass.number,
            limit=cap,
        )


def _class_allowed(holder: Holder, number: int) -> WalletClass:
    klass = WalletClass.objects.filter(number=number).first()
    if klass is None:
        raise WalletError(
            ErrorCode.INVALID_INPUT, f"no wallet class {number}", field="wallet_class"
        )
    if number < holder.strongest_class:
        raise WalletError(
            ErrorCode.KYC_INSUFFICIENT,
            f"{holder.get_kyc_method_display()} allows class {holder.strongest_class} at best",
        )
    return klass


@transaction.atomic
def wallet_class_update(*, actor: Actor, number: int, **limits: int | None) -> WalletClass:
    """Edit a class's limits (fen, None = none) and apply them to every wallet of the class;
    and, as `wallets_per_person` (None = no cap), how many open wallets of the class one
    person may hold across operators (new openings only: wallets held stay open)."""
    require_role(actor, Role.CB_POLICY)
    if not set(limits) <= {*LIMIT_FIELDS, "wallets_per_person"}:
        raise WalletError(ErrorCode.INVALID_INPUT, f"unknown limits: {sorted(limits)}")
    klass = WalletClass.objects.select_for_update().get(number=number)
    for name, value in limits.items():
        if (
            name == "wallets_per_person"
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000)
        ):
            raise WalletError(
                ErrorCode.INVALID_INPUT, f"{name} must be a whole number, 1 to 1000", field=name
            )
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise WalletError(ErrorCode.INVALID_AMOUNT, f"{name} must be fen >= 0", field=name)
        setattr(klass, name, value)
    klass.updated_by = actor.user
    klass.updated_at = timezone.now()
    klass._history_user = actor.user  # the change history records who made it
    klass.save()
    ledger.accounts_set_policy(
        # Not sub-wallets: their accounts stay without limits (README, "Sub-wallets").
        account_ids=list(
            klass.wallets.exclude(kind=WalletKind.SUB).values_list("account_id", flat=True)
        ),
        limits=klass.limits(),
    )
    return klass


@transaction.atomic
def wallet_classes_apply_preset(*, actor: Actor, preset: str) -> list[WalletClass]:
    """Switch the limits table to a published preset (catalogue.LIMIT_PRESETS), in fen."""
    from wallets.catalogue import LIMIT_PRESETS

    require_role(actor, Role.CB_POLICY)
    if preset not in LIMIT_PRESETS:
        raise WalletError(ErrorCode.INVALID_INPUT, f"no preset {preset!r}", field="preset")
    return [
        wallet_class_update(
            actor=actor,
            number=number,
            **{
                name: None if value is None else value * 100
                for name, value in zip(LIMIT_FIELDS, limits, strict=True)
            },
        )
        for number, limits in sorted(LIMIT_PRESETS[preset]["classes"].items())
    ]


@transaction.atomic
def holder_device_enrol(
    *, actor: Actor, holder: Holder, name: str, ttl: timedelta | None = None
) -> tuple[str, ApiToken]:
    """Enrol a holder's wallet-app device, by the operator that KYC'd them: the holder gets
    a login of their own if they have none yet (with no password: the device's token is
    how they sign in), and the device an API token of the holder's, whose secret is shown
    once. From then on the holder uses the API for their own wallets only."""
    if not sees_holder(actor, holder):
        raise WalletError(ErrorCode.NOT_FOUND, f"no holder {holder.pseudonym}")
    if not operates_holder(actor, holder):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED, "only the holder's operator enrols their devices"
        )
    holder = Holder.objects.select_for_update().get(pk=holder.pk)
    if holder.user is None:
        holder.user = get_user_model().objects.create_user(f"holder-{holder.pseudonym}")
        holder.save(update_fields=["user"])
    # Minted as the system on the operator's behalf: its authority was checked above.
    return token_issue(actor=Actor.system(), user=holder.user, name=name, ttl=ttl)
