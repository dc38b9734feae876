"""A load run's day of dual-offline payments (a scenario with `offline`, e.g.
`suzhou-2020`), through the services like everything else a run does.

Before the online payments: a share of the people get a hardware wallet, registered and
loaded by their operator's staff, and every merchant a counter terminal; a seeded share
of the cards are cheaters' (a clone spending the same reserve, a clone that skips counters
to hide it, or a card tampered to spend past its reserve). After them: a day, simulated in
event order rather than waited for, in which the cards pay terminals and each other with
no network (wallets/offline.py's device simulator: each payee checks the payment, and
refuses cards it has heard are blocked) and each device syncs every few hours, some only a
day or two late, so payments reach the server late and out of order, from either side.
Cheaters never sync; their payees do. At the end everyone else syncs what is left.

The report's `offline` gives what was paid and refused offline, what synced, how late,
the double spends found, the cards blocked and what their payees lost, and how many
payments a second sync verified (signatures and chains).
"""

import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Sum
from django.utils import timezone

from settlement.services import transfers_settle
from wallets import offline, selectors, services
from wallets.loadrun import stats
from wallets.loadrun.scenarios import OfflineTerms
from wallets.loadrun.setup import Wallets
from wallets.models import (
    DoubleSpendAlert,
    OfflineDevice,
    OfflineDeviceState,
    OfflineLimit,
    OfflinePayment,
    Wallet,
)

CHEATS = ("clone", "fork", "overspend")
HOUR = 3600


@dataclass
class Card:
    record: OfflineDevice
    device: offline.Device
    operator_id: int
    merchant: bool = False
    cheat: str | None = None
    twin: offline.Device | None = None  # a cheater's clone
    accepted: list[offline.Payment] = field(default_factory=list)  # what payees took of it


@dataclass
class OfflineRun:
    terms: OfflineTerms
    seed: int
    cards: list[Card]  # people's cards, then merchants' terminals
    staff: dict
    load_refused: int = 0
    figures: dict = field(default_factory=dict)

    @property
    def people_cards(self) -> list[Card]:
        return [card for card in self.cards if not card.merchant]


def _register(staff, wallet: Wallet, rng: random.Random, name: str) -> Card:
    secret = offline.Device.new_key(rng)
    record = services.offline_device_register(
        actor=staff, wallet=wallet, public_key=offline.public_key_of(secret), name=name
    )
    certificate = offline.Certificate.decode(bytes.fromhex(record.certificate))
    device = offline.Device(secret, certificate, services.offline_ca_public_key())
    return Card(record, device, wallet.operator_id)


def offline_setup(terms: OfflineTerms, *, wallets: Wallets, seed: int, run: str) -> OfflineRun:
    """The cards (registered and loaded, the loads settled) and the merchants' terminals."""
    rng = random.Random(f"offline:{seed}")
    count = round(len(wallets.people) * terms.device_share)
    people = sorted(rng.sample(range(len(wallets.people)), count))
    numbers = [wallets.people[i].number for i in people] + [m.number for m in wallets.merchants]
    by_number = {w.number: w for w in Wallet.objects.filter(number__in=numbers)}
    caps = dict(OfflineLimit.objects.values_list("wallet_class_id", "reserve_cap"))
    cards = []
    for index in people:
        wallet = by_number[wallets.people[index].number]
        staff = wallets.staff[wallet.operator_id]
        card = _register(staff, wallet, rng, f"card {run}-{index}")
        low, high = terms.load_yuan
        amount = min(rng.randint(low, high) * 100, caps.get(wallet.wallet_class_id, 0))
        if amount > 0:
            services.offline_device_load(
                actor=staff, device=card.record, amount=amount, idempotency_key=f"ol:{run}:{index}"
            )
        cards.append(card)
    for index, opened in enumerate(wallets.merchants):
        wallet = by_number[opened.number]
        card = _register(wallets.staff[wallet.operator_id], wallet, rng, f"terminal {run}-{index}")
        card.merchant = True
        cards.append(card)
    transfers_settle()
    loaded = {
        row.pk: row.loaded
        for row in selectors.offline_devices_with_reserve(
            OfflineDevice.objects.filter(pk__in=[c.record.pk for c in cards])
        )
    }
    offline_run = OfflineRun(terms, seed, cards, dict(wallets.staff))
    for card in cards:
        card.device.loaded = loaded[card.record.pk]
        if not card.merchant and card.device.loaded == 0:
            offline_run.load_refused += 1
    people_cards = [c for c in offline_run.people_cards if c.device.loaded > 0]
    for number, card in enumerate(
        rng.sample(people_cards, round(len(offline_run.people_cards) * terms.cheater_share))
    ):
        card.cheat = CHEATS[number % len(CHEATS)]
        if card.cheat in ("clone", "fork"):
            card.twin = card.device.clone()
            if card.cheat == "fork":
                card.twin.skip(1_000)
    return offline_run


