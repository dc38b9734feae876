"""Links between one person's KYC records at several operators, for the central bank.

A person who banks at two operators is two holders, one per operator; each operator keeps
its own KYC. The central bank sees, at most, that two records are the same person: a
keyed hash (HMAC-SHA256) of the identity number, or of the phone number for phone-only
holders, under a key the operators do not hold. Pure: imports nothing from Django.
"""

import hashlib
import hmac
import unicodedata


def normalise(kind: str, value: str) -> str:
    """The same identity written two ways hashes the same: no spaces or dashes, upper case
    (identity numbers end in a check character that may be 'x'); a Chinese mobile number
    without its country code (+86, 0086), so that writing it once with and once without
    does not make two people of one (and two anonymous wallets of one phone)."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isalnum()).upper()
    if kind == "phone":
        for prefix in ("0086", "86"):
            rest = text.removeprefix(prefix)
            if rest != text and len(rest) == 11 and rest.startswith("1"):
                text = rest
                break
    return f"{kind}:{text}"


def identity_link(key: bytes, *, id_number: str = "", phone: str = "") -> str:
    """The central bank's link for a KYC record: from the identity number when there is
    one, else from the phone number; "" when there is neither."""
    if id_number:
        message = normalise("id", id_number)
    elif phone:
        message = normalise("phone", phone)
    else:
        return ""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
