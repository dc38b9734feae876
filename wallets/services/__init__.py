"""Every business action of the e-CNY product, one function each, by domain in the modules
of this package and all importable from it (`from wallets import services`).

Interfaces (the API, the console, the demo, load runs, management commands and tasks) call
these and nothing else, and repeat none of their rules. Each takes the acting `Actor`,
keyword-only, and checks role, operator scope and state itself (wallets/authority.py):
an object the actor cannot see is NOT_FOUND, one they see but may not act on is
PERMISSION_DENIED. Set-up (`*_ensure`) creates what is missing, changes nothing that
exists, and takes no actor.

Money moves only through `settlement.services.transfer_submit`: these functions decide
which accounts and how much, and the ledger decides whether it can happen (funds, limits,
freezes, a suspended operator), so a refusal there is a REJECTED transfer, never an error.
"""

from wallets.services.acquiring import (
    RequestPayment,
    RequestState,
    collection_code_create,
    payment_request_cancel,
    payment_request_create,
    payment_request_pay,
    refund_create,
    refund_deadline,
    refundable,
    request_from_payload,
    request_payload,
    request_state,
)
from wallets.services.audit import (
    audit_verification_request,
    audit_verification_run,
)
from wallets.services.disclosures import (
    DisclosedIdentity,
    identity_disclosure_approve,
    identity_disclosure_read,
    identity_disclosure_reject,
    identity_disclosure_request,
)
from wallets.services.escrow import (
    escrow_approve,
    escrow_cancel,
    escrow_confirm,
    escrow_create,
    escrow_state,
    escrow_timeout_default,
    escrows_release_due,
)
from wallets.services.freezes import (
    freeze_lift,
    wallet_close,
    wallet_freeze,
)
from wallets.services.holders import (
    holder_device_enrol,
    holder_onboard,
    holder_register,
    wallet_change_class,
    wallet_class_update,
    wallet_classes_apply_preset,
    wallet_open,
)
from wallets.services.housekeeping import idempotency_records_prune
from wallets.services.institutions import (
    central_bank_ensure,
    operator_onboard,
    operator_set_status,
    operator_staff_assign,
    reference_data_ensure,
)
from wallets.services.issuance import (
    issuance_approve,
    issuance_reject,
    issuance_request,
)
from wallets.services.merchants import (
    merchant_register,
    merchant_set_status,
    merchant_staff_enrol,
)
from wallets.services.offline import (
    SyncItem,
    SyncOutcome,
    SyncResult,
    double_spend_alert_acknowledge,
    offline_ca_public_key,
    offline_device_load,
    offline_device_register,
    offline_limit_set,
    offline_sync,
)
from wallets.services.payments import (
    LoadSpec,
    PaymentSpec,
    RequestRecord,
    payment_submit,
    payment_submit_at_once,
    payments_submit_many,
    wallet_load,
    wallet_loads_submit_many,
    wallet_unload,
)
from wallets.services.subwallets import (
    SubWalletPull,
    sub_wallet_pull,
    sub_wallet_push,
    sub_wallet_revoke,
    sub_wallets_expire,
)
from wallets.services.vouchers import (
    lottery_winners,
    voucher_apply,
    voucher_eligible,
    voucher_lottery_draw,
    voucher_programme_create,
    voucher_programme_fund,
    voucher_programmes_expire,
)
from wallets.services.webhooks import (
    deliveries_drain,
    delivery_attempt,
    event_body,
    events_record,
    webhook_disable,
    webhook_redeliver,
    webhook_register,
    webhook_rotate_secret,
)

__all__ = [
    "DisclosedIdentity",
    "LoadSpec",
    "PaymentSpec",
    "RequestPayment",
    "RequestRecord",
    "RequestState",
    "SubWalletPull",
    "SyncItem",
    "SyncOutcome",
    "SyncResult",
    "audit_verification_request",
    "audit_verification_run",
    "central_bank_ensure",
    "collection_code_create",
    "deliveries_drain",
    "delivery_attempt",
    "double_spend_alert_acknowledge",
    "escrow_approve",
    "escrow_cancel",
    "escrow_confirm",
    "escrow_create",
    "escrow_state",
    "escrow_timeout_default",
    "escrows_release_due",
    "event_body",
    "events_record",
    "freeze_lift",
    "holder_device_enrol",
    "holder_onboard",
    "holder_register",
    "idempotency_records_prune",
    "identity_disclosure_approve",
    "identity_disclosure_read",
    "identity_disclosure_reject",
    "identity_disclosure_request",
    "issuance_approve",
    "issuance_reject",
    "issuance_request",
    "lottery_winners",
    "merchant_register",
    "merchant_set_status",
    "merchant_staff_enrol",
    "offline_ca_public_key",
    "offline_device_load",
    "offline_device_register",
    "offline_limit_set",
    "offline_sync",
    "operator_onboard",
    "operator_set_status",
    "operator_staff_assign",
    "payment_request_cancel",
    "payment_request_create",
    "payment_request_pay",
    "payment_submit",
    "payment_submit_at_once",
    "payments_submit_many",
    "reference_data_ensure",
    "refund_create",
    "refund_deadline",
    "refundable",
    "request_from_payload",
    "request_payload",
    "request_state",
    "sub_wallet_pull",
    "sub_wallet_push",
    "sub_wallet_revoke",
    "sub_wallets_expire",
    "voucher_apply",
    "voucher_eligible",
    "voucher_lottery_draw",
    "voucher_programme_create",
    "voucher_programme_fund",
    "voucher_programmes_expire",
    "wallet_change_class",
    "wallet_class_update",
    "wallet_classes_apply_preset",
    "wallet_close",
    "wallet_freeze",
    "wallet_load",
    "wallet_loads_submit_many",
    "wallet_open",
    "wallet_unload",
    "webhook_disable",
    "webhook_redeliver",
    "webhook_register",
    "webhook_rotate_secret",
]
