"""What the hardware-wallet API accepts (`*In`, strict) and answers (`*Out`): devices and
their offline reserves, the payments they sync, and double-spend alerts."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallets import offline
from wallets.api.fields import AmountField, Instant, StrictSerializer, Yuan
from wallets.api.serializers import WALLET_NUMBER, Fen
from wallets.models import DoubleSpendShape, OfflineDeviceState
from wallets.selectors import offline_payment_state
from wallets.services import SyncOutcome, offline_ca_public_key

DEVICE_ID = {"regex": r"^[0-9a-f]{32}$", "trim_whitespace": False}
HASH = {"regex": r"^[0-9a-f]{64}$", "trim_whitespace": False}
SIGNATURE = {"regex": r"^[0-9a-f]{128}$", "trim_whitespace": False}
MAX_SYNC = 1_000


class OfflineDeviceIn(StrictSerializer):
    wallet = serializers.RegexField(**WALLET_NUMBER, help_text="the wallet it serves")
    public_key = serializers.RegexField(
        **HASH, help_text="the device's Ed25519 public key, 32 bytes in lower-case hex"
    )
    name = serializers.CharField(max_length=80, required=False, default="", allow_blank=True)


class OfflineDeviceOut(serializers.Serializer):
    # A device from selectors.offline_devices_visible_to (its reserve annotated).

    device_id = serializers.CharField(
        help_text="32 hex: the first 16 bytes of SHA-256('e-CNY offline device\\n' || key)"
    )
    name = serializers.CharField()
    wallet = serializers.CharField(source="wallet.number")
    state = serializers.ChoiceField(choices=OfflineDeviceState.choices)
    public_key = serializers.CharField()
    certificate = serializers.CharField(
        help_text="the offline CA's certificate of the device's id, key, cap and expiry "
        "(hex): what it shows a payee"
    )
    ca_public_key = serializers.SerializerMethodField(
        help_text="the offline CA's Ed25519 key (hex): what every device checks certificates with"
    )
    cap = Yuan(help_text="the most it may hold offline, as its certificate says")
    cap_fen = Fen(source="cap")
    loaded = Yuan(help_text="loads settled: all its reserve may ever pay out")
    loaded_fen = Fen(source="loaded")
    loading = Yuan(help_text="loads queued")
    loading_fen = Fen(source="loading")
    claimed = Yuan(help_text="the payments it signed that reached the server, unloads included")
    claimed_fen = Fen(source="claimed")
    allocated = Yuan(help_text="what its reserve pays of them")
    allocated_fen = Fen(source="allocated")
    available = Yuan(help_text="what its reserve can still pay: loaded less allocated")
    available_fen = Fen(source="available")
    shortfall = Yuan(help_text="claimed less allocated: what its payees lose to a double spend")
    shortfall_fen = Fen(source="shortfall")
    blocked_at = Instant(allow_null=True)
    blocked_reason = serializers.CharField()
    created_at = Instant()
    last_synced_at = Instant(allow_null=True)

    def get_ca_public_key(self, device) -> str:
        return offline_ca_public_key().hex()


class OfflineLoadIn(StrictSerializer):
    amount = AmountField(help_text="moved from the device's wallet into its offline reserve")


class OfflinePaymentIn(StrictSerializer):
    """The fields of the payment's canonical bytes (wallets/offline.py), and the payer
    device's Ed25519 signature over them."""

    version = serializers.IntegerField(min_value=1, max_value=255, required=False, default=1)
    payer = serializers.RegexField(**DEVICE_ID)
    payee = serializers.RegexField(**DEVICE_ID, help_text="the payer itself: an unload")
    amount_fen = serializers.IntegerField(min_value=1, max_value=offline.MAX_I64)
    counter = serializers.IntegerField(min_value=1, max_value=offline.MAX_I64)
    prev_hash = serializers.RegexField(
        **HASH, help_text="hex SHA-256 of the payer's payment at counter - 1; zeros before it"
    )
    time_ms = serializers.IntegerField(
        min_value=0, max_value=offline.MAX_TIME_MS, help_text="the payer's clock, Unix ms"
    )
    signature = serializers.RegexField(**SIGNATURE)

    def to_internal_value(self, data) -> offline.SignedPayment:
        fields = super().to_internal_value(data)
        payment = offline.Payment(
            payer=fields["payer"],
            payee=fields["payee"],
            amount=fields["amount_fen"],
            counter=fields["counter"],
            prev_hash=bytes.fromhex(fields["prev_hash"]),
            time_ms=fields["time_ms"],
            version=fields["version"],
        )
        return offline.SignedPayment(payment, bytes.fromhex(fields["signature"]))


