"""The error model: one root exception with a stable code.

Codes are part of the API: clients and tests match on them, never on the message.
Rejection codes of transfers (`settlement.models.RejectCode`) share the same names.
"""

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # Input
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_INPUT = "INVALID_INPUT"
    SAME_ACCOUNT = "SAME_ACCOUNT"
    ASSET_MISMATCH = "ASSET_MISMATCH"
    NOT_FOUND = "NOT_FOUND"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    DUPLICATE_JSON_KEY = "DUPLICATE_JSON_KEY"  # a JSON object naming one key twice
    JSON_TOO_DEEP = "JSON_TOO_DEEP"  # arrays and objects nested past the parser's limit
    BODY_TOO_LARGE = "BODY_TOO_LARGE"  # past DATA_UPLOAD_MAX_MEMORY_SIZE
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # Idempotency: the same key with another request; a missing key; the first still running
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    IDEMPOTENCY_KEY_MISSING = "IDEMPOTENCY_KEY_MISSING"
    IDEMPOTENCY_IN_FLIGHT = "IDEMPOTENCY_IN_FLIGHT"
    # Callers
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    RATE_LIMITED = "RATE_LIMITED"
    # Roles and workflow
    PERMISSION_DENIED = "PERMISSION_DENIED"
    MAKER_CHECKER = "MAKER_CHECKER"
    INVALID_STATE = "INVALID_STATE"
    KYC_INSUFFICIENT = "KYC_INSUFFICIENT"
    OPERATOR_SUSPENDED = "OPERATOR_SUSPENDED"
    WALLET_CLOSED = "WALLET_CLOSED"
    FREEZE_AUTHORITY = "FREEZE_AUTHORITY"  # only the authority that gave a freeze lifts it
    TOKEN_LIMIT = "TOKEN_LIMIT"  # too many live API tokens for one user
    CONFLICT = "CONFLICT"
    # Merchant acquiring: QR payment requests and refunds
    MERCHANT_SUSPENDED = "MERCHANT_SUSPENDED"
    REQUEST_FORGED = "REQUEST_FORGED"  # not a code we signed
    REQUEST_ALTERED = "REQUEST_ALTERED"  # one we signed, changed since
    REQUEST_EXPIRED = "REQUEST_EXPIRED"
    REQUEST_CANCELLED = "REQUEST_CANCELLED"
    REQUEST_ALREADY_PAID = "REQUEST_ALREADY_PAID"
    NOT_REFUNDABLE = "NOT_REFUNDABLE"  # not a settled payment to this merchant
    REFUND_WINDOW_CLOSED = "REFUND_WINDOW_CLOSED"
    REFUND_EXCEEDS_PAYMENT = "REFUND_EXCEEDS_PAYMENT"
    WEBHOOK_TARGET_REFUSED = "WEBHOOK_TARGET_REFUSED"  # not http(s), or a forbidden address
    WEBHOOK_LIMIT = "WEBHOOK_LIMIT"  # too many live endpoints for one merchant
    # Conditional payments (escrow)
    ESCROW_NOT_HELD = "ESCROW_NOT_HELD"  # decided, refused, or its release or void under way
    CONDITION_NOT_MET = "CONDITION_NOT_MET"  # not its condition, or not yet its release time
    NOT_THE_PAYER = "NOT_THE_PAYER"  # only the payer (or their operator) confirms
    NOT_THE_APPROVER = "NOT_THE_APPROVER"  # only the user it names approves
    NOT_A_PARTY = "NOT_A_PARTY"  # only the payer's and the payee's side agree to cancel
    # Consumption vouchers
    VOUCHER_ALREADY_APPLIED = "VOUCHER_ALREADY_APPLIED"  # a wallet enters a lottery once
    VOUCHER_APPLICATIONS_CLOSED = "VOUCHER_APPLICATIONS_CLOSED"  # drawn, or past its window
    VOUCHER_NOT_FUNDED = "VOUCHER_NOT_FUNDED"  # no draw before the funding settled
    # Sub-wallets pushed to merchants
    SUB_WALLET_EXHAUSTED = "SUB_WALLET_EXHAUSTED"  # a pull beyond what is left of the cap
    SUB_WALLET_REVOKED = "SUB_WALLET_REVOKED"
    SUB_WALLET_EXPIRED = "SUB_WALLET_EXPIRED"
    # Linked transfers: refused because another member of the chain was; a batch whose
    # last item is linked to nothing
    LINKED_FAILED = "LINKED_FAILED"
    LINKED_CHAIN_OPEN = "LINKED_CHAIN_OPEN"
    # Controllable anonymity: wallets per person, disclosure of an anonymous identity
    WALLET_LIMIT_PER_PERSON = "WALLET_LIMIT_PER_PERSON"  # this class's wallets, all operators
    DISCLOSURE_NOT_APPROVED = "DISCLOSURE_NOT_APPROVED"  # not (yet) enough approvals
    DISCLOSURE_DECIDED = "DISCLOSURE_DECIDED"  # already approved or rejected
    DISCLOSURE_EXPIRED = "DISCLOSURE_EXPIRED"  # lapsed unapproved, or its reading window ended
    DUPLICATE_APPROVAL = "DUPLICATE_APPROVAL"  # one approver counts once
    # Dual-offline hardware wallets
    DEVICE_BLOCKED = "DEVICE_BLOCKED"  # a double spend was seen: no loads, no unloads
    OFFLINE_CAP_EXCEEDED = "OFFLINE_CAP_EXCEEDED"  # a load past the central bank's cap
    OFFLINE_SIGNATURE_INVALID = "OFFLINE_SIGNATURE_INVALID"  # not signed by the payer device
    OFFLINE_DEVICE_UNKNOWN = "OFFLINE_DEVICE_UNKNOWN"  # a payer or payee never registered
    OFFLINE_NOT_A_PARTY = "OFFLINE_NOT_A_PARTY"  # uploaded by a device that neither paid nor got it
    # Audit
    AUDIT_KEY_MISSING = "AUDIT_KEY_MISSING"
    NOT_CHECKPOINTED = "NOT_CHECKPOINTED"
    # Ours, never the client's
    INTERNAL_ERROR = "INTERNAL_ERROR"


