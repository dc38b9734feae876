"""Who may see and do what: the product's rules of authority, in one place.

Each rule is written once, as a predicate on an actor and an object and, where lists need
it, as the same rule in a query filter beside it (tests hold the two forms to agreement).
Services raise from these (`require_*`): an object outside the actor's sight is NOT_FOUND,
exactly like one that does not exist; one the actor sees but may not act on is
PERMISSION_DENIED. Interfaces call the predicates only to show or hide a button; the
service decides.
"""

from django.db.models import Q

from ewallet.errors import ErrorCode
from wallets.actors import Actor
from wallets.exceptions import WalletError
from wallets.models import (
    DoubleSpendAlert,
    Escrow,
    FreezeAuthority,
    FreezeOrder,
    Holder,
    IdentityDisclosure,
    KycMethod,
    Merchant,
    OfflineDevice,
    SubWallet,
    Wallet,
    WalletKind,
)
from wallets.roles import Role

# ---------------------------------------------------------------- wallets


def _seen(actor: Actor, operator_id: int, holder_id: int) -> bool:
    """Wallets and KYC records alike: the central bank sees every one; an operator's staff
    its operator's; a holder their own; a merchant's staff their merchant's."""
    return (
        actor.is_central_bank
        or actor.is_staff_of(operator_id)
        or (actor.holder_id is not None and actor.holder_id == holder_id)
        or (actor.merchant_holder_id is not None and actor.merchant_holder_id == holder_id)
    )


def _seen_scope(actor: Actor, holder_field: str) -> Q | None:
    """`_seen` as a filter, the holder named by `holder_field`; None means every row."""
    if actor.is_central_bank:
        return None
    scope = Q(pk__in=[])
    if actor.operator_id is not None:
        scope |= Q(operator_id=actor.operator_id)
    if actor.holder_id is not None:
        scope |= Q(**{holder_field: actor.holder_id})
    if actor.merchant_holder_id is not None:
        scope |= Q(**{holder_field: actor.merchant_holder_id})
    return scope


def sees_wallet(actor: Actor, wallet: Wallet) -> bool:
    return _seen(actor, wallet.operator_id, wallet.holder_id)


def wallet_scope(actor: Actor) -> Q | None:
    """`sees_wallet` as a filter on Wallet; None means every wallet."""
    return _seen_scope(actor, "holder_id")


def operates_wallet(actor: Actor, wallet: Wallet) -> bool:
    """Opening, loading, unloading, changing class and closing: the wallet's operator."""
    return actor.is_staff_of(wallet.operator_id)


def operated_wallet_scope(actor: Actor) -> Q:
    """`operates_wallet` as a filter on Wallet."""
    return Q(operator_id=actor.operator_id) if actor.operator_id is not None else Q(pk__in=[])


def may_pay_from(actor: Actor, wallet: Wallet) -> bool:
    """A payment: the wallet's holder, or its operator's staff (e.g. a merchant gateway).
    Nobody pays from a sub-wallet: only its merchant pulls from it (`sub_wallet_pull`)."""
    return wallet.kind != WalletKind.SUB and (
        operates_wallet(actor, wallet)
        or (actor.holder_id is not None and actor.holder_id == wallet.holder_id)
    )


# `may_pay_from` as SQL on a wallet row `w`, for the payment that is one statement
# (services.payment_submit_at_once); its parameters are `pay_from_parameters(actor)`. A
# NULL parameter compares as false, so an actor with no operator or no holder matches by
# the other only. tests/wallets/test_authority.py holds the two forms to agreement.
PAY_FROM_SQL = f"w.kind <> '{WalletKind.SUB.value}' AND (w.operator_id = %s OR w.holder_id = %s)"


def pay_from_parameters(actor: Actor) -> list[int | None]:
    return [actor.operator_id, actor.holder_id]


def freeze_authority(actor: Actor, wallet: Wallet) -> FreezeAuthority | None:
    """The authority in which the actor may order a freeze of the wallet, if any: its
    operator's staff for the operator, a central-bank approver for the central bank."""
    if operates_wallet(actor, wallet):
        return FreezeAuthority.OPERATOR
    if actor.has(Role.CB_APPROVER):
        return FreezeAuthority.CENTRAL_BANK
    return None


