"""Roles are Django groups (created by a migration); services check them here."""

from enum import StrEnum

from ewallet.errors import ErrorCode, EwalletError


class Role(StrEnum):
    CB_ISSUER = "cb_issuer"  # maker of issuance and redemption requests
    CB_APPROVER = "cb_approver"  # checker: approves or rejects, never their own request
    CB_AUDITOR = "cb_auditor"  # read-only
    CB_POLICY = "cb_policy"  # edits wallet-class limits
    OPERATOR_STAFF = "operator_staff"


def has_role(actor, role: Role) -> bool:
    if actor is None:
        return False
    if actor.is_superuser:
        return True
    return actor.groups.filter(name=role).exists()


def require_role(actor, role: Role) -> None:
    if not has_role(actor, role):
        raise EwalletError(
            ErrorCode.PERMISSION_DENIED, f"this needs the {role} role", role=str(role)
        )
