"""A payment request's QR code as PNG and SVG: exactly segno's drawing of the request's
signed payload (error correction M, four modules of quiet zone), seen by whoever sees the
request and no one else."""

import io
from xml.etree import ElementTree

import pytest
import segno
from PIL import Image
from rest_framework.test import APIClient

from tests.api.conftest import idem
from wallets import services
from wallets.models import PaymentRequest


def as_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def segno_drawing(payload: str, kind: str, scale: int) -> bytes:
    out = io.BytesIO()
    segno.make_qr(payload, error="M", boost_error=False).save(out, kind=kind, scale=scale, border=4)
    return out.getvalue()


@pytest.fixture
def shop(api):
    return api.world.merchant("Luohu Fresh Market")


@pytest.fixture
def request_code(shop) -> str:
    made = as_token(shop.token).post(
        "/api/v1/payment-requests",
        {"amount": "36.80", "order_reference": "A-1", "memo": "vegetables"},
        format="json",
        **idem(),
    )
    assert made.status_code == 201, made.content
    return made.json()["code"]


def test_the_png_is_segnos_drawing_of_the_signed_payload(api, shop, request_code):
    payload = services.request_payload(PaymentRequest.objects.get(code=request_code))
    till = as_token(shop.token)
    png = till.get(f"/api/v1/payment-requests/{request_code}/qr.png")
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png.content == segno_drawing(payload, "png", 8)
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG"
    # Version 1 to 40 is 21 to 177 modules, plus 4 each side, 8 pixels a module.
    side = segno.make_qr(payload, error="M", boost_error=False).symbol_size(scale=8, border=4)
    assert image.size == side and side[0] == side[1]
    assert (21 + 8) * 8 <= image.size[0] <= (177 + 8) * 8
    assert segno.make_qr(payload, error="M", boost_error=False).error == "M"

    small = till.get(f"/api/v1/payment-requests/{request_code}/qr.png?scale=2")
    assert small.content == segno_drawing(payload, "png", 2)
    assert Image.open(io.BytesIO(small.content)).size == (image.size[0] // 4,) * 2


def test_the_svg_is_well_formed_and_segnos_drawing_too(api, shop, request_code):
    payload = services.request_payload(PaymentRequest.objects.get(code=request_code))
    svg = as_token(shop.token).get(f"/api/v1/payment-requests/{request_code}/qr.svg")
    assert svg.status_code == 200
    assert svg["Content-Type"] == "image/svg+xml"
    assert svg.content == segno_drawing(payload, "svg", 8)
    root = ElementTree.fromstring(svg.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    side = segno.make_qr(payload, error="M", boost_error=False).symbol_size(scale=8, border=4)
    assert (int(root.get("width")), int(root.get("height"))) == side


def test_a_static_codes_image_draws_its_payload_as_well(api, shop):
    till = as_token(shop.token)
    made = till.post("/api/v1/payment-requests", {"kind": "STATIC"}, format="json", **idem())
    code = made.json()
    png = till.get(code["qr_png"])
    assert png.content == segno_drawing(code["payload"], "png", 8)


def test_only_those_who_see_the_request_see_its_code(api, shop, request_code):
    other = api.world.merchant("Futian Books", operator="CCB")
    for suffix in ("qr.png", "qr.svg"):
        path = f"/api/v1/payment-requests/{request_code}/{suffix}"
        for who in ("icbc_staff", "auditor"):  # its operator and the central bank
            assert api.client(who).get(path).status_code == 200, (who, suffix)
        missing = as_token(other.token).get(f"/api/v1/payment-requests/pr_none/{suffix}")
        for client in (as_token(other.token), api.client("ccb_staff"), api.client("alice")):
            answer = client.get(path, HTTP_ACCEPT="image/png, image/svg+xml")
            assert answer.status_code == 404
            assert answer["Content-Type"] == "application/problem+json"
            assert answer.content == missing.content
        anonymous = api.client(None).get(path)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "NOT_AUTHENTICATED")


def test_a_bad_scale_or_accept_is_a_problem_in_json(api, shop, request_code):
    till = as_token(shop.token)
    path = f"/api/v1/payment-requests/{request_code}/qr.png"
    for scale in ("0", "33", "big"):
        answer = till.get(f"{path}?scale={scale}")
        assert (answer.status_code, answer["Content-Type"]) == (400, "application/problem+json")
        assert answer.json()["errors"][0]["pointer"] == "/scale"
    refused = till.get(path, HTTP_ACCEPT="application/json")
    assert (refused.status_code, refused.json()["code"]) == (406, "NOT_ACCEPTABLE")
    assert refused["Content-Type"] == "application/problem+json"
    assert till.get(path, HTTP_ACCEPT="*/*").status_code == 200