def may_lift(actor: Actor, order: FreezeOrder) -> bool:
    """Only the authority that gave an order lifts it: a central-bank approver the central
    bank's; the operator's staff the operator's own (not the central bank: it did not
    give it, and the operator may hold it for reasons of its own)."""
    if order.authority == FreezeAuthority.CENTRAL_BANK:
        return actor.has(Role.CB_APPROVER)
    return actor.is_staff_of(order.operator_id)


def require_sees_wallet(actor: Actor, wallet: Wallet | None, number: str = "") -> Wallet:
    if wallet is None or not sees_wallet(actor, wallet):
        raise WalletError(
            ErrorCode.NOT_FOUND, f"no wallet {number or getattr(wallet, 'number', '')}"
        )
    return wallet


def require_operates_wallet(actor: Actor, wallet: Wallet) -> Wallet:
    require_sees_wallet(actor, wallet)
    if not operates_wallet(actor, wallet):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED, "only the wallet's operator's staff may do this"
        )
    return wallet


# ---------------------------------------------------------------- holders


def sees_holder(actor: Actor, holder: Holder) -> bool:
    """A holder's KYC record: the central bank (anonymous ones by pseudonym, see
    `identity_shown`), the operator that holds it, and the holder."""
    return _seen(actor, holder.operator_id, holder.pk)


def operates_holder(actor: Actor, holder: Holder) -> bool:
    """Acting for a holder (their wallets opened, their devices enrolled): the operator
    that KYC'd them."""
    return actor.is_staff_of(holder.operator_id)


def holder_scope(actor: Actor) -> Q | None:
    """`sees_holder` as a filter on Holder; None means every holder."""
    return _seen_scope(actor, "pk")


def sees_identity_links(actor: Actor) -> bool:
    """The keyed hash linking one person's KYC records at several operators is the central
    bank's alone: an operator must not learn where else its customer banks."""
    return actor.is_central_bank


def identity_shown(actor: Actor, prefix: str = "") -> Q:
    """`Actor.sees_identity_of` as a filter (on Holder, or through `prefix`, e.g.
    "holder__" on Wallet): the rows whose holder's name and numbers the actor sees."""
    shown = ~Q(**{f"{prefix}kyc_method": KycMethod.PHONE_ONLY})
    if actor.operator_id is not None:
        shown |= Q(**{f"{prefix}operator_id": actor.operator_id})
    if actor.holder_id is not None:
        shown |= Q(**{f"{prefix}pk" if prefix == "" else f"{prefix}id": actor.holder_id})
    return shown


def require_staff_of(actor: Actor, operator_id: int, what: str) -> None:
    if not actor.is_staff_of(operator_id):
        raise WalletError(ErrorCode.PERMISSION_DENIED, f"only the operator's staff {what}")


# ---------------------------------------------------------------- merchants


def sees_merchant(actor: Actor, merchant: Merchant) -> bool:
    """A merchant and everything it receives (requests, payments, refunds, webhooks): the
    central bank, its acquiring operator's staff, and its own staff."""
    return (
        actor.is_central_bank
        or actor.is_staff_of(merchant.operator_id)
        or (actor.merchant_id is not None and actor.merchant_id == merchant.pk)
    )


def merchant_scope(actor: Actor, prefix: str = "") -> Q | None:
    """`sees_merchant` as a filter on Merchant, or through `prefix` (e.g. "merchant__");
    None means every row."""
    if actor.is_central_bank:
        return None
    scope = Q(pk__in=[])
    if actor.operator_id is not None:
        scope |= Q(**{f"{prefix}operator_id": actor.operator_id})
    if actor.merchant_id is not None:
        scope |= Q(**{f"{prefix}pk" if prefix == "" else f"{prefix}id": actor.merchant_id})
    return scope


