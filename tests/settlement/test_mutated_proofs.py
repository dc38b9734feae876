"""Forged receipts, notes, exports and offline payments: valid ones, mutated many thousands
of times (bit flips, field edits, truncation, reordering, type changes, JSON garbage), are
never accepted unless what they claim is true, and are refused cleanly (the verifier's own
exception, never another).

Each test knows the truth (the tree's leaves, the signed checkpoints, the payments the
device signed), so an accepted mutant is checked against it rather than against the
original bytes: a mutant that is still a true statement (an older signed checkpoint with
its own proof; a member the verifier does not read) may pass. Seeded: a failure reproduces.
EWALLET_MUTATION_ROUNDS raises the count (bench/fuzz.sh does).
"""

import base64
import hashlib
import json
import os
import random
from collections import Counter
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from settlement.audit import merkle
from settlement.audit.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint,
    sign_note,
)
from settlement.audit.offline import ReceiptInvalid, verify_export, verify_receipt
from tests.mutations import flip_bit, mutate_bytes, mutate_json_stacked, mutate_text
from wallets import offline

ROUNDS = int(os.environ.get("EWALLET_MUTATION_ROUNDS", "4000"))
NAME = "pboc.example/ecny-audit"


def _key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(random.Random(seed).randbytes(32))


BANK, STRANGER = _key(1), _key(2)
BANK_KEY = str(Verifier.from_public(NAME, BANK.public_key()))
STRANGER_KEY = str(Verifier.from_public(NAME, STRANGER.public_key()))


class Log:
    """A small log: leaves (JSON entries as the ledger writes them), and signed checkpoints
    at a few sizes."""

    def __init__(self, leaves: int = 13, sizes=(5, 8, 13)) -> None:
        self.leaves = [
            json.dumps(
                {"type": "transfer", "transfer": i, "amount": 100 * i, "kind": "PAYMENT"},
                separators=(",", ":"),
                sort_keys=True,
            ).encode()
            for i in range(leaves)
        ]
        self.tree = merkle.MemoryTree(self.leaves)
        self.notes = {size: self.sign(size, BANK) for size in sizes}
        self.texts = {
            open_note(note, [Verifier.from_public(NAME, BANK.public_key())]).text
            for note in self.notes.values()
        }

    def sign(self, size: int, key: Ed25519PrivateKey, root: bytes | None = None) -> str:
        text = Checkpoint(NAME, size, root or self.tree.root(size), (f"time {size}",)).text()
        return sign_note(text, NAME, key)

    def receipt(self, index: int, size: int) -> dict:
        return {
            "leaf": base64.b64encode(self.leaves[index]).decode(),
            "leaf_index": index,
            "tree_size": size,
            "inclusion_proof": [p.hex() for p in self.tree.inclusion_proof(index, size)],
            "checkpoint": self.notes[size],
            "verifier_key": BANK_KEY,
        }

    def holds(self, receipt: dict) -> bool:
        """Is what the receipt claims true: its bytes are leaf `leaf_index`, inside a tree of
        `tree_size` whose head the bank signed?"""
        leaf = base64.b64decode(receipt["leaf"])
        index, size = receipt["leaf_index"], receipt["tree_size"]
        return size in self.notes and 0 <= index < size and self.leaves[index] == leaf


LOG = Log()


def _b64_flip(rng, text):
    """Decode, flip a bit, encode canonically again: gets past the base64 checks."""
    try:
        raw = base64.b64decode(text)
    except ValueError:  # already mutated past base64: plain text edits then
        return mutate_text(rng, text)
    return "leaf bytes flipped", base64.b64encode(flip_bit(rng, raw)).decode()


def _note_mutant(rng, note):
    try:
        return _structured_note_mutant(rng, note)
    except ValueError:  # already mutated past recognition: plain text edits then
        return mutate_text(rng, note)


