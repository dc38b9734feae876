"""The roles of DESIGN.md: Django groups, and the console pages each group may open.

Services decide what an actor may do (`wallets.actors.Actor`); the permissions here only
decide which console pages a role sees. The ledger is view-only for everyone.
"""

from enum import StrEnum


class Role(StrEnum):
    CB_ISSUER = "cb_issuer"  # maker of issuance and redemption requests
    CB_APPROVER = "cb_approver"  # checker: approves or rejects, never their own request
    CB_AUDITOR = "cb_auditor"  # read-only
    CB_POLICY = "cb_policy"  # edits wallet-class limits and offline caps; runs voucher programmes
    OPERATOR_STAFF = "operator_staff"
    MERCHANT = "merchant"  # a merchant's own staff: its payments, QR requests, refunds, webhooks


CENTRAL_BANK_ROLES = frozenset({Role.CB_ISSUER, Role.CB_APPROVER, Role.CB_AUDITOR, Role.CB_POLICY})

_LEDGER = [
    "settlement.view_transfer",
    "settlement.view_posting",
    "settlement.view_auditleaf",
    "settlement.view_checkpoint",
    "settlement.view_signingkey",
]
# Merchants and what they receive: each role sees the rows in its scope (selectors).
_ACQUIRING_VIEW = [
    "wallets.view_merchant",
    "wallets.view_paymentrequest",
    "wallets.view_merchantpayment",
    "wallets.view_refund",
    "wallets.view_webhookendpoint",
    "wallets.view_webhookdelivery",
    "wallets.view_webhookattempt",
]
# Conditional payments: each role sees the escrows in its scope (selectors).
_ESCROW_VIEW = ["wallets.view_escrow"]
# Hardware wallets: each role sees the devices, payments and alerts in its scope.
_OFFLINE_VIEW = [
    "wallets.view_offlinedevice",
    "wallets.view_offlinepayment",
    "wallets.view_doublespendalert",
]
_CENTRAL_BANK_VIEW = [
    "wallets.view_operator",
    "wallets.view_holder",  # class-4 holders by pseudonym only
    "wallets.view_wallet",
    "wallets.view_walletclass",
    "wallets.view_historicalwalletclass",
    "wallets.view_issuancerequest",
    "wallets.view_freezeorder",
    "wallets.view_walletstatuschange",
    "wallets.view_auditverification",
    "wallets.add_auditverification",  # "verify now": a read-only check any of them may run
    "wallets.view_voucherprogramme",  # consumption vouchers: terms and totals
    *_LEDGER,
    *_ACQUIRING_VIEW,
    *_ESCROW_VIEW,
    "wallets.view_subwallet",
    # Requests to disclose who is behind a pseudonym (never the identity itself: its
    # requester and approvers read that, through the service).
    "wallets.view_identitydisclosure",
    *_OFFLINE_VIEW,
    "wallets.view_offlinelimit",
]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.CB_ISSUER: [
        *_CENTRAL_BANK_VIEW,
        "wallets.add_issuancerequest",
        "wallets.add_identitydisclosure",  # ask to disclose an anonymous holder's identity
    ],
    Role.CB_APPROVER: [
        *_CENTRAL_BANK_VIEW,
        "wallets.change_issuancerequest",  # approve or reject
        "wallets.change_identitydisclosure",  # approve or reject a disclosure
        "wallets.add_operator",  # onboard
        "wallets.change_operator",  # suspend, reinstate
        "wallets.add_freezeorder",  # central-bank freeze orders
        "wallets.change_freezeorder",  # lift them
    ],
    Role.CB_AUDITOR: list(_CENTRAL_BANK_VIEW),
    Role.CB_POLICY: [
        *_CENTRAL_BANK_VIEW,
        "wallets.change_walletclass",
        "wallets.change_voucherprogramme",  # draw a programme's lottery
        "wallets.change_offlinelimit",  # the offline cap per wallet class
    ],
    Role.OPERATOR_STAFF: [
        "wallets.view_holder",
        "wallets.add_holder",  # onboard a holder with a first wallet
        "wallets.view_wallet",
        "wallets.change_wallet",  # load, unload, close
        "wallets.view_issuancerequest",
        "wallets.view_freezeorder",
        "wallets.add_freezeorder",  # their own operator's freeze orders
        "wallets.change_freezeorder",  # and lifting them
        "wallets.view_walletstatuschange",
        "settlement.view_transfer",
        "settlement.view_posting",
        "settlement.view_checkpoint",
        *_ACQUIRING_VIEW,
        "wallets.add_merchant",  # register a merchant and enrol its staff
        "wallets.change_merchant",  # suspend, reinstate
        "wallets.view_merchantstaff",
        *_ESCROW_VIEW,
        "wallets.change_escrow",  # confirm, cancel for their holders
        "wallets.view_subwallet",  # those pushed from their holders' wallets
        "wallets.change_subwallet",  # revoke
        *_OFFLINE_VIEW,  # their wallets' devices, and their double spends
        "wallets.change_doublespendalert",  # acknowledge
    ],
    Role.MERCHANT: [
        *_ACQUIRING_VIEW,
        *_ESCROW_VIEW,  # escrows paying its wallet
        "wallets.change_escrow",  # agree to cancel one
        "wallets.view_wallet",  # its own settlement wallet
        "settlement.view_transfer",  # payments into it and refunds out of it
        "wallets.add_paymentrequest",
        "wallets.change_paymentrequest",  # cancel
        "wallets.add_refund",
        "wallets.add_webhookendpoint",
        "wallets.change_webhookendpoint",  # rotate the secret, switch off
        "wallets.change_webhookdelivery",  # redeliver
        "wallets.view_subwallet",  # those pushed to it
    ],
}


def role_groups_ensure(group_model, permission_model) -> None:
    """One group per role with exactly its console permissions (created if missing)."""
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=str(role))
        wanted = []
        for name in ROLE_PERMISSIONS[role]:
            app_label, codename = name.split(".")
            wanted.append(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