def operates_merchant(actor: Actor, merchant: Merchant) -> bool:
    """Registering it, suspending and reinstating it, enrolling its staff: its acquiring
    operator's staff."""
    return actor.is_staff_of(merchant.operator_id)


def acts_for_merchant(actor: Actor, merchant: Merchant) -> bool:
    """Payment requests, refunds and webhooks: the merchant's own staff only. Its operator
    registers it and enrols its staff, but does not take or give back its money."""
    return actor.merchant_id is not None and actor.merchant_id == merchant.pk


def require_acts_for_merchant(actor: Actor, merchant: Merchant, what: str) -> Merchant:
    if not sees_merchant(actor, merchant):
        raise WalletError(ErrorCode.NOT_FOUND, f"no merchant {merchant.code}")
    if not acts_for_merchant(actor, merchant):
        raise WalletError(ErrorCode.PERMISSION_DENIED, f"only the merchant's staff {what}")
    return merchant


# ---------------------------------------------------------------- conditional payments


def sees_escrow(actor: Actor, escrow: Escrow) -> bool:
    """A conditional payment: whoever sees its payer's or its payee's wallet (the holders,
    a merchant's staff, their operators' staff, the central bank), and its approver."""
    return (
        sees_wallet(actor, escrow.payer_wallet)
        or sees_wallet(actor, escrow.payee_wallet)
        or (actor.user_id is not None and actor.user_id == escrow.approver_id)
    )


def escrow_scope(actor: Actor) -> Q | None:
    """`sees_escrow` as a filter on Escrow; None means every row."""
    wallets = wallet_scope(actor)
    if wallets is None:
        return None
    visible = Wallet.objects.filter(wallets).values("pk")
    scope = Q(payer_wallet__in=visible) | Q(payee_wallet__in=visible)
    if actor.user_id is not None:
        scope |= Q(approver_id=actor.user_id)
    return scope


def acts_for_payer(actor: Actor, escrow: Escrow) -> bool:
    """Confirming delivery and agreeing to cancel for the payer: whoever may pay from the
    payer's wallet (its holder, or its operator's staff)."""
    return may_pay_from(actor, escrow.payer_wallet)


def acts_for_payee(actor: Actor, escrow: Escrow) -> bool:
    """Agreeing to cancel for the payee: its holder, a merchant's staff for the merchant's
    wallet, or the wallet's operator's staff."""
    wallet = escrow.payee_wallet
    return operates_wallet(actor, wallet) or any(
        holder is not None and holder == wallet.holder_id
        for holder in (actor.holder_id, actor.merchant_holder_id)
    )


def approves_escrow(actor: Actor, escrow: Escrow) -> bool:
    return actor.user_id is not None and actor.user_id == escrow.approver_id


# ---------------------------------------------------------------- sub-wallets


def sees_sub_wallet(actor: Actor, sub_wallet: SubWallet) -> bool:
    """A sub-wallet and its pulls: the central bank, the parent wallet's operator's staff
    and holder, and the staff of the merchant it was pushed to."""
    parent = sub_wallet.parent
    return (
        actor.is_central_bank
        or actor.is_staff_of(parent.operator_id)
        or (actor.holder_id is not None and actor.holder_id == parent.holder_id)
        or (actor.merchant_id is not None and actor.merchant_id == sub_wallet.merchant_id)
    )


def sub_wallet_scope(actor: Actor) -> Q | None:
    """`sees_sub_wallet` as a filter on SubWallet; None means every row."""
    if actor.is_central_bank:
        return None
    scope = Q(pk__in=[])
    if actor.operator_id is not None:
        scope |= Q(parent__operator_id=actor.operator_id)
    if actor.holder_id is not None:
        scope |= Q(parent__holder_id=actor.holder_id)
    if actor.merchant_id is not None:
        scope |= Q(merchant_id=actor.merchant_id)
    return scope


def controls_sub_wallet(actor: Actor, sub_wallet: SubWallet) -> bool:
    """Pushing and revoking: whoever may pay from the parent wallet, its holder or its
    operator's staff. The merchant only pulls; the central bank only looks."""
    return may_pay_from(actor, sub_wallet.parent)


