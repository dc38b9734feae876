"""Dual-offline hardware wallets over /api/v1/: register a device to a wallet, load its
offline reserve, sync what it paid and took with no network, and the operator's
double-spend alerts.

As in wallets/api/subwallets.py: each view finds through the scoped selectors (what the
caller may not see is a 404, the same as what does not exist), calls one service with the
caller as its actor, and renders with an output serializer. The services hold every rule.
"""

from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ewallet.errors import ErrorCode
from wallets import selectors, services
from wallets.actors import request_actor
from wallets.api import offline_serializers as off
from wallets.api import serializers as s
from wallets.api.fields import parse
from wallets.api.idempotency import idempotency_key, idempotent
from wallets.api.schema import (
    IDEMPOTENCY_KEY,
    LOCATION,
    PAGE_PARAMETERS,
    REPLAYED,
    page_of,
    problems,
)
from wallets.api.views import ledger_key, page, transfer_response
from wallets.models import OfflinePayment

# ---------------------------------------------------------------- examples

_ALICE = "0142518301920344"
_CARD = "3f9a1c0e5b7d2a4c6e8f0a1b2c3d4e5f"
_SHOP = "9b8a7c6d5e4f30211203f4e5d6c7b8a9"
_DEVICE = {
    "device_id": _CARD,
    "name": "Alice's card",
    "wallet": _ALICE,
    "state": "ACTIVE",
    "public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "certificate": "652d434e59206f66666c696e652064657669636520636572746966696361746521…",
    "ca_public_key": "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
    "cap": "2000.00",
    "cap_fen": 200000,
    "loaded": "500.00",
    "loaded_fen": 50000,
    "loading": "0.00",
    "loading_fen": 0,
    "claimed": "36.80",
    "claimed_fen": 3680,
    "allocated": "36.80",
    "allocated_fen": 3680,
    "available": "463.20",
    "available_fen": 46320,
    "shortfall": "0.00",
    "shortfall_fen": 0,
    "blocked_at": None,
    "blocked_reason": "",
    "created_at": "2020-12-11T08:00:00Z",
    "last_synced_at": "2020-12-12T19:30:00Z",
}
REGISTER_EXAMPLE = OpenApiExample(
    "Alice's card, registered by her operator",
    value={
        "wallet": _ALICE,
        "public_key": _DEVICE["public_key"],
        "name": "Alice's card",
    },
    request_only=True,
)
DEVICE_EXAMPLE = OpenApiExample(
    "After one payment synced", value=_DEVICE, response_only=True, status_codes=["200", "201"]
)
_PAYMENT_IN = {
    "version": 1,
    "payer": _CARD,
    "payee": _SHOP,
    "amount_fen": 3680,
    "counter": 1,
    "prev_hash": "0" * 64,
    "time_ms": 1607760000000,
    "signature": "9f1c…(128 hex)",
}
SYNC_EXAMPLE = OpenApiExample(
    "The shop's device uploads a payment it took offline",
    value={"payments": [_PAYMENT_IN]},
    request_only=True,
)
_PAYMENT_OUT = {
    "hash": "5d41402abc4b2a76b9719d911017c592ae2f4b6e1f9c3d8a7b6e5f4d3c2b1a09",
    "payer": _CARD,
    "payee": _SHOP,
    "payee_wallet": "0298877766554433",
    "unload": False,
    "amount": "36.80",
    "amount_fen": 3680,
    "counter": 1,
    "prev_hash": "0" * 64,
    "signed_at": "2020-12-12T08:00:00Z",
    "received_at": "2020-12-12T19:30:00Z",
    "state": "QUEUED",
    "allocated": "36.80",
    "allocated_fen": 3680,
    "paid": "0.00",
    "paid_fen": 0,
    "shortfall": "0.00",
    "shortfall_fen": 0,
}
SYNCED_EXAMPLE = OpenApiExample(
    "Accepted, one refused",
    value={
        "device": {**_DEVICE, "device_id": _SHOP, "wallet": "0298877766554433"},
        "results": [
            {
                "result": "ACCEPTED",
                "code": None,
                "detail": "",
                "hash": _PAYMENT_OUT["hash"],
                "payment": _PAYMENT_OUT,
            },
            {
                "result": "REFUSED",
                "code": ErrorCode.OFFLINE_SIGNATURE_INVALID,
                "detail": "not signed by the payer's device",
                "hash": "0c1d…",
                "payment": None,
            },
        ],
        "blocked": ["77aa00c3e2d14f5b8e6a9c0d1b2f3e4a"],
    },
    response_only=True,
    status_codes=["200"],
)
CAP_EXAMPLE = OpenApiExample(
    "A load past the central bank's cap",
    value={
        "type": "https://ecny.example/problems/offline-cap-exceeded",
        "title": "Conflict",
        "status": 409,
        "detail": "the device may hold 200000 fen offline and holds 50000",
        "code": ErrorCode.OFFLINE_CAP_EXCEEDED,
        "available_fen": 150000,
    },
    response_only=True,
    status_codes=["409"],
)
ALERT_EXAMPLE = OpenApiExample(
    "A cloned card spent counter 7 twice",
    value={
        "id": 12,
        "device": _CARD,
        "wallet": _ALICE,
        "operator": "ICBC",
        "device_state": "BLOCKED",
        "shape": "COUNTER_REUSED",
        "key": "7",
        "evidence": ["5d41…", "9e10…"],
        "detected_at": "2020-12-12T19:30:00Z",
        "acknowledged_at": None,
        "acknowledged_by": None,
        "note": "",
    },
    response_only=True,
    status_codes=["200"],
)


