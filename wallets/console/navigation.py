"""The console's sidebar, grouped by who does the work; each link shows only to those whose
group grants the page."""

from django.urls import reverse_lazy


def _item(title: str, icon: str, url_name: str, permission: str) -> dict:
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(url_name),
        "permission": lambda request: request.user.has_perm(permission),
    }


def sidebar(request) -> list[dict]:
    return [
        {
            "title": "Overview",
            "items": [
                {"title": "Dashboard", "icon": "dashboard", "link": reverse_lazy("admin:index")},
            ],
        },
        {
            "title": "Central bank",
            "collapsible": False,
            "items": [
                _item(
                    "Operators",
                    "account_balance",
                    "admin:wallets_operator_changelist",
                    "wallets.view_operator",
                ),
                _item(
                    "Issuance & redemption",
                    "currency_yuan",
                    "admin:wallets_issuancerequest_changelist",
                    "wallets.view_issuancerequest",
                ),
                _item(
                    "Wallet-class limits",
                    "tune",
                    "admin:wallets_walletclass_changelist",
                    "wallets.view_walletclass",
                ),
                _item(
                    "Limit changes",
                    "history",
                    "admin:wallets_historicalwalletclass_changelist",
                    "wallets.view_historicalwalletclass",
                ),
                _item(
                    "Offline caps",
                    "wifi_off",
                    "admin:wallets_offlinelimit_changelist",
                    "wallets.view_offlinelimit",
                ),
                _item(
                    "Freeze orders",
                    "ac_unit",
                    "admin:wallets_freezeorder_changelist",
                    "wallets.view_freezeorder",
                ),
                _item(
                    "Wallet status history",
                    "history_toggle_off",
                    "admin:wallets_walletstatuschange_changelist",
                    "wallets.view_walletstatuschange",
                ),
                _item(
                    "Voucher programmes",
                    "redeem",
                    "admin:wallets_voucherprogramme_changelist",
                    "wallets.view_voucherprogramme",
                ),
                _item(
                    "Identity disclosures",
                    "person_search",
                    "admin:wallets_identitydisclosure_changelist",
                    "wallets.view_identitydisclosure",
                ),
                _item(
                    "Audit status",
                    "verified_user",
                    "admin:wallets_auditverification_changelist",
                    "wallets.view_auditverification",
                ),
            ],
        },
        {
            "title": "Wallets",
            "items": [
                _item(
                    "Holders", "person", "admin:wallets_holder_changelist", "wallets.view_holder"
                ),
                _item(
                    "Wallets", "wallet", "admin:wallets_wallet_changelist", "wallets.view_wallet"
                ),
                _item(
                    "Sub-wallets",
                    "account_tree",
                    "admin:wallets_subwallet_changelist",
                    "wallets.view_subwallet",
                ),
                _item(
                    "Hardware wallets",
                    "contactless",
                    "admin:wallets_offlinedevice_changelist",
                    "wallets.view_offlinedevice",
                ),
                _item(
                    "Double-spend alerts",
                    "warning",
                    "admin:wallets_doublespendalert_changelist",
                    "wallets.view_doublespendalert",
                ),
            ],
        },
        {
            "title": "Payments",
            "items": [
                _item(
                    "Conditional payments",
                    "handshake",
                    "admin:wallets_escrow_changelist",
                    "wallets.view_escrow",
                ),
                _item(
                    "Offline payments",
                    "wifi_off",
                    "admin:wallets_offlinepayment_changelist",
                    "wallets.view_offlinepayment",
                ),
            ],
        },
        {
            "title": "Merchants",
            "items": [
                _item(
                    "Merchants",
                    "storefront",
                    "admin:wallets_merchant_changelist",
                    "wallets.view_merchant",
                ),
                _item(
                    "Payment requests",
                    "qr_code_2",
                    "admin:wallets_paymentrequest_changelist",
                    "wallets.view_paymentrequest",
                ),
                _item(
                    "Merchant payments",
                    "point_of_sale",
                    "admin:wallets_merchantpayment_changelist",
                    "wallets.view_merchantpayment",
                ),
                _item("Refunds", "undo", "admin:wallets_refund_changelist", "wallets.view_refund"),
                _item(
                    "Webhook endpoints",
                    "webhook",
                    "admin:wallets_webhookendpoint_changelist",
                    "wallets.view_webhookendpoint",
                ),
                _item(
                    "Webhook deliveries",
                    "outbox",
                    "admin:wallets_webhookdelivery_changelist",
                    "wallets.view_webhookdelivery",
                ),
            ],
        },
        {
            "title": "Ledger (read-only)",
            "items": [
                _item(
                    "Transfers",
                    "swap_horiz",
                    "admin:settlement_transfer_changelist",
                    "settlement.view_transfer",
                ),
                _item(
                    "Postings",
                    "receipt_long",
                    "admin:settlement_posting_changelist",
                    "settlement.view_posting",
                ),
                _item(
                    "Audit leaves",
                    "link",
                    "admin:settlement_auditleaf_changelist",
                    "settlement.view_auditleaf",
                ),
                _item(
                    "Checkpoints",
                    "approval",
                    "admin:settlement_checkpoint_changelist",
                    "settlement.view_checkpoint",
                ),
                _item(
                    "Signing keys",
                    "key",
                    "admin:settlement_signingkey_changelist",
                    "settlement.view_signingkey",
                ),
            ],
        },
        {
            "title": "Access",
            "items": [
                _item("Users", "group", "admin:auth_user_changelist", "auth.view_user"),
                _item("Groups", "shield_person", "admin:auth_group_changelist", "auth.view_group"),
            ],
        },
    ]