def offline_day(offline_run: OfflineRun) -> dict:
    """The day, event by event in simulated time; then the figures."""
    terms, cards = offline_run.terms, offline_run.cards
    rng = random.Random(f"offline-day:{offline_run.seed}")
    day = terms.hours * HOUR
    base_ms = int(timezone.now().timestamp() * 1000) - int((day + 4 * 24 * HOUR) * 1000)
    terminals = [c for c in cards if c.merchant]
    people = offline_run.people_cards
    events: list[tuple[float, int, str, Card, offline.Device | None]] = []
    order = 0

    def push(at: float, kind: str, card: Card, payer: offline.Device | None = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, card, payer))

    for card in people:
        spenders = [card.device] + ([card.twin] if card.twin is not None else [])
        for spender in spenders:
            count = rng.randint(0, round(2 * terms.payments_per_card))
            if card.cheat == "overspend":
                count *= 2
            for at in sorted(rng.uniform(0, day) for _ in range(count)):
                push(at, "pay", card, spender)
    for card in cards:
        if card.cheat is not None:
            continue  # a cheater keeps away from the server
        low, high = terms.sync_every_hours
        at = rng.uniform(day, day + 48 * HOUR) if rng.random() < terms.late_share else 0.0
        at += rng.uniform(low, high) * HOUR
        while at < day:
            push(at, "sync", card)
            at += rng.uniform(low, high) * HOUR
        push(max(at, day + 72 * HOUR), "sync", card)

    refused: Counter = Counter()
    made = accepted = 0
    first_seen: dict[str, float] = {}
    signed_at: dict[str, float] = {}
    verified = 0
    verify_seconds = sync_seconds = 0.0
    uploaded = syncs = 0
    day_started = time.perf_counter()
    while events:
        at, _, kind, card, payer = heapq.heappop(events)
        if kind == "pay":
            payee = (
                rng.choice(terminals)
                if terminals and rng.random() < terms.merchant_share
                else rng.choice([c for c in people if c is not card] or [card])
            )
            if payee is card:
                continue
            low, high = terms.amount_yuan
            amount = rng.randint(low * 100, high * 100)
            when = base_ms + int(at * 1000)
            try:
                offer = payer.pay(
                    payee.device.id, amount, at_ms=when, check_balance=card.cheat != "overspend"
                )
            except offline.OfflineRefused as error:
                refused[error.code] += 1
                continue
            made += 1
            try:
                payee.device.receive(offer, now_s=when // 1000)
            except offline.OfflineRefused as error:
                refused[error.code] += 1
                payer.withdraw(offer.signed)
                continue
            accepted += 1
            card.accepted.append(offer.signed.payment)
            signed_at[offer.signed.hash.hex()] = at
        else:
            outbox = card.device.upload()
            started = time.perf_counter()
            result = services.offline_sync(
                actor=offline_run.staff[card.operator_id], device=card.record, payments=outbox
            )
            sync_seconds += time.perf_counter() - started
            syncs += 1
            uploaded += len(outbox)
            verified += result.verified
            verify_seconds += result.verify_seconds
            for item in result.items:
                if item.result == services.SyncOutcome.ACCEPTED:
                    first_seen.setdefault(item.hash, at)
                elif item.code is not None:
                    refused[f"sync:{item.code}"] += 1
            loaded = selectors.offline_devices_with_reserve(
                OfflineDevice.objects.filter(pk=card.record.pk)
            ).get()
            card.device.synced(uploaded=len(outbox), loaded=loaded.loaded, blocked=result.blocked)
    transfers_settle()
    day_seconds = time.perf_counter() - day_started
    lags = [(first_seen[h] - signed_at[h]) / HOUR for h in first_seen if h in signed_at]
    offline_run.figures = {
        "payments_signed": made,
        "payments_accepted_offline": accepted,
        "refused_offline": dict(sorted(refused.items())),
        "syncs": syncs,
        "uploaded": uploaded,
        "verified": verified,
        "verified_per_second": round(verified / verify_seconds) if verify_seconds else None,
        "synced_per_second": round(uploaded / sync_seconds) if sync_seconds else None,
        "sync_seconds": round(sync_seconds, 2),
        "day_seconds": round(day_seconds, 2),
        "sync_lag_hours": {
            key: round(value, 2) for key, value in stats.latency_summary(lags).items()
        }
        if lags
        else None,
    }
    return offline_run.figures


def offline_report(offline_run: OfflineRun) -> dict:
    """The day's figures, and what the ledger and the alerts say of it."""
    devices = OfflineDevice.objects.filter(pk__in=[c.record.pk for c in offline_run.cards])
    payments = OfflinePayment.objects.filter(payer__in=devices)
    totals = payments.aggregate(amount=Sum("amount"), allocated=Sum("allocated"))
    reserves = list(selectors.offline_devices_with_reserve(devices))
    cheaters = [c for c in offline_run.cards if c.cheat]
    blocked = set(devices.filter(state=OfflineDeviceState.BLOCKED).values_list("pk", flat=True))
    short = [p for p in payments if p.allocated < p.amount]
    return {
        "cards": len(offline_run.people_cards),
        "terminals": len(offline_run.cards) - len(offline_run.people_cards),
        "loads_refused": offline_run.load_refused,
        "loaded_fen": sum(r.loaded for r in reserves),
        **offline_run.figures,
        "payments_synced": payments.count(),
        "synced_fen": totals["amount"] or 0,
        "paid_fen": totals["allocated"] or 0,
        "paid_out_fen": sum(r.paid_out for r in reserves),
        "cheaters": dict(Counter(c.cheat for c in cheaters)),
        # A seeded cheater spent twice only if its payees took more than one branch, or more
        # than it loaded (a clone whose payees all refused it, or a tampered card that kept
        # within its reserve, did not).
        "cheaters_double_spent": sum(
            1 for c in cheaters if offline.double_spends(c.accepted, c.device.loaded)
        ),
        "cheaters_blocked": sum(1 for c in cheaters if c.record.pk in blocked),
        "honest_blocked": sum(
            1 for c in offline_run.cards if not c.cheat and c.record.pk in blocked
        ),
        # Devices caught, by shape (a clone reusing five counters is one device, five
        # alerts).
        "double_spends": dict(
            DoubleSpendAlert.objects.filter(device__in=devices)
            .values_list("shape")
            .annotate(n=Count("device", distinct=True))
            .values_list("shape", "n")
        ),
        "double_spend_alerts": DoubleSpendAlert.objects.filter(device__in=devices).count(),
        "payments_short": len(short),
        "payees_short": len({p.payee_id for p in short}),
        "loss_fen": sum(p.amount - p.allocated for p in short),
    }
