"""The dual-offline payment format, with no server: Ed25519 against RFC 8032's own test
vectors, the canonical bytes, certificates, a payee device's every refusal, chains, and
the double spends a set of payments shows (each shape, found the same in every order)."""

import hashlib
import itertools
import random
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallets import offline
from wallets.offline import (
    GENESIS,
    Certificate,
    Device,
    Offer,
    OfflineRefused,
    Payment,
    Shape,
    SignedPayment,
)

# RFC 8032, section 7.1 (Ed25519), typed from the RFC: secret key, public key, message,
# signature.
RFC8032 = [
    (  # TEST 1
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
        "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (  # TEST 2
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
        "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (  # TEST 3
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
        "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (  # TEST SHA(abc): the message is SHA-512("abc")
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"
        "36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ec"
        "fdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]

NOW_S = 1_607_000_000  # December 2020, Suzhou
NOW_MS = NOW_S * 1000


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_ed25519_gives_rfc_8032s_keys_and_signatures(secret, public, message, signature):
    secret, public = bytes.fromhex(secret), bytes.fromhex(public)
    message, signature = bytes.fromhex(message), bytes.fromhex(signature)
    assert offline.public_key_of(secret) == public
    assert offline.sign(secret, message) == signature
    assert offline.verify(public, signature, message)
    # One flipped bit of the message, of the signature or of the key, and it is refused.
    assert not offline.verify(public, signature, message + b"\x00")
    assert not offline.verify(public, bytes([signature[0] ^ 1]) + signature[1:], message)
    assert not offline.verify(bytes([public[0] ^ 1]) + public[1:], signature, message)


def test_the_sha_abc_vectors_message_is_sha512_of_abc():
    assert RFC8032[3][2] == hashlib.sha512(b"abc").hexdigest()


# ---------------------------------------------------------------- a small world of devices

CA_KEY = bytes(range(32))
CA_PUBLIC = offline.public_key_of(CA_KEY)


def device(seed: int, *, loaded: int = 0, cap: int = 200_000, not_after: int = NOW_S + 86_400):
    key = Device.new_key(random.Random(seed))
    certificate = offline.certificate_issue(
        CA_KEY, public_key=offline.public_key_of(key), cap=cap, not_after=not_after
    )
    return Device(key, certificate, CA_PUBLIC, loaded=loaded)


@pytest.fixture
def alice():
    return device(1, loaded=50_000)  # 500.00 CNY loaded offline


@pytest.fixture
def bob():
    return device(2)


@pytest.fixture
def carol():
    return device(3)


def refused(code, call, *args, **kwargs) -> OfflineRefused:
    with pytest.raises(OfflineRefused) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def test_a_payment_is_111_canonical_bytes_and_decodes_to_itself(alice, bob):
    offer = alice.pay(bob.id, 3_680, at_ms=NOW_MS)
    payment = offer.signed.payment
    data = payment.encode()
    assert len(data) == len(offline.PAYMENT_DOMAIN) + 1 + 16 + 16 + 8 + 8 + 32 + 8 == 111
    assert data.startswith(b"e-CNY offline payment\n\x01" + bytes.fromhex(alice.id))
    assert Payment.decode(data) == payment
    assert payment.hash == hashlib.sha256(data).digest()
    assert (payment.counter, payment.prev_hash, payment.amount) == (1, GENESIS, 3_680)
    # The device id is the key's: a certificate cannot name a key another id.
    assert alice.id == hashlib.sha256(b"e-CNY offline device\n" + alice.public_key).hexdigest()[:32]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 0}, "INVALID_AMOUNT"),
        ({"amount": 2**63}, "INVALID_AMOUNT"),
        ({"counter": 2**63}, "INVALID_INPUT"),
        ({"time_ms": 253_402_300_800_000}, "INVALID_INPUT"),
        ({"counter": 0}, "INVALID_INPUT"),
        ({"time_ms": -1}, "INVALID_INPUT"),
        ({"prev_hash": b"\x00" * 31}, "INVALID_INPUT"),
        ({"payee": "ABCDEF" * 5 + "AB"}, "INVALID_INPUT"),  # upper case: not canonical
        ({"payee": "00" * 15}, "INVALID_INPUT"),
        ({"version": 2}, "INVALID_INPUT"),
    ],
)
def test_bytes_it_cannot_hold_are_refused(alice, bob, change, code):
    payment = replace(alice.pay(bob.id, 1, at_ms=NOW_MS).signed.payment, **change)
    refused(code, payment.encode)


