"""Dual-offline hardware wallets: registering a device to a wallet, loading its offline
reserve, and syncing the payments it made and took with no network (README, "Dual-offline
payments"; the format and its checks are wallets/offline.py).

Money moves only through the ledger: OFFLINE_LOAD (wallet -> the device's reserve account,
counted against the wallet's payment limits, capped by the central bank's OfflineLimit for
the wallet's class), OFFLINE_PAYMENT (the payer device's reserve -> the payee device's
wallet) and OFFLINE_UNLOAD (a payment a device signed to itself: its reserve -> its own
wallet).

A sync verifies each payment's signature with no lock held, then, per payer device in id
order and under that device's row lock: stores the payments it has not seen (by hash, so
the same payment from both sides, or twice, is stored once); looks at all of the device's
payments for double spends (`offline.double_spends`, a property of the set, so the same
whatever order they came in) and, on any, blocks the device and records an alert per
shape; decides what its reserve pays of each payment (`offline.allocate`: first synced,
first paid, never more than the settled loads) and queues a transfer for what is due. Gaps
in a chain wait for nothing: a payment is paid when it arrives, since its signature proves
its payer made it and the reserve bounds what all of them can take.
"""

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from ewallet.errors import ErrorCode
from ewallet.money import MAX_AMOUNT_FEN, require_fen
from settlement import services as ledger
from settlement.models import (
    AccountKind,
    Asset,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.services import LegSpec
from wallets import offline
from wallets.actors import Actor
from wallets.authority import (
    acknowledges_double_spend_alert,
    controls_offline_device,
    may_pay_from,
    require_role,
    sees_double_spend_alert,
    sees_offline_device,
    sees_wallet,
)
from wallets.exceptions import WalletError
from wallets.models import (
    DoubleSpendAlert,
    OfflineDevice,
    OfflineDeviceState,
    OfflineLimit,
    OfflinePayment,
    OfflineSettlement,
    Operator,
    Wallet,
)
from wallets.roles import Role
from wallets.selectors import blocked_devices, unique_row
from wallets.services.institutions import require_operator_active

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_datetime(time_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=time_ms)


def datetime_to_ms(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)


def offline_ca_public_key() -> bytes:
    """The offline certificate authority's public key: what every device is provisioned
    with, to check its payers' certificates."""
    return offline.public_key_of(settings.EWALLET_OFFLINE_CA_KEY)


def _require_controls(actor: Actor, device: OfflineDevice, what: str) -> None:
    if not sees_offline_device(actor, device):
        raise WalletError(ErrorCode.NOT_FOUND, f"no device {device.device_id}")
    if not controls_offline_device(actor, device):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED, f"only the wallet's holder or its operator's staff {what}"
        )


# ---------------------------------------------------------------- the central bank's cap


@transaction.atomic
def offline_limit_set(*, actor: Actor, wallet_class: int, reserve_cap: int) -> OfflineLimit:
    """Set the most a hardware wallet of a class may hold offline (fen; 0: none), by
    central-bank policy staff. Loads from then on are held to it; a device already holding
    more keeps it (its payees accepted payments against it) but loads nothing until below."""
    require_role(actor, Role.CB_POLICY)
    if isinstance(reserve_cap, bool) or not isinstance(reserve_cap, int) or reserve_cap < 0:
        raise WalletError(ErrorCode.INVALID_AMOUNT, "a cap is fen >= 0", field="reserve_cap")
    limit = OfflineLimit.objects.select_for_update().filter(wallet_class_id=wallet_class).first()
    if limit is None:
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet class {wallet_class}")
    limit.reserve_cap = reserve_cap
    limit.updated_by = actor.user
    limit.updated_at = timezone.now()
    limit._history_user = actor.user
    limit.save()
    return limit


def _class_cap(wallet: Wallet) -> int:
    return (
        OfflineLimit.objects.filter(wallet_class_id=wallet.wallet_class_id)
        .values_list("reserve_cap", flat=True)
        .first()
    ) or 0


# ---------------------------------------------------------------- registering and loading


