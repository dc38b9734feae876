from ewallet.errors import ErrorCode, EwalletError


class WalletError(EwalletError):
    """A wallet action refused before any money moves."""


def not_found(what: str) -> WalletError:
    return WalletError(ErrorCode.NOT_FOUND, f"{what} not found")