def _structured_note_mutant(rng, note):
    """A structure-aware edit of a signed checkpoint: its size, root, origin, extensions or
    signature changed with the base64 kept canonical, a stranger's signature, or a
    foreign or doubled signature line."""
    text, signature = note.split("\n\n")
    origin, size, root, *extensions = text.split("\n")[:-1]
    int(size), base64.b64decode(root, validate=True)
    choice = rng.randrange(8)
    if choice == 0:
        size = str(int(size) + rng.choice([-1, 1, 2**63]))
    elif choice == 1:
        root = base64.b64encode(flip_bit(rng, base64.b64decode(root))).decode()
    elif choice == 2:
        origin = origin + "x"
    elif choice == 3:
        extensions = [*extensions, "time 0"] if rng.random() < 0.5 else []
    elif choice == 4:
        name, encoded = signature.removeprefix("\u2014 ").rstrip("\n").split(" ")
        raw = flip_bit(rng, base64.b64decode(encoded))
        return "signature flipped", f"{text}\n\n\u2014 {name} {base64.b64encode(raw).decode()}\n"
    elif choice == 5:  # a stranger signs a head of its own under the bank's name
        forged = LOG.sign(int(size), STRANGER, root=rng.randbytes(32))
        return "stranger's head", forged
    elif choice == 6:
        return "signature line doubled", note + signature
    else:
        foreign = LOG.sign(int(size), STRANGER).split("\n\n")[1]
        return "stranger's signature added", f"{text}\n\n{foreign}{signature}"
    body = "\n".join([origin, size, root, *extensions]) + "\n"
    return "checkpoint edited, signature kept", f"{body}\n{signature}"


def _proof_mutant(rng, receipt):
    proof = list(receipt["inclusion_proof"])
    node = rng.choice(list(LOG.tree.nodes.values())).hex()
    choice = rng.randrange(4)
    if choice == 0 and proof:
        at = rng.randrange(len(proof))
        proof[at] = flip_bit(rng, bytes.fromhex(proof[at])).hex()
    elif choice == 1:
        proof.insert(rng.randrange(len(proof) + 1), node)
    elif choice == 2 and proof:
        proof[rng.randrange(len(proof))] = node
    else:
        proof.reverse()
    return {**receipt, "inclusion_proof": proof}


def receipt_mutant(rng, receipt, *, trusted: bool):
    choice = rng.randrange(6)
    if choice == 0:
        kind, note = _note_mutant(rng, receipt["checkpoint"])
        if kind == "stranger's head" and not trusted:
            kind = "checkpoint edited, signature kept"  # the receipt's own key cannot be pinned
            note = receipt["checkpoint"].replace("time", "tame")
        return kind, {**receipt, "checkpoint": note}
    if choice == 1:
        return "proof edited", _proof_mutant(rng, receipt)
    if choice == 2:  # another leaf, index or size, each of them real
        size = rng.choice(list(LOG.notes))
        other = LOG.receipt(rng.randrange(size), size)
        field = rng.choice(["leaf", "leaf_index", "tree_size", "inclusion_proof", "checkpoint"])
        return f"{field} of another receipt", {**receipt, field: other[field]}
    if choice == 3:
        text = json.dumps(receipt)
        kind, raw = mutate_bytes(rng, text.encode())
        try:
            return f"JSON {kind}", json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            return "JSON garbage", None  # the reader refuses it before any verifier
    mutators = {"leaf": _b64_flip, "checkpoint": _note_mutant}
    return mutate_json_stacked(rng, receipt, text_mutators=mutators)