@transaction.atomic
def offline_device_register(
    *, actor: Actor, wallet: Wallet, public_key: bytes, name: str = ""
) -> OfflineDevice:
    """Register a hardware wallet's Ed25519 public key to a wallet (a person's, or a
    merchant's counter terminal), by whoever may pay from it (its holder, or its
    operator's staff issuing the card; nobody pays from a sub-wallet, so none has one). The device
    gets a reserve account of its own and a certificate from the offline CA naming its id,
    its key and its cap (the wallet class's offline limit now). Refused: INVALID_INPUT (not a
    key), CONFLICT (the key is registered), OPERATOR_SUSPENDED."""
    if not sees_wallet(actor, wallet):
        raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {wallet.number}", field="wallet")
    if not may_pay_from(actor, wallet):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED,
            "only the wallet's holder or its operator's staff register its devices",
        )
    try:
        device_id = offline.device_id_of(bytes(public_key))
        offline.public_key_check(bytes(public_key))
    except (offline.OfflineRefused, ValueError, TypeError) as error:
        raise WalletError(
            ErrorCode.INVALID_INPUT, "not an Ed25519 public key", field="public_key"
        ) from error
    if OfflineDevice.objects.filter(device_id=device_id).exists():
        raise WalletError(ErrorCode.CONFLICT, f"device {device_id} is registered already")
    # Under the row lock operator_set_status takes, as wallet_open does.
    require_operator_active(Operator.objects.select_for_update().get(pk=wallet.operator_id))
    cap = _class_cap(wallet)
    now = timezone.now()
    certificate = offline.certificate_issue(
        settings.EWALLET_OFFLINE_CA_KEY,
        public_key=bytes(public_key),
        cap=cap,
        not_after=int((now + timedelta(days=settings.EWALLET_OFFLINE_CERT_DAYS)).timestamp()),
    )
    account = ledger.account_open(
        label=f"offline:{device_id}", kind=AccountKind.ESCROW, asset=Asset.ECNY
    )
    return OfflineDevice.objects.create(
        device_id=device_id,
        public_key=bytes(public_key).hex(),
        wallet=wallet,
        account=account,
        name=name[:80],
        cap=cap,
        certificate=certificate.encode().hex(),
        registered_by=actor.user,
        created_at=now,
    )


@dataclass(frozen=True)
class Reserve:
    """A device's reserve as the services decide from it, in fen."""

    loaded: int  # loads settled
    loading: int  # loads queued
    allocated: int  # what it pays of the payments that reached the server

    @property
    def held(self) -> int:
        """What it holds or will, as far as the server knows: loads less payments."""
        return self.loaded + self.loading - self.allocated


def _reserve(device: OfflineDevice, allocated: int | None = None) -> Reserve:
    """Its loads from the ledger (one query); `allocated` as given, or summed."""
    loads = TransferLeg.objects.filter(
        credit_id=device.account_id, transfer__kind=TransferKind.OFFLINE_LOAD
    ).aggregate(
        settled=Sum("amount", filter=Q(transfer__state=TransferState.SETTLED)),
        queued=Sum("amount", filter=Q(transfer__state=TransferState.RECEIVED)),
    )
    if allocated is None:
        allocated = device.payments_sent.aggregate(n=Sum("allocated"))["n"]
    return Reserve(loads["settled"] or 0, loads["queued"] or 0, allocated or 0)


def _lock(device: OfflineDevice) -> OfflineDevice:
    return OfflineDevice.objects.select_for_update().select_related("wallet").get(pk=device.pk)


@transaction.atomic
def offline_device_load(
    *, actor: Actor, device: OfflineDevice, amount: int, idempotency_key: str
) -> Transfer:
    """Move `amount` from the device's wallet into its offline reserve (an OFFLINE_LOAD,
    counted against the wallet's payment limits; the ledger may still reject it for funds,
    limits or a freeze). By the wallet's holder or its operator's staff. Refused with
    nothing moved: DEVICE_BLOCKED, OFFLINE_CAP_EXCEEDED (the reserve would pass the cap:
    the device's certificate's, or its wallet class's now if lower; with `available_fen`).
    The device may spend a load offline once it has settled. The same key loads once."""
    _require_controls(actor, device, "load its devices")
    amount = require_fen(amount)
    replay = _replayed_load(device, idempotency_key, amount)
    if replay is not None:
        return replay
    device = _lock(device)
    if device.state == OfflineDeviceState.BLOCKED:
        raise WalletError(ErrorCode.DEVICE_BLOCKED, f"device {device.device_id} is blocked")
    cap = min(device.cap, _class_cap(device.wallet))
    held = _reserve(device).held
    if held + amount > cap:
        raise WalletError(
            ErrorCode.OFFLINE_CAP_EXCEEDED,
            f"the device may hold {cap} fen offline and holds {held}",
            available_fen=max(0, cap - held),
        )
    transfer, _ = ledger.transfer_submit(
        kind=TransferKind.OFFLINE_LOAD,
        legs=[LegSpec(device.wallet.account_id, device.account_id, amount)],
        idempotency_key=idempotency_key,
        memo=f"offline reserve of device {device.device_id[:8]}",
    )
    return transfer


