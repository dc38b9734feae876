"""A payment request's QR code as an image, PNG or SVG, drawn by segno. Pure: no Django.

Error correction is fixed at M (15% of the code may be lost), as payment codes usually are:
a printed code at a till gets scuffed. segno's default would raise it to the strongest level
that fits the same size; fixing it keeps one payload one image. The border is the four
modules of quiet zone the QR standard asks for.
"""

import io

import segno

ERROR = "M"
BORDER = 4
DEFAULT_SCALE = 8  # pixels (PNG) or user units (SVG) per module
MAX_SCALE = 32


def code(payload: str) -> segno.QRCode:
    return segno.make_qr(payload, error=ERROR, boost_error=False)


def render(payload: str, kind: str, scale: int = DEFAULT_SCALE) -> bytes:
    """The code's image: `kind` "png" or "svg"."""
    out = io.BytesIO()
    code(payload).save(out, kind=kind, scale=scale, border=BORDER)
    return out.getvalue()
