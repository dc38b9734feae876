"""The payload a merchant's QR code carries, and its signature. Pure: imports no Django.

    ECNY1.<base64url(JSON fields)>.<base64url(HMAC-SHA256(key, "ECNY1." + body))>

The fields name the request, the merchant and, on a dynamic request, the amount in fen,
the expiry (Unix seconds) and the order reference. A wallet app shows them to the payer and
sends the whole payload back to pay; the server checks the signature with its key, so a
code that is not one of ours (forged) or is one of ours changed (altered) is refused before
anything is looked up or moved.
"""

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

PREFIX = "ECNY1"
MAX_PAYLOAD = 1024


@dataclass(frozen=True)
class Fields:
    request: str  # the request's code
    merchant: str  # the merchant's code
    amount: int | None = None  # fen; none on a static code
    expires: int | None = None  # Unix seconds; none on a static code
    reference: str = ""

    def as_json(self) -> dict:
        data = {"req": self.request, "mch": self.merchant, "cur": "CNY"}
        if self.amount is not None:
            data["amt"] = self.amount
        if self.expires is not None:
            data["exp"] = self.expires
        if self.reference:
            data["ref"] = self.reference
        return data


class Malformed(ValueError):
    """Not a payload of this format at all."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Malformed("not base64url") from exc


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode(), hashlib.sha256).digest()


def sign(key: bytes, fields: Fields) -> str:
    body = _b64(json.dumps(fields.as_json(), sort_keys=True, separators=(",", ":")).encode())
    signed = f"{PREFIX}.{body}"
    return f"{signed}.{_b64(_mac(key, signed))}"


def open_payload(key: bytes, payload: str) -> tuple[Fields, bool]:
    """The fields a payload claims, and whether its signature is ours. Raises `Malformed`
    when it does not even parse: a forgery, or not an e-CNY code."""
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD:
        raise Malformed("not a payment code")
    parts = payload.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise Malformed("not a payment code")
    try:
        data = json.loads(_unb64(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Malformed("not JSON") from exc
    if not isinstance(data, dict) or data.get("cur") != "CNY":
        raise Malformed("not an e-CNY payment code")
    request, merchant = data.get("req"), data.get("mch")
    amount, expires, reference = data.get("amt"), data.get("exp"), data.get("ref", "")
    if not (isinstance(request, str) and isinstance(merchant, str) and isinstance(reference, str)):
        raise Malformed("fields of the wrong type")
    for number in (amount, expires):
        if number is not None and (type(number) is not int or number <= 0):
            raise Malformed("fields of the wrong type")
    fields = Fields(request, merchant, amount, expires, reference)
    genuine = hmac.compare_digest(_mac(key, f"{parts[0]}.{parts[1]}"), _unb64(parts[2]))
    return fields, genuine