# ---------------------------------------------------------------- devices


def device_response(request, device_id: str, status: int = 200) -> Response:
    device = visible_device(request, device_id)
    location = reverse("api:offline-device", kwargs={"device_id": device.device_id})
    body = off.OfflineDeviceOut(device).data
    return Response(body, status=status, headers={"Location": location})


def visible_device(request, device_id: str):
    return get_object_or_404(
        selectors.offline_devices_visible_to(request_actor(request)), device_id=device_id
    )


class OfflineDevicesView(APIView):
    @extend_schema(
        summary="Hardware wallets the caller may see, newest first, with their reserves",
        description="Whoever sees the wallet a device is registered to sees the device: its "
        "holder, its operator's staff, the central bank.",
        operation_id="offline_devices_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(off.OfflineDeviceOut), **problems(400)},
    )
    def get(self, request):
        devices = selectors.offline_devices_visible_to(request_actor(request))
        return page(self, request, devices, off.OfflineDeviceOut)

    @extend_schema(
        summary="Register a hardware wallet's key to a wallet",
        description="By the wallet's holder or its operator's staff (who issue the cards); "
        "anyone else who sees the wallet 403, the rest 404. The device's id is derived "
        "from its key; it gets a reserve account and a certificate of the offline CA "
        "naming its id, key, cap (the central bank's offline limit for the wallet's class) "
        "and expiry, which it shows payees. A merchant's wallet may have devices too (its "
        "counter terminals); a sub-wallet none. Refused: 400 INVALID_INPUT (not an Ed25519 "
        "key), 409 CONFLICT (the key is registered), 409 "
        "OPERATOR_SUSPENDED.",
        request=off.OfflineDeviceIn,
        parameters=[LOCATION],
        responses={201: off.OfflineDeviceOut, **problems(400, 403, 404, 409)},
        examples=[REGISTER_EXAMPLE, DEVICE_EXAMPLE],
    )
    def post(self, request):
        who = request_actor(request)
        data = parse(off.OfflineDeviceIn, request.data)
        wallet = get_object_or_404(selectors.wallets_visible_to(who), number=data["wallet"])
        made = services.offline_device_register(
            actor=who,
            wallet=wallet,
            public_key=bytes.fromhex(data["public_key"]),
            name=data["name"],
        )
        return device_response(request, made.device_id, status=201)


class OfflineDeviceView(APIView):
    @extend_schema(
        summary="One hardware wallet: its state, certificate and reserve",
        responses={200: off.OfflineDeviceOut, **problems(404)},
        examples=[DEVICE_EXAMPLE],
    )
    def get(self, request, device_id: str):
        return device_response(request, device_id)


class OfflineDeviceLoadView(APIView):
    @extend_schema(
        summary="Load a device's offline reserve from its wallet",
        description="By the wallet's holder or its operator's staff. An OFFLINE_LOAD "
        "transfer from the wallet into the device's reserve, counted against the wallet's "
        "payment limits; the ledger may still reject it (funds, limits, a freeze). The "
        "device may spend it offline once it has settled. Refused with nothing moved: 409 "
        "DEVICE_BLOCKED, 409 OFFLINE_CAP_EXCEEDED (with `available_fen`).",
        request=off.OfflineLoadIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED, LOCATION],
        responses={
            202: OpenApiResponse(s.TransferOut, description="queued"),
            **problems(400, 403, 404, 409, 422),
        },
        examples=[CAP_EXAMPLE],
    )
    @idempotent
    def post(self, request, device_id: str):
        device = visible_device(request, device_id)
        data = parse(off.OfflineLoadIn, request.data)
        transfer = services.offline_device_load(
            actor=request_actor(request),
            device=device,
            amount=data["amount"],
            idempotency_key=ledger_key(request, idempotency_key(request)),
        )
        return transfer_response(request, transfer)


