"""/api/v1/ routes."""

from django.urls import path

from wallets.api import (
    acquiring,
    disclosures,
    escrow,
    offline,
    subwallets,
    views,
    vouchers,
    webhooks,
)

app_name = "api"

urlpatterns = [
    path("health", views.HealthView.as_view(), name="health"),
    path("me", views.MeView.as_view(), name="me"),
    path("tokens", views.TokensView.as_view(), name="tokens"),
    path("tokens/revoke-all", views.TokensRevokeAllView.as_view(), name="tokens-revoke-all"),
    path("tokens/<int:token_id>", views.TokenView.as_view(), name="token"),
    path("holders/<str:holder_id>/devices", views.HolderDevicesView.as_view(), name="devices"),
    path("wallets", views.WalletsView.as_view(), name="wallets"),
    path("wallets/<str:number>", views.WalletView.as_view(), name="wallet"),
    path("wallets/<str:number>/history", views.WalletHistoryView.as_view(), name="history"),
    path("wallets/<str:number>/class", views.WalletClassView.as_view(), name="wallet-class"),
    path("wallets/<str:number>/freezes", views.WalletFreezesView.as_view(), name="freezes"),
    path(
        "wallets/<str:number>/freezes/<int:order_id>/lift",
        views.FreezeLiftView.as_view(),
        name="freeze-lift",
    ),
    path(
        "wallets/<str:number>/vouchers",
        vouchers.WalletVouchersView.as_view(),
        name="wallet-vouchers",
    ),
    path("wallets/<str:number>/close", views.WalletCloseView.as_view(), name="wallet-close"),
    path("wallets/<str:number>/load", views.WalletLoadView.as_view(), name="wallet-load"),
    path("wallets/<str:number>/unload", views.WalletUnloadView.as_view(), name="wallet-unload"),
    path("transfers", views.TransfersView.as_view(), name="transfers"),
    path("transfers/batch", views.TransferBatchView.as_view(), name="transfer-batch"),
    path("transfers/<int:transfer_id>", views.TransferView.as_view(), name="transfer"),
    path(
        "transfers/<int:transfer_id>/receipt",
        views.TransferReceiptView.as_view(),
        name="transfer-receipt",
    ),
    path(
        "transfers/<int:transfer_id>/refunds",
        acquiring.TransferRefundsView.as_view(),
        name="transfer-refunds",
    ),
    path("merchants", acquiring.MerchantsView.as_view(), name="merchants"),
    path("merchants/<str:code>", acquiring.MerchantView.as_view(), name="merchant"),
    path(
        "merchants/<str:code>/staff", acquiring.MerchantStaffView.as_view(), name="merchant-staff"
    ),
    path(
        "merchants/<str:code>/status",
        acquiring.MerchantStatusView.as_view(),
        name="merchant-status",
    ),
    path("payment-requests", acquiring.PaymentRequestsView.as_view(), name="payment-requests"),
    path(
        "payment-requests/<str:code>",
        acquiring.PaymentRequestView.as_view(),
        name="payment-request",
    ),
    path(
        "payment-requests/<str:code>/cancel",
        acquiring.PaymentRequestCancelView.as_view(),
        name="payment-request-cancel",
    ),
    path(
        "payment-requests/<str:code>/qr.png",
        acquiring.PaymentRequestPngView.as_view(),
        name="payment-request-png",
    ),
    path(
        "payment-requests/<str:code>/qr.svg",
        acquiring.PaymentRequestSvgView.as_view(),
        name="payment-request-svg",
    ),
    path("payments/qr", acquiring.QrPaymentsView.as_view(), name="qr-payments"),
    path("merchant-payments", acquiring.MerchantPaymentsView.as_view(), name="merchant-payments"),
    path("refunds", acquiring.RefundsView.as_view(), name="refunds"),
    path("refunds/<int:refund_id>", acquiring.RefundView.as_view(), name="refund"),
    path("escrows", escrow.EscrowsView.as_view(), name="escrows"),
    path("escrows/<int:escrow_id>", escrow.EscrowView.as_view(), name="escrow"),
    path(
        "escrows/<int:escrow_id>/confirm", escrow.EscrowConfirmView.as_view(), name="escrow-confirm"
    ),
    path(
        "escrows/<int:escrow_id>/approve", escrow.EscrowApproveView.as_view(), name="escrow-approve"
    ),
    path("escrows/<int:escrow_id>/cancel", escrow.EscrowCancelView.as_view(), name="escrow-cancel"),
    path("sub-wallets", subwallets.SubWalletsView.as_view(), name="sub-wallets"),
    path("sub-wallets/<str:code>", subwallets.SubWalletView.as_view(), name="sub-wallet"),
    path(
        "sub-wallets/<str:code>/revoke",
        subwallets.SubWalletRevokeView.as_view(),
        name="sub-wallet-revoke",
    ),
    path(
        "sub-wallets/<str:code>/pull",
        subwallets.SubWalletPullView.as_view(),
        name="sub-wallet-pull",
    ),
    path("offline-devices", offline.OfflineDevicesView.as_view(), name="offline-devices"),
    path(
        "offline-devices/<str:device_id>",
        offline.OfflineDeviceView.as_view(),
        name="offline-device",
    ),
    path(
        "offline-devices/<str:device_id>/load",
        offline.OfflineDeviceLoadView.as_view(),
        name="offline-device-load",
    ),
    path(
        "offline-devices/<str:device_id>/sync",
        offline.OfflineDeviceSyncView.as_view(),
        name="offline-device-sync",
    ),
    path(
        "offline-devices/<str:device_id>/payments",
        offline.OfflineDevicePaymentsView.as_view(),
        name="offline-device-payments",
    ),
    path("offline-blocklist", offline.OfflineBlocklistView.as_view(), name="offline-blocklist"),
    path(
        "double-spend-alerts",
        offline.DoubleSpendAlertsView.as_view(),
        name="double-spend-alerts",
    ),
    path(
        "double-spend-alerts/<int:alert_id>/acknowledge",
        offline.DoubleSpendAlertAcknowledgeView.as_view(),
        name="double-spend-alert-acknowledge",
    ),
    path("webhooks", webhooks.WebhooksView.as_view(), name="webhooks"),
    path("webhooks/<int:endpoint_id>", webhooks.WebhookView.as_view(), name="webhook"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret",
        webhooks.WebhookRotateView.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<int:endpoint_id>/deliveries",
        webhooks.WebhookEndpointDeliveriesView.as_view(),
        name="webhook-endpoint-deliveries",
    ),
    path("webhook-deliveries", webhooks.WebhookDeliveriesView.as_view(), name="webhook-deliveries"),
    path(
        "webhook-deliveries/<int:delivery_id>",
        webhooks.WebhookDeliveryView.as_view(),
        name="webhook-delivery",
    ),
    path(
        "webhook-deliveries/<int:delivery_id>/redeliver",
        webhooks.WebhookRedeliverView.as_view(),
        name="webhook-redeliver",
    ),
    path("voucher-programmes", vouchers.VoucherProgrammesView.as_view(), name="voucher-programmes"),
    path(
        "voucher-programmes/<int:programme_id>",
        vouchers.VoucherProgrammeView.as_view(),
        name="voucher-programme",
    ),
    path("issuances", views.IssuancesView.as_view(), name="issuances"),
    path("issuances/<int:issuance_id>", views.IssuanceView.as_view(), name="issuance"),
    path(
        "issuances/<int:issuance_id>/approve",
        views.IssuanceApproveView.as_view(),
        name="issuance-approve",
    ),
    path(
        "issuances/<int:issuance_id>/reject",
        views.IssuanceRejectView.as_view(),
        name="issuance-reject",
    ),
    path("disclosures", disclosures.DisclosuresView.as_view(), name="disclosures"),
    path(
        "disclosures/<int:disclosure_id>",
        disclosures.DisclosureView.as_view(),
        name="disclosure",
    ),
    path(
        "disclosures/<int:disclosure_id>/approve",
        disclosures.DisclosureApproveView.as_view(),
        name="disclosure-approve",
    ),
    path(
        "disclosures/<int:disclosure_id>/reject",
        disclosures.DisclosureRejectView.as_view(),
        name="disclosure-reject",
    ),
    path(
        "disclosures/<int:disclosure_id>/identity",
        disclosures.DisclosureIdentityView.as_view(),
        name="disclosure-identity",
    ),
    path("money-supply", views.MoneySupplyView.as_view(), name="money-supply"),
    path("audit/checkpoints", views.CheckpointsView.as_view(), name="checkpoints"),
    path("audit/checkpoints/latest", views.LatestCheckpointView.as_view(), name="latest"),
    path("audit/keys", views.SigningKeysView.as_view(), name="keys"),
    path("audit/consistency", views.ConsistencyView.as_view(), name="consistency"),
]