class OfflineSyncIn(StrictSerializer):
    payments = OfflinePaymentIn(
        many=True,
        max_length=MAX_SYNC,
        help_text=f"what the device sent and received since its last sync, at most {MAX_SYNC}",
    )


class OfflinePaymentOut(serializers.Serializer):
    # An OfflinePayment from selectors.offline_payments_with_settlement.

    hash = serializers.CharField()
    payer = serializers.CharField(source="payer.device_id")
    payee = serializers.CharField(source="payee.device_id")
    payee_wallet = serializers.CharField(
        source="payee.wallet.number", help_text="where the payment is paid to"
    )
    unload = serializers.BooleanField(source="is_unload", help_text="a payment to itself")
    amount = Yuan()
    amount_fen = Fen(source="amount")
    counter = serializers.IntegerField()
    prev_hash = serializers.CharField()
    signed_at = Instant(help_text="the payer device's clock, as signed")
    received_at = Instant(help_text="when a sync first brought it")
    state = serializers.SerializerMethodField()
    allocated = Yuan(help_text="what the payer's reserve pays of it")
    allocated_fen = Fen(source="allocated")
    paid = Yuan(help_text="settled into the payee's wallet")
    paid_fen = Fen(source="paid")
    shortfall = Yuan(help_text="what its payee loses: the payer's reserve was spent twice")
    shortfall_fen = Fen(source="shortfall")

    @extend_schema_field(
        serializers.ChoiceField(choices=[(s, s) for s in ("SETTLED", "QUEUED", "HELD", "SHORT")]),
    )
    def get_state(self, payment) -> str:
        return offline_payment_state(payment)


class OfflineSyncItemOut(serializers.Serializer):
    result = serializers.ChoiceField(choices=[(o.value, o.value) for o in SyncOutcome])
    code = serializers.CharField(allow_null=True, help_text="why it was refused")
    detail = serializers.CharField(source="message")
    hash = serializers.CharField(help_text="hex SHA-256 of its canonical bytes")
    payment = OfflinePaymentOut(allow_null=True, help_text="as the server holds it now")


class OfflineSyncOut(serializers.Serializer):
    device = OfflineDeviceOut(help_text="the syncing device, its reserve after the sync")
    results = OfflineSyncItemOut(many=True, help_text="one per payment uploaded, in order")
    blocked = serializers.ListField(
        child=serializers.CharField(),
        help_text="every blocked device's id: the device refuses their payments from now on",
    )


class BlocklistOut(serializers.Serializer):
    blocked = serializers.ListField(child=serializers.CharField())


class DoubleSpendAlertOut(serializers.Serializer):
    id = serializers.IntegerField()
    device = serializers.CharField(source="device.device_id")
    wallet = serializers.CharField(source="device.wallet.number")
    operator = serializers.CharField(source="device.wallet.operator.code")
    device_state = serializers.ChoiceField(
        source="device.state", choices=OfflineDeviceState.choices
    )
    shape = serializers.ChoiceField(choices=DoubleSpendShape.choices)
    key = serializers.CharField(
        help_text="the counter reused, the previous hash forked from; empty for OVER_RESERVE"
    )
    evidence = serializers.ListField(
        child=serializers.CharField(), help_text="hashes of the payments that show it"
    )
    detected_at = Instant()
    acknowledged_at = Instant(allow_null=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True)
    note = serializers.CharField()


class AcknowledgeIn(StrictSerializer):
    note = serializers.CharField(max_length=240, required=False, default="", allow_blank=True)