def pulls_from_sub_wallet(actor: Actor, sub_wallet: SubWallet) -> bool:
    """Pulling a payment: the staff of the merchant it was pushed to, nobody else."""
    return actor.merchant_id is not None and actor.merchant_id == sub_wallet.merchant_id


# ---------------------------------------------------------------- identity disclosures


def sees_disclosures(actor: Actor) -> bool:
    """Disclosure requests (pseudonym, reason, who asked and approved, never the identity):
    the central bank's alone. To anyone else they do not exist, whichever one is asked for."""
    return actor.is_central_bank


def require_sees_disclosures(actor: Actor) -> None:
    if not sees_disclosures(actor):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED, "identity disclosures are for central-bank staff"
        )


def decides_disclosure(actor: Actor, disclosure: IdentityDisclosure) -> bool:
    """Approving or rejecting: a central-bank approver who is not its requester and has
    not approved it already (the service also checks its state)."""
    return (
        actor.has(Role.CB_APPROVER)
        and actor.user_id is not None
        and actor.user_id != disclosure.requested_by_id
        and not disclosure.approvals.filter(approver_id=actor.user_id).exists()
    )


def reads_disclosed_identity(actor: Actor, disclosure: IdentityDisclosure) -> bool:
    """Reading the identity behind the pseudonym (once approved): its requester and its
    approvers, the people who answer for it; not the rest of the central bank."""
    if actor.user_id is None or not sees_disclosures(actor):
        return False
    return (
        actor.user_id == disclosure.requested_by_id
        or disclosure.approvals.filter(approver_id=actor.user_id).exists()
    )


# ---------------------------------------------------------------- offline hardware wallets


def sees_offline_device(actor: Actor, device: OfflineDevice) -> bool:
    """A hardware wallet, its reserve and its payments: whoever sees its wallet."""
    return sees_wallet(actor, device.wallet)


def offline_device_scope(actor: Actor, prefix: str = "") -> Q | None:
    """`sees_offline_device` as a filter on OfflineDevice, or through `prefix` (e.g.
    "payer__"); None means every row."""
    if actor.is_central_bank:
        return None
    scope = Q(pk__in=[])
    if actor.operator_id is not None:
        scope |= Q(**{f"{prefix}wallet__operator_id": actor.operator_id})
    for holder in (actor.holder_id, actor.merchant_holder_id):
        if holder is not None:
            scope |= Q(**{f"{prefix}wallet__holder_id": holder})
    return scope


def controls_offline_device(actor: Actor, device: OfflineDevice) -> bool:
    """Registering, loading and syncing a hardware wallet: whoever may pay from its wallet,
    its holder or its operator's staff (who issue the cards)."""
    return may_pay_from(actor, device.wallet)


def sees_double_spend_alert(actor: Actor, alert: DoubleSpendAlert) -> bool:
    """A double spend is a matter for the device's operator and the central bank; the
    holder is told by the device's state, not shown the case."""
    return actor.is_central_bank or actor.is_staff_of(alert.device.wallet.operator_id)


def double_spend_alert_scope(actor: Actor) -> Q | None:
    """`sees_double_spend_alert` as a filter on DoubleSpendAlert; None means every row."""
    if actor.is_central_bank:
        return None
    if actor.operator_id is not None:
        return Q(device__wallet__operator_id=actor.operator_id)
    return Q(pk__in=[])


def acknowledges_double_spend_alert(actor: Actor, alert: DoubleSpendAlert) -> bool:
    """The operator's staff take the case up (the central bank looks on)."""
    return actor.is_staff_of(alert.device.wallet.operator_id)


# ---------------------------------------------------------------- roles


def require_role(actor: Actor, role: Role) -> None:
    if not actor.has(role):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED, f"this needs the {role} role", role=str(role)
        )


def require_system(actor: Actor, what: str) -> None:
    user = actor.user
    if not (actor.is_system or (user is not None and user.is_superuser)):
        raise WalletError(ErrorCode.PERMISSION_DENIED, f"{what} is for administrators")
