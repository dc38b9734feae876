"""The demo: a small e-CNY economy built and exercised through the services.

Builds the central bank, the eight operators with one member of staff each, and a few
hundred holders across wallet classes and operators (the load runs' builder,
wallets/loadrun/setup.py), issues and loads e-CNY, freezes some wallets, pays offline
between hardware wallets (a cloned card caught at sync), runs a few thousand mixed
payments (some refused by limits, funds and freezes), a short load run, and
checks the audit log. Everything goes through `wallets.services`; settlement happens
wherever it is configured (in-process on the embedded default, `celery worker` processes
with a broker).
"""

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import transaction
from django.db.models import Count

from ewallet.errors import EwalletError
from ewallet.money import format_fen, yuan
from settlement.models import Transfer, TransferKind, TransferState
from wallets import offline, services, webhook_signing
from wallets.actors import Actor
from wallets.loadrun.drivers import InProcessDriver
from wallets.loadrun.runner import RunOptions
from wallets.loadrun.scenarios import SCENARIOS, plan, timeline
from wallets.loadrun.setup import (
    OpenedWallet,
    catalogue_operators,
    institutions_ensure,
    population_build,
    population_with_live_caps,
)
from wallets.models import DoubleSpendAlert, FreezeScope, OfflinePayment, Wallet

# Opening reserve deposits: yuan per percent of market share (ICBC, 20%: 40 million).
RESERVE_YUAN_PER_SHARE = 2_000_000


@dataclass
class DemoResult:
    people: int = 0
    merchants: int = 0
    payments_submitted: int = 0
    load_run_transfers: int = 0
    load_run_seconds: float = 0.0
    outcomes: Counter = field(default_factory=Counter)