STATUS_BY_CODE = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.IDEMPOTENCY_CONFLICT: 422,
    ErrorCode.MAKER_CHECKER: 403,
    ErrorCode.FREEZE_AUTHORITY: 403,
    ErrorCode.TOKEN_LIMIT: 409,
    ErrorCode.OPERATOR_SUSPENDED: 409,
    ErrorCode.WALLET_CLOSED: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.MERCHANT_SUSPENDED: 409,
    ErrorCode.REQUEST_FORGED: 400,
    ErrorCode.REQUEST_ALTERED: 400,
    ErrorCode.REQUEST_EXPIRED: 409,
    ErrorCode.REQUEST_CANCELLED: 409,
    ErrorCode.REQUEST_ALREADY_PAID: 409,
    ErrorCode.NOT_REFUNDABLE: 409,
    ErrorCode.REFUND_WINDOW_CLOSED: 409,
    ErrorCode.REFUND_EXCEEDS_PAYMENT: 409,
    ErrorCode.WEBHOOK_TARGET_REFUSED: 400,
    ErrorCode.WEBHOOK_LIMIT: 409,
    ErrorCode.ESCROW_NOT_HELD: 409,
    ErrorCode.CONDITION_NOT_MET: 409,
    ErrorCode.NOT_THE_PAYER: 403,
    ErrorCode.NOT_THE_APPROVER: 403,
    ErrorCode.NOT_A_PARTY: 403,
    ErrorCode.VOUCHER_ALREADY_APPLIED: 409,
    ErrorCode.VOUCHER_APPLICATIONS_CLOSED: 409,
    ErrorCode.VOUCHER_NOT_FUNDED: 409,
    ErrorCode.SUB_WALLET_EXHAUSTED: 409,
    ErrorCode.SUB_WALLET_REVOKED: 409,
    ErrorCode.SUB_WALLET_EXPIRED: 409,
    ErrorCode.LINKED_FAILED: 422,
    ErrorCode.WALLET_LIMIT_PER_PERSON: 409,
    ErrorCode.DISCLOSURE_NOT_APPROVED: 409,
    ErrorCode.DISCLOSURE_DECIDED: 409,
    ErrorCode.DISCLOSURE_EXPIRED: 409,
    ErrorCode.DUPLICATE_APPROVAL: 409,
    ErrorCode.DEVICE_BLOCKED: 409,
    ErrorCode.OFFLINE_CAP_EXCEEDED: 409,
    ErrorCode.OFFLINE_SIGNATURE_INVALID: 400,
    ErrorCode.OFFLINE_DEVICE_UNKNOWN: 404,
    ErrorCode.OFFLINE_NOT_A_PARTY: 400,
    ErrorCode.AUDIT_KEY_MISSING: 503,
    ErrorCode.NOT_CHECKPOINTED: 409,
    ErrorCode.IDEMPOTENCY_IN_FLIGHT: 409,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
}


class EwalletError(Exception):
    """Root of every error this project raises on purpose."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.extra = extra

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, 400)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