def payments_out(hashes: list[str]) -> dict[str, OfflinePayment]:
    rows = selectors.offline_payments_with_settlement(
        OfflinePayment.objects.filter(hash__in=hashes).select_related("payer", "payee__wallet")
    )
    return {row.hash: row for row in rows}


class OfflineDeviceSyncView(APIView):
    @extend_schema(
        summary="Sync a device: upload what it paid and took offline",
        description="By the wallet's holder or its operator's staff (the device's app, or a "
        "terminal it is plugged into). Each payment is answered on its own: ACCEPTED, "
        "DUPLICATE (the server had it: from the other side, or an earlier sync; syncing "
        "twice changes nothing) or REFUSED with a code: OFFLINE_NOT_A_PARTY (the device "
        "neither paid nor got it), OFFLINE_DEVICE_UNKNOWN, OFFLINE_SIGNATURE_INVALID, "
        "INVALID_INPUT or INVALID_AMOUNT (bytes the format cannot hold), DEVICE_BLOCKED (an "
        "unload by a blocked device). Payments are paid as they arrive, gaps or not, from "
        "the payer's reserve, first synced first paid: a payment the reserve cannot cover "
        "(its payer spent it twice) is SHORT. A reused counter, a fork or spending past "
        "the reserve blocks the payer and alerts its operator. The answer lists every "
        "blocked device, whose payments the device then refuses. No Idempotency-Key: every "
        "payment is stored once, by its hash.",
        request=off.OfflineSyncIn,
        responses={200: off.OfflineSyncOut, **problems(400, 403, 404)},
        examples=[SYNC_EXAMPLE, SYNCED_EXAMPLE],
    )
    def post(self, request, device_id: str):
        device = visible_device(request, device_id)
        data = parse(off.OfflineSyncIn, request.data)
        result = services.offline_sync(
            actor=request_actor(request), device=device, payments=data["payments"]
        )
        rows = payments_out([item.hash for item in result.items if item.code is None])
        body = {
            "device": off.OfflineDeviceOut(visible_device(request, device_id)).data,
            "results": [
                off.OfflineSyncItemOut(
                    {
                        "result": item.result,
                        "code": item.code,
                        "message": item.message,
                        "hash": item.hash,
                        "payment": rows.get(item.hash),
                    }
                ).data
                for item in result.items
            ],
            "blocked": result.blocked,
        }
        return Response(body)


class OfflineDevicePaymentsView(APIView):
    @extend_schema(
        summary="The offline payments a device paid or took, newest first",
        operation_id="offline_device_payments_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(off.OfflinePaymentOut), **problems(400, 404)},
    )
    def get(self, request, device_id: str):
        device = visible_device(request, device_id)
        payments = selectors.offline_payments_visible_to(request_actor(request)).filter(
            Q(payer=device) | Q(payee=device)
        )
        return page(self, request, payments, off.OfflinePaymentOut)


class OfflineBlocklistView(APIView):
    @extend_schema(
        summary="Every blocked device's id: payees refuse their payments",
        description="What every sync answer carries, for a device (or its app) to refresh "
        "without uploading anything.",
        responses={200: off.BlocklistOut, **problems()},
    )
    def get(self, request):
        return Response({"blocked": selectors.blocked_devices()})


# ---------------------------------------------------------------- alerts


def visible_alert(request, alert_id: int):
    return get_object_or_404(
        selectors.double_spend_alerts_visible_to(request_actor(request)), pk=alert_id
    )


class DoubleSpendAlertsView(APIView):
    @extend_schema(
        summary="Double spends found at sync, newest first",
        description="The device's operator's staff see their own devices' alerts, the "
        "central bank all; holders none (their device's state says it is blocked).",
        operation_id="double_spend_alerts_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(off.DoubleSpendAlertOut), **problems(400)},
    )
    def get(self, request):
        alerts = selectors.double_spend_alerts_visible_to(request_actor(request))
        return page(self, request, alerts, off.DoubleSpendAlertOut)


class DoubleSpendAlertAcknowledgeView(APIView):
    @extend_schema(
        summary="Take a double-spend case up (the device's operator)",
        description="Records who and when, with a note; acknowledging twice changes "
        "nothing. The device stays blocked. The central bank sees it but 403.",
        request=off.AcknowledgeIn,
        responses={200: off.DoubleSpendAlertOut, **problems(400, 403, 404)},
        examples=[ALERT_EXAMPLE],
    )
    def post(self, request, alert_id: int):
        alert = visible_alert(request, alert_id)
        data = parse(off.AcknowledgeIn, request.data)
        services.double_spend_alert_acknowledge(
            actor=request_actor(request), alert=alert, note=data["note"]
        )
        return Response(off.DoubleSpendAlertOut(visible_alert(request, alert_id)).data)