def _replayed_load(device: OfflineDevice, idempotency_key: str, amount: int) -> Transfer | None:
    transfer = unique_row(Transfer.objects.filter(idempotency_key=idempotency_key))
    if transfer is None:
        return None
    legs = list(transfer.legs.values_list("debit_id", "credit_id", "amount"))
    if transfer.kind != TransferKind.OFFLINE_LOAD or legs != [
        (device.wallet.account_id, device.account_id, amount)
    ]:
        raise WalletError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "this idempotency key was used for another transfer"
        )
    return transfer


# ---------------------------------------------------------------- syncing


class SyncOutcome(StrEnum):
    ACCEPTED = "ACCEPTED"  # new to the server, stored
    DUPLICATE = "DUPLICATE"  # the server had it (from the other side, or an earlier sync)
    REFUSED = "REFUSED"  # not stored: `code` says why


@dataclass
class SyncItem:
    """What became of one uploaded payment."""

    result: str
    hash: str
    code: str | None = None
    message: str = ""
    payment: OfflinePayment | None = None


@dataclass
class SyncResult:
    device: OfflineDevice
    items: list[SyncItem]
    blocked: list[str]  # every blocked device's id, for the device's list
    verified: int  # signatures checked
    verify_seconds: float  # time spent checking them, and the chains for double spends


def _refused(signed: offline.SignedPayment, code: ErrorCode, message: str) -> SyncItem:
    try:
        digest = signed.hash.hex()
    except offline.OfflineRefused:
        digest = ""
    return SyncItem(SyncOutcome.REFUSED, digest, str(code), message)


def offline_sync(
    *, actor: Actor, device: OfflineDevice, payments: Sequence[offline.SignedPayment]
) -> SyncResult:
    """Upload the payments a device sent and received offline, by its wallet's holder or
    operator's staff (the device's app or a terminal). Each is answered on its own:
    ACCEPTED, DUPLICATE (known already: syncing twice, or from both sides, changes
    nothing), or REFUSED with OFFLINE_NOT_A_PARTY (the device neither paid nor got it),
    OFFLINE_DEVICE_UNKNOWN (its payer or payee is not registered), OFFLINE_SIGNATURE_INVALID,
    INVALID_AMOUNT (beyond what the ledger holds), DEVICE_BLOCKED (an unload by a blocked
    device). Then each payer's payments are settled up to its reserve (module docstring).
    The answer carries the list of blocked devices, which the device then refuses."""
    _require_controls(actor, device, "sync its devices")

    items: list[SyncItem | None] = [None] * len(payments)
    ids = {d for s in payments for d in (s.payment.payer, s.payment.payee)}
    devices = {d.device_id: d for d in OfflineDevice.objects.filter(device_id__in=ids)}
    groups: dict[int, list[tuple[int, offline.SignedPayment]]] = defaultdict(list)
    hashes: dict[int, str] = {}
    for index, signed in enumerate(payments):
        try:
            hashes[index] = signed.hash.hex()
        except offline.OfflineRefused as error:
            items[index] = SyncItem(SyncOutcome.REFUSED, "", error.code, error.message)
    # A payment the server holds was verified when it came: from the other side, it is
    # only answered DUPLICATE.
    known = set(
        OfflinePayment.objects.filter(hash__in=set(hashes.values())).values_list("hash", flat=True)
    )
    started = time.perf_counter()
    verified = 0
    for index, signed in enumerate(payments):
        payment = signed.payment
        if index not in hashes:
            continue
        if device.device_id not in (payment.payer, payment.payee):
            items[index] = _refused(
                signed, ErrorCode.OFFLINE_NOT_A_PARTY, "the device neither paid nor got it"
            )
            continue
        payer, payee = devices.get(payment.payer), devices.get(payment.payee)
        if payer is None or payee is None:
            unknown = payment.payer if payer is None else payment.payee
            items[index] = _refused(
                signed, ErrorCode.OFFLINE_DEVICE_UNKNOWN, f"no device {unknown}"
            )
            continue
        if payment.amount > MAX_AMOUNT_FEN:
            items[index] = _refused(signed, ErrorCode.INVALID_AMOUNT, "beyond any reserve")
            continue
        if hashes[index] in known:
            groups[payer.pk].append((index, signed))
            continue
        verified += 1
        if not signed.verify(bytes.fromhex(payer.public_key)):
            items[index] = _refused(
                signed, ErrorCode.OFFLINE_SIGNATURE_INVALID, "not signed by the payer's device"
            )
            continue
        groups[payer.pk].append((index, signed))
    timing = [time.perf_counter() - started]

    # Payers of payments to this device the ledger refused once: tried again now.
    held = set(
        OfflinePayment.objects.filter(
            payee=device, settlements__transfer__state=TransferState.REJECTED
        ).values_list("payer_id", flat=True)
    )
    with transaction.atomic():
        # Lock order: device id, always, so two syncs never wait on each other in a ring.
        for payer_pk in sorted({*groups, device.pk, *held}):
            payer = OfflineDevice.objects.select_for_update().get(pk=payer_pk)
            for index, item in _store(payer, groups.get(payer_pk, []), devices, device):
                items[index] = item
            _settle(payer, timing)
        OfflineDevice.objects.filter(pk=device.pk).update(last_synced_at=timezone.now())
    stored = {
        p.hash: p
        for p in OfflinePayment.objects.filter(
            hash__in=[i.hash for i in items if i is not None and i.code is None]
        ).select_related("payer", "payee")
    }
    for item in items:
        if item is not None and item.code is None:
            item.payment = stored[item.hash]
    device = OfflineDevice.objects.select_related("wallet").get(pk=device.pk)
    return SyncResult(device, items, blocked_devices(), verified, sum(timing))


