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
    # Idempotency
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    # Roles and workflow
    PERMISSION_DENIED = "PERMISSION_DENIED"
    MAKER_CHECKER = "MAKER_CHECKER"
    INVALID_STATE = "INVALID_STATE"
    KYC_INSUFFICIENT = "KYC_INSUFFICIENT"
    OPERATOR_SUSPENDED = "OPERATOR_SUSPENDED"
    WALLET_CLOSED = "WALLET_CLOSED"
    CONFLICT = "CONFLICT"
    # Audit
    AUDIT_KEY_MISSING = "AUDIT_KEY_MISSING"
    NOT_CHECKPOINTED = "NOT_CHECKPOINTED"


STATUS_BY_CODE = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.IDEMPOTENCY_CONFLICT: 422,
    ErrorCode.MAKER_CHECKER: 403,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.AUDIT_KEY_MISSING: 503,
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
