"""Which console pages each role of DESIGN.md may open: Django model permissions per group.

Services still check the role of every action (`wallets.roles.require_role`); these
permissions decide what the console shows. The ledger is view-only for everyone.
"""

from wallets.roles import Role

_LEDGER = [
    "settlement.view_transfer",
    "settlement.view_posting",
    "settlement.view_auditleaf",
    "settlement.view_checkpoint",
    "settlement.view_signingkey",
]
_CENTRAL_BANK_VIEW = [
    "wallets.view_operator",
    "wallets.view_wallet",
    "wallets.view_walletclass",
    "wallets.view_historicalwalletclass",
    "wallets.view_issuancerequest",
    "wallets.view_walletstatuschange",
    "wallets.view_auditverification",
    "wallets.add_auditverification",  # "verify now": a read-only check any of them may run
    *_LEDGER,
]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.CB_ISSUER: [*_CENTRAL_BANK_VIEW, "wallets.add_issuancerequest"],
    Role.CB_APPROVER: [
        *_CENTRAL_BANK_VIEW,
        "wallets.change_issuancerequest",  # approve or reject
        "wallets.add_operator",  # onboard
        "wallets.change_operator",  # suspend, reinstate
        "wallets.add_walletstatuschange",  # freeze orders
    ],
    Role.CB_AUDITOR: list(_CENTRAL_BANK_VIEW),
    Role.CB_POLICY: [*_CENTRAL_BANK_VIEW, "wallets.change_walletclass"],
    Role.OPERATOR_STAFF: [
        "wallets.view_holder",
        "wallets.add_holder",  # onboard a holder with a first wallet
        "wallets.view_wallet",
        "wallets.change_wallet",  # load, unload
        "wallets.view_issuancerequest",
        "wallets.view_walletstatuschange",
        "wallets.add_walletstatuschange",  # freeze their own operator's wallets
        "settlement.view_transfer",
        "settlement.view_posting",
        "settlement.view_checkpoint",
    ],
}


def console_groups_ensure(group_model, permission_model) -> None:
    """Give each role's group exactly its console permissions (creating the group if missing).

    Takes the model classes so that a migration can pass its historical models.
    """
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=str(role))
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            wanted.append(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