def _store(
    payer: OfflineDevice,
    uploaded: list[tuple[int, offline.SignedPayment]],
    devices: dict[str, OfflineDevice],
    uploader: OfflineDevice,
) -> list[tuple[int, SyncItem]]:
    """Store the payer's payments the server has not seen (its lock held); answer each."""
    if not uploaded:
        return []
    hashes = {index: signed.hash.hex() for index, signed in uploaded}
    known = set(
        OfflinePayment.objects.filter(hash__in=set(hashes.values())).values_list("hash", flat=True)
    )
    answers, rows = [], []
    now = timezone.now()
    # Counter order within a sync: first synced, first paid, and a device's own upload pays
    # its payments in the order it made them.
    for index, signed in sorted(uploaded, key=lambda u: (u[1].payment.counter, hashes[u[0]])):
        digest, payment = hashes[index], signed.payment
        if digest in known:
            answers.append((index, SyncItem(SyncOutcome.DUPLICATE, digest)))
            continue
        if payment.is_unload and payer.state == OfflineDeviceState.BLOCKED:
            refusal = _refused(signed, ErrorCode.DEVICE_BLOCKED, "a blocked device unloads nothing")
            answers.append((index, refusal))
            continue
        known.add(digest)
        rows.append(
            OfflinePayment(
                hash=digest,
                payer=payer,
                payee=devices[payment.payee],
                amount=payment.amount,
                counter=payment.counter,
                prev_hash=payment.prev_hash.hex(),
                signature=signed.signature.hex(),
                version=payment.version,
                signed_at=ms_to_datetime(payment.time_ms),
                received_at=now,
                uploaded_by=uploader,
            )
        )
        answers.append((index, SyncItem(SyncOutcome.ACCEPTED, digest)))
    # One by one, not bulk_create: the primary keys order the claims (first synced, first
    # paid), and SQLite gives no keys back from a bulk insert.
    for row in rows:
        row.save(force_insert=True)
    return answers


def _as_payment(row: OfflinePayment, device_ids: dict[int, str]) -> offline.Payment:
    payment = offline.Payment(
        device_ids[row.payer_id],
        device_ids[row.payee_id],
        row.amount,
        row.counter,
        bytes.fromhex(row.prev_hash),
        datetime_to_ms(row.signed_at),
        row.version,
    )
    return payment