@pytest.mark.parametrize("trusted", [True, False], ids=["pinned key", "key in receipt"])
def test_mutated_receipts_are_never_accepted_unless_true(trusted):
    rng = random.Random(f"receipts:{trusted}")
    outcomes, false_accepts, crashes = Counter(), [], []
    for _ in range(ROUNDS):
        index = rng.randrange(len(LOG.leaves))
        size = rng.choice([s for s in LOG.notes if s > index])
        kind, mutant = receipt_mutant(rng, LOG.receipt(index, size), trusted=trusted)
        if mutant is None:
            outcomes["not JSON"] += 1
            continue
        try:
            entry = verify_receipt(mutant, trusted_key=BANK_KEY if trusted else None)
        except ReceiptInvalid:
            outcomes["refused"] += 1
            continue
        except Exception as error:  # the finding: anything but a clean refusal
            crashes.append(f"{kind}: {error!r}")
            continue
        if LOG.holds(mutant) and entry == json.loads(base64.b64decode(mutant["leaf"])):
            outcomes["accepted, and true"] += 1
        else:
            false_accepts.append(kind)
    print(f"receipts ({'pinned key' if trusted else 'key in receipt'}): {dict(outcomes)}")
    assert false_accepts == []
    assert crashes == []
    assert outcomes["refused"] > ROUNDS * 0.6


def test_mutated_notes_open_only_as_signed():
    verifiers = [Verifier.from_public(NAME, BANK.public_key())]
    rng = random.Random("notes")
    outcomes, wrong, crashes = Counter(), [], []
    for _ in range(ROUNDS):
        note = rng.choice(list(LOG.notes.values()))
        kind, mutant = (_note_mutant if rng.random() < 0.5 else mutate_text)(rng, note)
        try:
            opened = open_note(mutant, verifiers)
            checkpoint = parse_checkpoint(opened.text)
        except NoteError:
            outcomes["refused"] += 1
            continue
        except Exception as error:
            crashes.append(f"{kind}: {error!r}")
            continue
        if opened.text in LOG.texts and checkpoint.root_hash == LOG.tree.root(checkpoint.size):
            outcomes["opened, as signed"] += 1
        else:
            wrong.append(kind)
    print(f"notes: {dict(outcomes)}")
    assert wrong == []
    assert crashes == []


def _export(log: Log) -> list[str]:
    lines = [json.dumps({"type": "key", "verifier_key": BANK_KEY, "retired_at": None})]
    for height, (size, note) in enumerate(sorted(log.notes.items())):
        lines.append(
            json.dumps({"type": "checkpoint", "height": height, "size": size, "note": note})
        )
    chain = bytes(32)
    for index, leaf in enumerate(log.leaves):
        leaf_hash = merkle.leaf_hash(leaf)
        chain = hashlib.sha256(b"\x02" + chain + leaf_hash).digest()
        lines.append(
            json.dumps(
                {
                    "type": "leaf",
                    "index": index,
                    "transfer": index,
                    "event": None,
                    "leaf": base64.b64encode(leaf).decode(),
                    "leaf_hash": leaf_hash.hex(),
                    "chain_hash": chain.hex(),
                }
            )
        )
    return lines