def test_a_payment_passes_every_check_of_the_payee_and_the_balances_follow(alice, bob):
    offer = alice.pay(bob.id, 12_345, at_ms=NOW_MS)
    assert bob.receive(offer, now_s=NOW_S) == offer.signed
    assert (alice.balance, alice.counter, alice.last_hash) == (37_655, 1, offer.signed.hash)
    assert bob.outbox == [offer.signed] and alice.outbox == [offer.signed]
    second = alice.pay(bob.id, 37_655, at_ms=NOW_MS + 1)
    bob.receive(second, now_s=NOW_S)
    assert second.signed.payment.prev_hash == offer.signed.hash
    assert alice.balance == 0
    # An honest device spends no more than it holds.
    refused("OFFLINE_INSUFFICIENT_BALANCE", alice.pay, bob.id, 1, at_ms=NOW_MS + 2)
    refused("INVALID_AMOUNT", alice.pay, bob.id, 0, at_ms=NOW_MS + 2)
    assert offline.verify_chain([offer.signed, second.signed], alice.public_key, reserve=50_000)


def test_every_offline_refusal_of_the_payee(alice, bob, carol):
    offer = alice.pay(bob.id, 100, at_ms=NOW_MS)
    # Paid to someone else.
    refused("OFFLINE_WRONG_PAYEE", carol.receive, offer, now_s=NOW_S)
    # A signature that is not the payer's: the amount changed after signing.
    forged = replace(offer.signed, payment=replace(offer.signed.payment, amount=10_000))
    refused("OFFLINE_SIGNATURE_INVALID", bob.receive, replace(offer, signed=forged), now_s=NOW_S)
    # Another device's certificate, or a certificate the CA did not sign, or expired.
    refused(
        "OFFLINE_CERTIFICATE_INVALID",
        bob.receive,
        replace(offer, certificate=carol.certificate),
        now_s=NOW_S,
    )
    self_signed = offline.certificate_issue(
        alice.private_key, public_key=alice.public_key, cap=10**9, not_after=NOW_S + 1
    )
    refused(
        "OFFLINE_CERTIFICATE_INVALID", bob.receive, replace(offer, certificate=self_signed), now_s=0
    )
    refused("OFFLINE_CERTIFICATE_INVALID", bob.receive, offer, now_s=NOW_S + 86_401)
    # A certificate whose id is not its key's.
    lying = offline.certificate_issue(
        CA_KEY, public_key=carol.public_key, cap=200_000, not_after=NOW_S + 1
    )
    lying = replace(lying, device=alice.id)
    lying = replace(lying, signature=offline.sign(CA_KEY, lying.body()))
    refused("OFFLINE_CERTIFICATE_INVALID", bob.receive, replace(offer, certificate=lying), now_s=0)
    # More than the payer may ever hold offline.
    big = device(9, loaded=10**6, cap=500)
    refused("OFFLINE_CAP_EXCEEDED", bob.receive, big.pay(bob.id, 501, at_ms=NOW_MS), now_s=NOW_S)
    # A payer on the list of blocked devices the payee last downloaded.
    bob.synced(uploaded=0, loaded=0, blocked=[alice.id])
    refused("DEVICE_BLOCKED", bob.receive, offer, now_s=NOW_S)
    bob.synced(uploaded=0, loaded=0, blocked=[])
    # Accepted once; the same payment again, or an older one, is refused.
    bob.receive(offer, now_s=NOW_S)
    refused("OFFLINE_COUNTER_REPLAYED", bob.receive, offer, now_s=NOW_S)
    # An unload (a payment to oneself) is nobody else's to receive.
    refused(
        "OFFLINE_WRONG_PAYEE",
        bob.receive,
        Offer(alice.unload(1, at_ms=NOW_MS), alice.certificate),
        now_s=NOW_S,
    )
    assert bob.received == [offer.signed]