def _settle(payer: OfflineDevice, timing: list[float]) -> None:
    """With the payer device locked: record the double spends all its payments show (and
    block it on any), decide what its reserve pays of each, first synced first paid, and
    queue a transfer for what is due but not yet on its way."""
    rows = list(payer.payments_sent.select_related("payee__wallet").order_by("pk"))
    if not rows:
        return
    reserve = _reserve(payer, allocated=0)
    device_ids = {r.payee_id: r.payee.device_id for r in rows} | {payer.pk: payer.device_id}
    started = time.perf_counter()
    findings = offline.double_spends([_as_payment(r, device_ids) for r in rows], reserve.loaded)
    timing.append(time.perf_counter() - started)
    if findings:
        _record_double_spends(payer, findings)
    allocation = offline.allocate([(r.amount, r.allocated) for r in rows], reserve.loaded)
    for row, allocated in zip(rows, allocation, strict=True):
        if allocated != row.allocated:
            row.allocated = allocated
            row.save(update_fields=["allocated"])
    _queue_due(payer, rows)


def _record_double_spends(payer: OfflineDevice, findings: list[offline.Finding]) -> None:
    now = timezone.now()
    for finding in findings:
        alert, created = DoubleSpendAlert.objects.get_or_create(
            device=payer,
            shape=finding.shape,
            key=finding.key,
            defaults={"evidence": sorted(finding.evidence), "detected_at": now},
        )
        if not created and set(alert.evidence) != finding.evidence:
            alert.evidence = sorted(finding.evidence)
            alert.save(update_fields=["evidence"])
    if payer.state != OfflineDeviceState.BLOCKED:
        payer.state = OfflineDeviceState.BLOCKED
        payer.blocked_at = now
        payer.blocked_reason = ", ".join(sorted({str(f.shape) for f in findings}))
        payer.save(update_fields=["state", "blocked_at", "blocked_reason"])


def _queue_due(payer: OfflineDevice, rows: list[OfflinePayment]) -> None:
    """For each payment, what its allocation owes beyond the transfers already queued or
    settled: a transfer for it. A transfer the ledger refused (the payee's wallet frozen,
    closed or at its cap) is tried again, not within EWALLET_OFFLINE_RETRY_SECONDS of it."""
    settlements = defaultdict(list)
    for settlement in OfflineSettlement.objects.filter(payment__payer=payer).select_related(
        "transfer"
    ):
        settlements[settlement.payment_id].append(settlement)
    retry_after = timezone.now() - timedelta(seconds=settings.EWALLET_OFFLINE_RETRY_SECONDS)
    for row in rows:
        made = settlements[row.pk]
        moving = sum(s.amount for s in made if s.transfer.state != TransferState.REJECTED)
        due = row.allocated - moving
        if due <= 0:
            continue
        refused = [s.transfer for s in made if s.transfer.state == TransferState.REJECTED]
        if any(t.decided_at is not None and t.decided_at > retry_after for t in refused):
            continue
        transfer, _ = ledger.transfer_submit(
            kind=TransferKind.OFFLINE_UNLOAD if row.is_unload else TransferKind.OFFLINE_PAYMENT,
            legs=[LegSpec(payer.account_id, row.payee.wallet.account_id, due)],
            idempotency_key=f"offline:{row.hash}:{len(made) + 1}",
            memo=f"offline {payer.device_id[:8]}#{row.counter}",
        )
        OfflineSettlement.objects.create(payment=row, transfer=transfer, amount=due)


# ---------------------------------------------------------------- the operator's side


@transaction.atomic
def double_spend_alert_acknowledge(
    *, actor: Actor, alert: DoubleSpendAlert, note: str = ""
) -> DoubleSpendAlert:
    """The device's operator takes the case up: who, when, and a note. Acknowledging twice
    changes nothing. The device stays blocked."""
    if not sees_double_spend_alert(actor, alert):
        raise WalletError(ErrorCode.NOT_FOUND, f"no alert {alert.pk}")
    if not acknowledges_double_spend_alert(actor, alert):
        raise WalletError(
            ErrorCode.PERMISSION_DENIED, "only the device's operator's staff acknowledge it"
        )
    alert = DoubleSpendAlert.objects.select_for_update().get(pk=alert.pk)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor.user
        alert.note = note[:240]
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "note"])
    return alert