def test_mutated_exports_are_never_accepted_unless_true():
    lines = _export(LOG)
    assert verify_export(lines, trusted_keys=[BANK_KEY]) == (len(LOG.leaves), len(LOG.notes))
    rng = random.Random("exports")
    outcomes, false_accepts, crashes = Counter(), [], []
    for _ in range(ROUNDS // 4):  # each check recomputes the whole log
        mutant = list(lines)
        at = rng.randrange(len(mutant))
        choice = rng.randrange(4)
        if choice == 0:
            kind, record = mutate_json_stacked(rng, json.loads(mutant[at]))
            mutant[at] = json.dumps(record)
        elif choice == 1:
            kind, raw = mutate_bytes(rng, mutant[at].encode())
            mutant[at] = raw.decode("utf-8", errors="replace")
        elif choice == 2:
            other = rng.randrange(len(mutant))
            mutant[at], mutant[other] = mutant[other], mutant[at]
            kind = "lines swapped"
        else:
            kind = "line dropped"
            del mutant[at]
        trusted = [BANK_KEY] if rng.random() < 0.5 else None
        try:
            verify_export(mutant, trusted_keys=trusted)
        except ReceiptInvalid:
            outcomes["refused"] += 1
            continue
        except Exception as error:
            crashes.append(f"{kind}: {error!r}")
            continue
        leaves = [json.loads(line) for line in mutant if json.loads(line).get("type") == "leaf"]
        if [base64.b64decode(r["leaf"]) for r in leaves] == LOG.leaves[: len(leaves)]:
            outcomes["accepted, and true"] += 1
        else:
            false_accepts.append(kind)
    print(f"exports: {dict(outcomes)}")
    assert false_accepts == []
    assert crashes == []


# ---------------------------------------------------------------- offline payment notes

CA = random.Random("ca").randbytes(32)
CA_PUBLIC = offline.public_key_of(CA)
_FIELDS = ("version", "payer", "payee", "amount", "counter", "prev_hash", "time_ms")


def _device(seed: str, cap: int = 50_000) -> offline.Device:
    secret = random.Random(seed).randbytes(32)
    certificate = offline.certificate_issue(
        CA, public_key=offline.public_key_of(secret), cap=cap, not_after=2_000_000_000
    )
    return offline.Device(secret, certificate, CA_PUBLIC, loaded=1_000_000)


def _payment_field_edit(rng, data: bytes) -> tuple[str, bytes]:
    """One field of the packed payment changed to another value it can hold."""
    head = len(offline.PAYMENT_DOMAIN)
    values = list(offline._PAYMENT.unpack(data[head:]))
    at = rng.randrange(len(values))
    if isinstance(values[at], bytes):
        values[at] = rng.choice([flip_bit(rng, values[at]), bytes(len(values[at]))])
    else:
        values[at] = rng.choice([0, 1, values[at] + 1, values[at] - 1, 2**63 - 1, 2**63])
        low, high = {0: (0, 255), 6: (-(2**63), 2**63 - 1)}.get(at, (0, 2**64 - 1))
        values[at] = max(low, min(values[at], high))
    return f"{_FIELDS[at]} edited", data[:head] + offline._PAYMENT.pack(*values)


def _certificate_field_edit(rng, certificate: offline.Certificate) -> tuple[str, bytes]:
    field = rng.choice(["device", "public_key", "cap", "not_after", "version"])
    new = {
        "device": _device(f"other:{rng.random()}").id,
        "public_key": _device(f"other:{rng.random()}").public_key,
        "cap": certificate.cap * 10,
        "not_after": certificate.not_after + 1,
        "version": 2,
    }[field]
    return f"certificate {field} edited", replace(certificate, **{field: new}).encode()


def test_mutated_offline_payments_are_never_received_unless_signed():
    payer, payee, stranger = _device("payer"), _device("payee"), _device("stranger")
    signed_by_payer = set()
    rng = random.Random("offline")
    outcomes, false_accepts, crashes = Counter(), [], []
    for round_ in range(ROUNDS):
        offer = payer.pay(payee.id, rng.randrange(1, 60_000), at_ms=round_, check_balance=False)
        signed_by_payer.add(offer.signed.payment)
        payment, signature = offer.signed.payment.encode(), offer.signed.signature
        certificate = offer.certificate.encode()
        choice = rng.randrange(6)
        if choice == 5:
            kind, certificate = "another device's certificate", stranger.certificate.encode()
        elif choice == 0:
            kind, payment = _payment_field_edit(rng, payment)
        elif choice == 1:
            kind, payment = mutate_bytes(rng, payment)
        elif choice == 2:
            kind, signature = mutate_bytes(rng, signature)
            kind = f"signature {kind}"
        elif choice == 3:
            kind, certificate = _certificate_field_edit(rng, offer.certificate)
        else:
            kind, certificate = mutate_bytes(rng, certificate)
            kind = f"certificate {kind}"
        # A fresh payee each time, so only the mutation decides (not the replay check).
        receiver = _device("payee")
        try:
            forged = offline.Offer(
                offline.SignedPayment(offline.Payment.decode(payment), signature),
                offline.Certificate.decode(certificate),
            )
            received = receiver.receive(forged, now_s=1_900_000_000)
        except offline.OfflineRefused as refused:
            outcomes[refused.code] += 1
            continue
        except Exception as error:
            crashes.append(f"{kind}: {error!r}")
            continue
        payment = received.payment
        if (
            payment in signed_by_payer
            and forged.certificate == offer.certificate
            and payment.payee == receiver.id
            and payment.amount <= offer.certificate.cap
        ):
            outcomes["received, as signed"] += 1
        else:
            false_accepts.append(kind)
    print(f"offline payments: {dict(outcomes)}")
    assert false_accepts == []
    assert crashes == []
    assert sum(n for code, n in outcomes.items() if code != "received, as signed") > ROUNDS * 0.9


def test_mutated_offline_chains_verify_only_as_signed():
    payer = _device("chain payer")
    chain = [payer.pay(_device("shop").id, 100 + i, at_ms=i).signed for i in range(6)]
    assert offline.verify_chain(chain, payer.public_key) == sum(range(100, 106))
    # Forks: payment k+1 signed again by a clone that skipped a counter, so its counter
    # is the one expected there but it names payment k-1 as its previous one.
    forks = {}
    for k in range(1, len(chain)):
        clone = _device("chain payer")
        for i in range(k - 1):
            clone.pay(_device("shop").id, 100 + i, at_ms=i)
        clone.skip(1)
        forks[k] = clone.pay(_device("shop").id, 1, at_ms=k).signed
        assert forks[k].payment.counter == chain[k].payment.counter
    rng = random.Random("chains")
    outcomes, false_accepts, crashes = Counter(), [], []
    for _ in range(ROUNDS // 2):
        mutant = list(chain)
        at = rng.randrange(len(mutant))
        choice = rng.randrange(5)
        if choice == 4:
            k = rng.randrange(1, len(chain))
            mutant = [*chain[:k], forks[k], *chain[k + 1 :]]
        elif choice == 0:
            other = rng.randrange(len(mutant))
            mutant[at], mutant[other] = mutant[other], mutant[at]
        elif choice == 1:
            mutant.insert(at, mutant[rng.randrange(len(mutant))])
        elif choice == 2:
            del mutant[at]
        else:
            try:
                payment = offline.Payment.decode(
                    _payment_field_edit(rng, chain[at].payment.encode())[1]
                )
            except offline.OfflineRefused:
                outcomes["refused at decoding"] += 1
                continue
            mutant[at] = offline.SignedPayment(payment, chain[at].signature)
        try:
            offline.verify_chain(mutant, payer.public_key, reserve=rng.choice([None, 300]))
        except offline.OfflineRefused as refused:
            outcomes[refused.code] += 1
            continue
        except Exception as error:
            crashes.append(f"{error!r}")
            continue
        if mutant == chain[: len(mutant)]:
            outcomes["verified, a prefix of the chain"] += 1
        else:
            false_accepts.append(choice)
    print(f"offline chains: {dict(outcomes)}")
    assert false_accepts == []
    assert crashes == []


def test_payments_and_certificates_of_random_bytes_are_refused_cleanly():
    rng = random.Random("garbage")
    size = len(offline.PAYMENT_DOMAIN) + offline._PAYMENT.size
    for _ in range(ROUNDS):
        for decode, length in ((offline.Payment.decode, size), (offline.Certificate.decode, 200)):
            data = rng.randbytes(rng.choice([0, 1, length - 1, length, length + 1]))
            if rng.random() < 0.5:
                data = offline.PAYMENT_DOMAIN + data[len(offline.PAYMENT_DOMAIN) :]
            with pytest.raises(offline.OfflineRefused):
                decode(data)


def test_a_receipt_or_export_of_the_wrong_shape_is_refused_not_a_crash():
    # Found by the mutations above: these raised TypeError and AttributeError, which the
    # command line's `except ValueError` let through as a traceback.
    receipt = LOG.receipt(0, 5)
    for field in ("checkpoint", "verifier_key"):
        with pytest.raises(ReceiptInvalid, match="must be strings"):
            verify_receipt({**receipt, field: 5})
    for line in ("not JSON", "[1]", '{"type": ["leaf"]}', '{"type": "leaf", "index": "0"}'):
        with pytest.raises(ReceiptInvalid, match="line 1"):
            verify_export([line])