def test_a_refused_payment_is_withdrawn_and_the_counter_stays(alice, bob, carol):
    offer = alice.pay(carol.id, 1_000, at_ms=NOW_MS)
    refused("OFFLINE_WRONG_PAYEE", bob.receive, offer, now_s=NOW_S)
    alice.withdraw(offer.signed)
    assert (alice.balance, alice.outbox, alice.counter) == (50_000, [], 1)
    second = alice.pay(bob.id, 1_000, at_ms=NOW_MS).signed.payment
    assert (second.counter, second.prev_hash) == (2, offer.signed.hash)
    # The server never sees counter 1: a gap, not a double spend.
    assert offline.double_spends([second], 50_000) == []


def test_a_clone_paying_the_same_payee_with_a_used_counter_is_refused_offline(alice, bob):
    clone = alice.clone()
    bob.receive(alice.pay(bob.id, 40_000, at_ms=NOW_MS), now_s=NOW_S)
    refused(
        "OFFLINE_COUNTER_REPLAYED",
        bob.receive,
        clone.pay(bob.id, 40_000, at_ms=NOW_MS),
        now_s=NOW_S,
    )


def test_a_certificate_round_trips_and_names_its_cap(alice):
    data = alice.certificate.encode()
    assert Certificate.decode(data) == alice.certificate
    assert alice.certificate.cap == 200_000
    refused("OFFLINE_CERTIFICATE_INVALID", Certificate.decode, data[:-1])


def test_verify_chain_names_the_first_payment_that_fails(alice, bob):
    signed = [alice.pay(bob.id, 10_000, at_ms=NOW_MS + i).signed for i in range(4)]
    assert offline.verify_chain(signed, alice.public_key) == 40_000
    error = refused("INVALID_INPUT", offline.verify_chain, [signed[0], signed[2]], alice.public_key)
    assert error.message.startswith("payment 1:")
    bad = SignedPayment(signed[1].payment, signed[0].signature)
    error = refused(
        "OFFLINE_SIGNATURE_INVALID", offline.verify_chain, [signed[0], bad], alice.public_key
    )
    assert error.message.startswith("payment 1:")
    refused(
        "OFFLINE_INSUFFICIENT_BALANCE",
        offline.verify_chain,
        signed,
        alice.public_key,
        reserve=39_999,
    )


# ---------------------------------------------------------------- double spends


def shapes(payments, reserve):
    return {(f.shape, f.key) for f in offline.double_spends(payments, reserve)}


def test_an_honest_chain_shows_no_double_spend(alice, bob):
    signed = [alice.pay(bob.id, 5_000, at_ms=NOW_MS + i).signed.payment for i in range(10)]
    assert offline.double_spends(signed, 50_000) == []
    assert offline.double_spends(signed[3:7], 50_000) == []  # gaps are not double spends


def test_a_clone_reusing_counters_is_counter_reused(alice, bob, carol):
    first = alice.pay(bob.id, 10_000, at_ms=NOW_MS).signed.payment
    clone = alice.clone()
    original = alice.pay(bob.id, 30_000, at_ms=NOW_MS).signed.payment
    copy = clone.pay(carol.id, 30_000, at_ms=NOW_MS).signed.payment
    assert original.counter == copy.counter == 2
    found = offline.double_spends([first, original, copy], 50_000)
    assert [(f.shape, f.key) for f in found] == [
        (Shape.COUNTER_REUSED, "2"),
        (Shape.OVER_RESERVE, ""),
    ]
    assert found[0].evidence == {original.hash.hex(), copy.hash.hex()}
    # Within the reserve it is still a double spend: the counter was used twice.
    assert shapes([first, original, copy], 70_000) == {(Shape.COUNTER_REUSED, "2")}
    # And when only a payment after the hidden one is seen: it does not name the one seen.
    after_copy = clone.pay(carol.id, 1, at_ms=NOW_MS).signed.payment
    assert shapes([first, original, after_copy], 70_000) == {(Shape.COUNTER_REUSED, "2")}


