"""Offline payments verified per second, as a sync verifies them: the Ed25519 signature
over each payment's canonical bytes, then the chain checks of each payer's payments (the
double spends they show, and a chain's links). Pure Python and `cryptography`, one core;
beside it the yardstick, `cryptography`'s bare Ed25519 verify of the same bytes.

    .venv/bin/python bench/offline.py [--devices 200] [--payments 25] [--seconds 3]

What a sync adds to this (database reads and writes, settlement) is in the suzhou-2020
load run's `offline.synced_per_second`.
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wallets import offline


def rate(work, count: int, seconds: float) -> float:
    """Items per second of `work()` (which handles `count` items), repeated for `seconds`."""
    done, started = 0, time.perf_counter()
    while True:
        work()
        done += count
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--payments", type=int, default=25, help="per device")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    options = parser.parse_args()

    rng = random.Random(1)
    ca = offline.Device.new_key(rng)

    def card() -> offline.Device:
        key = offline.Device.new_key(rng)
        certificate = offline.certificate_issue(
            ca, public_key=offline.public_key_of(key), cap=10**9, not_after=2**40
        )
        return offline.Device(key, certificate, offline.public_key_of(ca), loaded=10**9)

    cards = [card() for _ in range(options.devices)]
    chains = [
        [
            payer.pay(rng.choice(cards).id, rng.randint(100, 20_000), at_ms=i).signed
            for i in range(options.payments)
        ]
        for payer in cards
    ]
    count = options.devices * options.payments
    keys = [payer.public_key for payer in cards]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    bare = [
        (Ed25519PublicKey.from_public_bytes(key), signed.signature, signed.payment.encode())
        for key, chain in zip(keys, chains, strict=True)
        for signed in chain
    ]

    def yardstick():
        for public, signature, message in bare:
            public.verify(signature, message)

    def signatures():
        for key, chain in zip(keys, chains, strict=True):
            for signed in chain:
                assert signed.verify(key)

    def signatures_and_chains():
        for key, chain in zip(keys, chains, strict=True):
            offline.verify_chain(chain, key)
            assert not offline.double_spends([s.payment for s in chain], 10**12)

    print(f"{options.devices} devices x {options.payments} payments = {count:,} payments")
    for name, work in (
        ("bare Ed25519 verify (yardstick)", yardstick),
        ("signature over the canonical bytes", signatures),
        ("signature + chain + double-spend checks", signatures_and_chains),
    ):
        print(f"  {name:42} {rate(work, count, options.seconds):>9,.0f} payments/s")


if __name__ == "__main__":
    main()
