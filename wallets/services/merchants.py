"""Merchants: registered by their acquiring operator, with a category, a region and a
merchant wallet that payments settle into; and their own staff's logins."""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from ewallet.errors import ErrorCode
from wallets.actors import Actor
from wallets.auth import token_issue
from wallets.authority import operates_merchant, require_staff_of, sees_merchant
from wallets.catalogue import MERCHANT_CATEGORIES
from wallets.exceptions import WalletError
from wallets.models import (
    ApiToken,
    HolderKind,
    KycMethod,
    Merchant,
    MerchantStaff,
    MerchantStatus,
    Operator,
    WalletKind,
)
from wallets.roles import Role
from wallets.services.holders import holder_register, wallet_open


def actors_merchant(actor: Actor, what: str) -> Merchant:
    """The merchant the actor works for, when a service is used without naming one:
    requests, codes and webhooks are made by a merchant's own staff."""
    merchant = Merchant.objects.filter(pk=actor.merchant_id).first()
    if actor.merchant_id is None or merchant is None:
        raise WalletError(ErrorCode.PERMISSION_DENIED, f"only a merchant's staff {what}")
    return merchant


def _check_category(mcc: str, region: str) -> None:
    if mcc not in MERCHANT_CATEGORIES:
        raise WalletError(
            ErrorCode.INVALID_INPUT, f"{mcc!r} is not a merchant category code we know", field="mcc"
        )
    if not (isinstance(region, str) and len(region) == 6 and region.isdigit()):
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            "a region is a six-digit administrative division code",
            field="region",
        )


@transaction.atomic
def merchant_register(
    *,
    actor: Actor,
    operator: Operator | None = None,
    name: str,
    mcc: str,
    region: str,
    licence_number: str,
    kyc_method: KycMethod = KycMethod.IN_PERSON,
    bank_account: str = "",
    phone: str = "",
    wallet_class: int | None = None,
) -> Merchant:
    """A merchant after KYC at its acquiring operator (by default the actor's own), by that
    operator's staff: its holder record (kind MERCHANT, the business licence as identity
    number), its merchant wallet, and its category (MCC) and region."""
    if operator is None:
        if actor.operator_id is None:
            raise WalletError(ErrorCode.PERMISSION_DENIED, "only operator staff register merchants")
        operator = Operator.objects.get(pk=actor.operator_id)
    require_staff_of(actor, operator.pk, "registers its merchants")
    _check_category(mcc, region)
    holder = holder_register(
        actor=actor,
        operator=operator,
        display_name=name,
        kyc_method=kyc_method,
        kind=HolderKind.MERCHANT,
        id_number=licence_number,
        bank_account=bank_account,
        phone=phone,
    )
    wallet = wallet_open(
        actor=actor, holder=holder, wallet_class=wallet_class, kind=WalletKind.MERCHANT
    )
    return Merchant.objects.create(
        operator=operator,
        holder=holder,
        name=name,
        mcc=mcc,
        region=region,
        settlement_wallet=wallet,
    )


def require_merchant_operator(actor: Actor, merchant: Merchant, what: str) -> None:
    if not sees_merchant(actor, merchant):
        raise WalletError(ErrorCode.NOT_FOUND, f"no merchant {merchant.code}")
    if not operates_merchant(actor, merchant):
        raise WalletError(ErrorCode.PERMISSION_DENIED, f"only the merchant's operator {what}")


@transaction.atomic
def merchant_set_status(*, actor: Actor, merchant: Merchant, status: MerchantStatus) -> Merchant:
    """Suspend or reinstate a merchant, by its operator: a suspended merchant's codes are
    refused and it makes no new requests; refunds of what it was paid still go out."""
    require_merchant_operator(actor, merchant, "suspends or reinstates it")
    merchant.status = MerchantStatus(status)
    merchant.save(update_fields=["status"])
    return merchant


@transaction.atomic
def merchant_staff_enrol(
    *,
    actor: Actor,
    merchant: Merchant,
    name: str,
    ttl: timedelta | None = None,
    username: str = "",
    password: str = "",
) -> tuple[str, ApiToken]:
    """A login for a merchant's staff (a till, a shop's back office), by its operator: a
    user in the merchant role, scoped to this merchant, and an API token whose secret is
    shown once. Given a username and an initial password (checked by the password
    validators), the login also signs in to the console, where it sees its merchant only;
    without them it has the token alone."""
    require_merchant_operator(actor, merchant, "enrols its staff")
    user = _merchant_staff_user(merchant, username.strip(), password)
    user.groups.add(Group.objects.get(name=Role.MERCHANT))
    MerchantStaff.objects.create(user=user, merchant=merchant)
    # Minted as the system on the operator's behalf: its authority was checked above.
    return token_issue(actor=Actor.system(), user=user, name=name, ttl=ttl)


def _merchant_staff_user(merchant: Merchant, username: str, password: str):
    User = get_user_model()
    if not username and not password:
        return User.objects.create_user(f"merchant-{merchant.code}-{secrets.token_hex(4)}")
    if not (username and password):
        raise WalletError(
            ErrorCode.INVALID_INPUT,
            "a console login needs both a username and a password",
            field="password" if username else "username",
        )
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        raise WalletError(
            ErrorCode.INVALID_INPUT, " ".join(exc.messages), field="username"
        ) from None
    # Case-insensitively, so two logins never differ by case alone.
    if User.objects.filter(username__iexact=username).exists():
        raise WalletError(
            ErrorCode.CONFLICT, f"the username {username!r} is taken", field="username"
        )
    # is_staff lets Django's admin open to them; their group and scope decide the rest.
    user = User(username=username, is_staff=True)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise WalletError(
            ErrorCode.INVALID_INPUT, " ".join(exc.messages), field="password"
        ) from None
    user.set_password(password)
    user.save()
    return user
