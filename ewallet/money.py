"""Money is an integer number of fen (1 yuan = 100 fen), never a float.

At the edges amounts travel as strings of yuan with at most two decimals ("12.34");
`parse_yuan` is the only way in and `format_fen` the only way out.
"""

import re

from .errors import ErrorCode, EwalletError

FEN_PER_YUAN = 100
# Ten trillion yuan: more than all e-CNY ever issued, and below 2**53 so every amount is
# an exact JSON number for canonical (RFC 8785) hashing.
MAX_AMOUNT_FEN = 10**15

_YUAN = re.compile(r"(?P<yuan>0|[1-9][0-9]{0,13})(?:\.(?P<fen>[0-9]{1,2}))?")


def parse_yuan(text: object, *, field: str = "amount") -> int:
    """Parse "12.34" into 1234 fen. Rejects signs, exponents, floats, >2 decimals, zero."""
    if not isinstance(text, str):
        raise EwalletError(
            ErrorCode.INVALID_AMOUNT,
            f'{field} must be a string of yuan such as "12.34", not {type(text).__name__}',
            field=field,
        )
    match = _YUAN.fullmatch(text)
    if match is None:
        raise EwalletError(
            ErrorCode.INVALID_AMOUNT,
            f'{field} must be yuan with at most two decimals, such as "12.34"; got {text!r}',
            field=field,
        )
    fen = int(match["yuan"]) * FEN_PER_YUAN + int((match["fen"] or "0").ljust(2, "0"))
    return require_fen(fen, field=field)


def require_fen(amount: object, *, field: str = "amount") -> int:
    """Check an amount already in fen: a positive int within range (bool and float refused)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise EwalletError(
            ErrorCode.INVALID_AMOUNT,
            f"{field} must be an integer number of fen, not {type(amount).__name__}",
            field=field,
        )
    if amount <= 0:
        raise EwalletError(ErrorCode.INVALID_AMOUNT, f"{field} must be positive", field=field)
    if amount > MAX_AMOUNT_FEN:
        raise EwalletError(
            ErrorCode.INVALID_AMOUNT, f"{field} exceeds {format_fen(MAX_AMOUNT_FEN)}", field=field
        )
    return amount


def format_fen(fen: int) -> str:
    """1234 -> "12.34"; -5 -> "-0.05"."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be int, not {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{yuan}.{rest:02d}"


def yuan(amount: int | str) -> int:
    """Whole or decimal yuan to fen, for code and tests: yuan(500) == 50_000."""
    if isinstance(amount, int) and not isinstance(amount, bool):
        return amount * FEN_PER_YUAN
    return parse_yuan(amount)