def test_a_clone_that_skips_counters_is_a_fork(alice, bob, carol):
    first = alice.pay(bob.id, 10_000, at_ms=NOW_MS).signed.payment
    clone = alice.clone()
    clone.skip(100)
    original = alice.pay(bob.id, 20_000, at_ms=NOW_MS).signed.payment
    forked = clone.pay(carol.id, 20_000, at_ms=NOW_MS).signed.payment
    assert (original.counter, forked.counter) == (2, 102)
    assert original.prev_hash == forked.prev_hash == first.hash
    found = offline.double_spends([first, original, forked], 50_000)
    assert [(f.shape, f.key) for f in found] == [(Shape.FORK, first.hash.hex())]
    assert found[0].evidence == {first.hash.hex(), original.hash.hex(), forked.hash.hex()}
    # Seen without the payment it forked from, the two still name one previous payment.
    assert shapes([original, forked], 50_000) == {(Shape.FORK, first.hash.hex())}


def test_spending_past_the_reserve_is_over_reserve(alice, bob):
    alice.pay(bob.id, 50_000, at_ms=NOW_MS)
    over = alice.pay(bob.id, 1, at_ms=NOW_MS, check_balance=False).signed.payment
    payments = [s.payment for s in alice.sent]
    assert shapes(payments, 50_000) == {(Shape.OVER_RESERVE, "")}
    assert shapes(payments, 50_001) == set()
    assert over.counter == 2


def test_allocation_pays_claims_first_synced_first_paid_up_to_the_reserve():
    assert offline.allocate([(30, 0), (30, 0), (30, 0)], 100) == [30, 30, 30]
    assert offline.allocate([(60, 0), (60, 0), (60, 0)], 100) == [60, 40, 0]
    # What was paid stays paid; a larger reserve later tops up in the same order.
    assert offline.allocate([(60, 60), (60, 40), (60, 0)], 150) == [60, 60, 30]


def _cheater_payments(seed: int):
    """A device that loaded 500.00 and, cloned, spent it three ways, with a fork too."""
    rng = random.Random(seed)
    payer, payees = device(seed, loaded=50_000), [device(seed + i) for i in (100, 200, 300)]
    clone = payer.clone()
    for _ in range(4):
        payer.pay(rng.choice(payees).id, rng.randint(1, 12_000), at_ms=NOW_MS)
    for _ in range(3):
        clone.pay(rng.choice(payees).id, rng.randint(1, 12_000), at_ms=NOW_MS)
    fork = clone.clone()
    fork.skip(50)
    fork.pay(rng.choice(payees).id, 777, at_ms=NOW_MS, check_balance=False)
    return [s.payment for s in payer.sent + clone.sent + fork.sent]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), order=st.randoms(use_true_random=False))
def test_double_spends_found_are_the_same_in_every_order_and_only_grow(seed, order):
    payments = _cheater_payments(seed)
    expected = offline.double_spends(payments, 50_000)
    shuffled = list(payments)
    order.shuffle(shuffled)
    assert offline.double_spends(shuffled, 50_000) == expected
    # Each prefix's findings are among the whole set's: evidence only grows.
    final = {(f.shape, f.key): f.evidence for f in expected}
    for size in range(len(shuffled) + 1):
        for f in offline.double_spends(shuffled[:size], 50_000):
            assert f.evidence <= final[(f.shape, f.key)]


def test_every_pair_of_two_chains_payments_and_both_orders_agree(alice, bob, carol):
    clone = alice.clone()
    payments = [alice.pay(bob.id, 100, at_ms=NOW_MS).signed.payment for _ in range(3)]
    payments += [clone.pay(carol.id, 100, at_ms=NOW_MS).signed.payment for _ in range(3)]
    for pair in itertools.permutations(payments, 2):
        assert offline.double_spends(pair, 10**6) == offline.double_spends(pair[::-1], 10**6)


def test_the_module_loads_nothing_but_the_standard_library_and_cryptography():
    code = (
        "import sys, wallets.offline; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'ewallet', 'settlement', 'rest_framework')); print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