class Demo:
    def __init__(
        self,
        *,
        seed: int,
        people: int,
        merchants: int,
        payments: int,
        load_transfers: int,
        wait_for_settlement: Callable[[], None],
        say: Callable[[str], None] = print,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.run_id = f"demo-{seed}"
        self.people_count = people
        self.merchant_count = merchants
        self.payment_count = payments
        self.load_transfers = load_transfers
        self.wait = wait_for_settlement
        self.say = say
        self.key_seq = 0
        self.result = DemoResult()

    def key(self, prefix: str) -> str:
        self.key_seq += 1
        return f"demo:{prefix}:{self.key_seq}"

    def run(self) -> DemoResult:
        self.institutions_build()
        self.population_build()
        self.freezes()
        self.authority()
        self.acquiring()
        self.linked_payments()
        self.offline()
        self.mixed_payments()
        self.load_run()
        return self.result

    # -- set-up ------------------------------------------------------------------------

    def institutions_build(self) -> None:
        self.institutions = institutions_ensure(
            prefix="demo",
            operators=catalogue_operators(reserve_yuan_per_share=RESERVE_YUAN_PER_SHARE),
            settle=self.wait,
        )
        self.staff = self.institutions.staff
        self.say(
            f"central bank and {len(self.institutions.operators)} operators onboarded with "
            "reserves, one member of staff each"
        )

    def population_build(self) -> None:
        self.population = population_with_live_caps(
            seed=self.seed, people=self.people_count, merchants=self.merchant_count
        )
        self.wallets = population_build(
            self.population,
            institutions=self.institutions,
            run=self.run_id,
            issue_extra=yuan(1_000_000),
            settle=self.wait,
        )
        self.people: list[OpenedWallet] = self.wallets.people
        self.merchants: list[OpenedWallet] = self.wallets.merchants
        # Merchant popularity is heavy-tailed: a few shops take most payments.
        self.merchant_weights = [m.weight for m in self.population.merchants]
        self.result.people, self.result.merchants = len(self.people), len(self.merchants)
        classes = Counter(p.wallet_class for p in self.population.people)
        self.say(
            "issued e-CNY to every operator (maker-checker); opened "
            f"{len(self.people)} personal wallets (class 1..4: "
            f"{', '.join(str(classes[c]) for c in range(1, 5))}) and "
            f"{len(self.merchants)} merchant wallets; loaded the personal ones"
        )

    def freezes(self) -> None:
        """Each wallet's operator orders it: a full freeze for some, receive-only for a few."""
        frozen = self.rng.sample(self.people, max(1, len(self.people) // 40))
        left = [w for w in self.people if w not in frozen]
        restricted = self.rng.sample(left, max(1, len(self.people) // 60))
        wallets = Wallet.objects.select_related("account").in_bulk(
            [w.number for w in frozen + restricted], field_name="number"
        )
        for opened, scope, reason in [
            *((w, FreezeScope.FULL, "suspected fraud (demo)") for w in frozen),
            *(
                (w, FreezeScope.RECEIVE_ONLY, "dormant wallet, identity to be refreshed (demo)")
                for w in restricted
            ),
        ]:
            services.wallet_freeze(
                actor=self.staff[opened.operator_id],
                wallet=wallets[opened.number],
                scope=scope,
                reason=reason,
            )
        self.say(
            f"operators froze {len(frozen)} wallets in full and made {len(restricted)} receive-only"
        )

    def authority(self) -> None:
        """The rules of who may act, shown on the demo's own wallets: the central bank's
        freeze order is not the operator's to lift, and an operator opens wallets only for
        the holders it KYC'd itself."""
        approver = self.institutions.approver
        people = Wallet.objects.filter(number__in=[w.number for w in self.people])
        wallet = people.filter(freeze_orders__isnull=True).select_related("account").first()
        staff = self.staff[wallet.operator_id]
        order = services.wallet_freeze(
            actor=approver, wallet=wallet, scope=FreezeScope.FULL, reason="AML case 42 (demo)"
        )
        try:
            services.freeze_lift(actor=staff, order=order, reason="the holder called (demo)")
        except EwalletError as error:
            lift_refused = error.code
        services.freeze_lift(actor=approver, order=order, reason="case closed (demo)")
        foreign = people.exclude(operator_id=wallet.operator_id).select_related("holder").first()
        try:
            services.wallet_open(actor=staff, holder=foreign.holder)
        except EwalletError as error:
            open_refused = error.code
        self.say(
            f"the central bank froze wallet {wallet.number} (AML case 42); its operator's "
            f"lifting was refused ({lift_refused}), the central bank lifted it; a wallet on "
            f"another operator's holder was refused ({open_refused})"
        )

    def acquiring(self) -> None:
        """A merchant asks for a payment by QR code, a holder pays it from their own phone,
        and the merchant refunds part of it; the refusals each say what was wrong."""
        record = self.wallets.merchant_records[0]
        merchant = record.merchant
        server = MerchantServer().start()
        endpoint = services.webhook_register(actor=record.staff, merchant=merchant, url=server.url)
        payer = (
            Wallet.objects.filter(
                number__in=[w.number for w in self.people],
                freeze_orders__isnull=True,
                wallet_class__number__lte=2,
            )
            .select_related("holder")
            .first()
        )
        # The holder's operator enrols their phone; from then on they pay as themselves.
        _, device = services.holder_device_enrol(
            actor=self.staff[payer.operator_id], holder=payer.holder, name="phone (demo)"
        )
        holder = Actor.of(device.user)
        request = services.payment_request_create(
            actor=record.staff, merchant=merchant, amount=yuan("36.80"), order_reference="demo-1"
        )
        payload = services.request_payload(request)
        paid = services.payment_request_pay(
            actor=holder, payload=payload, wallet=payer.number, idempotency_key=self.key("qr")
        )
        self.wait()
        paid.transfer.refresh_from_db()
        refusals = []
        for attempt in (payload, payload.replace(".", "x.", 1)):
            try:
                services.payment_request_pay(
                    actor=holder,
                    payload=attempt,
                    wallet=payer.number,
                    idempotency_key=self.key("qr"),
                )
            except EwalletError as error:
                refusals.append(str(error.code))
        services.refund_create(
            actor=record.staff,
            original=paid.transfer,
            amount=yuan(10),
            idempotency_key=self.key("refund"),
            reason="one item out of stock (demo)",
        )
        try:
            services.refund_create(
                actor=record.staff,
                original=paid.transfer,
                amount=yuan(30),
                idempotency_key=self.key("refund"),
            )
        except EwalletError as error:
            refusals.append(str(error.code))
        self.wait()
        told = server.wait_for(2, secret=endpoint.secret)
        server.stop()
        services.webhook_disable(actor=record.staff, endpoint=endpoint)
        self.say(
            f"{merchant.name} (MCC {merchant.mcc}, region {merchant.region}) asked for 36.80 by "
            f"QR code; a holder paid it from their own phone ({paid.transfer.state}); paying it "
            f"again, a forged code and refunding more than was left were refused "
            f"({', '.join(refusals)}); 10.00 of it was refunded; its webhook server was told "
            f"{' and '.join(told) or 'nothing'}, each signature checked"
        )

    def linked_payments(self) -> None:
        """A holder pays a friend, who pays a shop with it, as one linked chain of a batch:
        it settles whole or not at all."""
        active = Wallet.objects.filter(
            number__in=[w.number for w in self.people],
            freeze_orders__isnull=True,
            wallet_class__number__lte=2,
        )
        payer = active.first()
        friend = (
            active.filter(operator_id=payer.operator_id)
            .exclude(pk=payer.pk)
            .select_related("account")
            .first()
        )
        shop = self.merchants[0].number
        available = friend.account.balance - friend.account.reserved
        told = []
        # First one fen more than the friend will hold, then what the payer brings.
        for onward in (available + yuan(50) + 1, yuan(50)):
            outcomes = services.payments_submit_many(
                actor=self.staff[payer.operator_id],
                payments=[
                    services.PaymentSpec(
                        payer.number, friend.number, yuan(50), self.key("chain"), linked=True
                    ),
                    services.PaymentSpec(friend.number, shop, onward, self.key("chain")),
                ],
            )
            self.wait()
            decided = Transfer.objects.filter(pk__in=[o.transfer_id for o in outcomes])
            told.append(
                " and ".join(
                    f"{t.state}{f' ({t.reject_code})' if t.reject_code else ''}"
                    for t in decided.order_by("pk")
                )
            )
        self.say(
            f"linked payments: a holder pays a friend 50.00 and the friend pays a shop on, as "
            f"one chain; asking the shop one fen more than the friend would hold: {told[0]}, "
            f"nothing moved; asking 50.00: {told[1]}"
        )

    def offline(self) -> None:
        """Dual-offline payments (Suzhou, 2020): a card pays a shop's terminal with no
        network and the shop's sync settles it; a clone of the card spends the same reserve
        again and is caught at the next sync, blocked, its payee paid what was left."""
        people = Wallet.objects.filter(
            number__in=[w.number for w in self.people],
            freeze_orders__isnull=True,
            wallet_class__number__lte=2,
        ).order_by("pk")
        payer, other = people[0], people[1]
        shop = Wallet.objects.get(number=self.merchants[0].number)
        rng = random.Random(f"demo-cards:{self.seed}")

        def card(wallet: Wallet) -> tuple:
            secret = offline.Device.new_key(rng)
            record = services.offline_device_register(
                actor=self.staff[wallet.operator_id],
                wallet=wallet,
                public_key=offline.public_key_of(secret),
                name="card (demo)",
            )
            certificate = offline.Certificate.decode(bytes.fromhex(record.certificate))
            return record, offline.Device(secret, certificate, services.offline_ca_public_key())

        (card_row, card_device), (shop_row, terminal), (other_row, other_card) = (
            card(payer),
            card(shop),
            card(other),
        )
        services.offline_device_load(
            actor=self.staff[payer.operator_id],
            device=card_row,
            amount=yuan(200),
            idempotency_key=self.key("offline-load"),
        )
        self.wait()
        card_device.loaded = yuan(200)
        clone = card_device.clone()
        now_ms = int(time.time() * 1000)
        terminal.receive(card_device.pay(terminal.id, yuan("36.80"), at_ms=now_ms), now_s=0)
        other_card.receive(clone.pay(other_card.id, yuan(200), at_ms=now_ms + 1), now_s=0)
        for row, device in ((shop_row, terminal), (other_row, other_card)):
            result = services.offline_sync(
                actor=self.staff[row.wallet.operator_id], device=row, payments=device.upload()
            )
            self.wait()
        short = OfflinePayment.objects.get(payee=other_row)
        shapes = sorted(set(DoubleSpendAlert.objects.values_list("shape", flat=True)))
        blocked = "blocked" if card_row.device_id in result.blocked else "NOT blocked"
        self.say(
            f"a card loaded 200.00 offline paid {shop.number}'s terminal 36.80 with no "
            f"network, settled at the shop's sync; a clone of it spent the 200.00 again, "
            f"caught at the payee's sync ({', '.join(shapes)}) and {blocked}; its payee was "
            f"paid {format_fen(short.allocated)} of 200.00, the reserve left"
        )

    # -- payments ----------------------------------------------------------------------

    def amount(self, median_yuan: float) -> int:
        return max(1, round(self.rng.lognormvariate(0, 0.9) * median_yuan * 100))

    def one_payment(self) -> None:
        payer = self.rng.choice(self.people)
        roll = self.rng.random()
        if roll < 0.62:
            payee = self.rng.choices(self.merchants, weights=self.merchant_weights)[0]
            amount = self.amount(45)
        elif roll < 0.92:
            payee = self.rng.choice(self.people)
            amount = self.amount(300)
        else:  # a big-ticket payment: the smaller classes' limits refuse many of these
            payee = self.rng.choices(self.merchants, weights=self.merchant_weights)[0]
            amount = yuan(self.rng.randint(1_500, 30_000))
        if payee.number == payer.number:
            return
        # Submitted by the payer's operator, as its app's back end would.
        services.payment_submit(
            actor=self.staff[payer.operator_id],
            payer=payer.number,
            payee=payee.number,
            amount=amount,
            idempotency_key=self.key("pay"),
        )
        self.result.payments_submitted += 1

    def mixed_payments(self) -> None:
        for _ in range(self.payment_count // 250):
            with transaction.atomic():
                for _ in range(250):
                    self.one_payment()
        with transaction.atomic():
            for _ in range(self.payment_count % 250):
                self.one_payment()
        self.wait()
        self.say(f"{self.result.payments_submitted} mixed payments submitted and settled")

    def load_run(self) -> None:
        """A steady load run over the demo's population, through the load-run driver:
        payments drawn by the load-run stream (Pareto merchants, everyday amounts),
        submitted by each payer's operator as fast as this process can, in set-based
        chunks of 500."""
        scenario = SCENARIOS["steady"]
        segments = timeline(scenario, self.load_transfers, None)
        driver = InProcessDriver(
            RunOptions(scenario=scenario, transfers=self.load_transfers, chunk=500),
            self.wallets,
            run=self.run_id,
        )
        started = time.perf_counter()
        driver.run(plan(self.population, segments, self.seed), segments, started)
        self.wait()
        self.result.load_run_transfers = driver.accepted
        self.result.load_run_seconds = time.perf_counter() - started


class MerchantServer:
    """The demo merchant's own server: receives its webhook events on a local port and
    keeps those whose signature holds, by event type, as a merchant would."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []  # (signature header, body)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.received.append((self.headers.get(webhook_signing.HEADER, ""), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_port}/ecny/events"

    def start(self) -> "MerchantServer":
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def wait_for(self, count: int, *, secret: str, timeout: float = 30.0) -> list[str]:
        """The types of the first `count` events received with a valid signature."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return [
            json.loads(body)["type"]
            for header, body in self.received
            if webhook_signing.verify(header, body, secret)
        ]


def wait_until_settled(timeout: float = 300.0) -> None:
    """Block until no transfer is RECEIVED (settlement may be in another process)."""
    deadline = time.monotonic() + timeout
    while Transfer.objects.filter(state=TransferState.RECEIVED).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("transfers still RECEIVED: is a settlement worker running?")
        time.sleep(0.05)


def payment_outcomes() -> Counter:
    """(state, reject code) -> count, over payments only."""
    rows = (
        Transfer.objects.filter(kind__in=[TransferKind.P2P, TransferKind.MERCHANT])
        .values_list("state", "reject_code")
        .annotate(n=Count("id"))
        .order_by()
    )
    return Counter({(state, code): n for state, code, n in rows})
