from ewallet.errors import ErrorCode, EwalletError


class TransferInvalid(EwalletError):
    """A transfer that cannot even be queued: wrong shape, unknown account, bad amount."""


class IdempotencyConflict(EwalletError):
    def __init__(self, key: str) -> None:
        # The key stays an attribute, not an extra member of the problem: it is the
        # ledger's key, which an interface derives from its caller's (the API's
        # `api:{user}:{key}`) and must not show them.
        super().__init__(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "this idempotency key was already used for a different transfer",
        )
        self.key = key


class LinkedFailed(EwalletError):
    """A member of a linked chain refused because another member was."""

    def __init__(self, failed: int) -> None:
        super().__init__(
            ErrorCode.LINKED_FAILED,
            f"linked with the chain's item {failed}, which was refused: the chain is refused whole",
            linked_failed=failed,
        )


class AuditKeyMissing(EwalletError):
    def __init__(self, path) -> None:
        super().__init__(
            ErrorCode.AUDIT_KEY_MISSING,
            f"no checkpoint signing key at {path}; create one with `manage.py audit keygen`",
        )


class AuditKeyUnregistered(AuditKeyMissing):
    """The key file holds a key that `audit keygen` did not register (or one retired):
    the signer refuses it rather than vouch for it itself."""

    def __init__(self, path, detail: str) -> None:
        EwalletError.__init__(
            self,
            ErrorCode.AUDIT_KEY_MISSING,
            f"the checkpoint signing key at {path} {detail}; register a key with "
            "`manage.py audit keygen --if-missing` (or `--rotate`)",
        )
