"""Signed notes and checkpoints, against the known answers of Go's sumdb/note tests."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from settlement.audit.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    signer_key,
    verifier_key,
)

# golang.org/x/mod sumdb/note/note_test.go: TestNewVerifier, TestNewSigner, TestSign, TestOpen.
PETER_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VERIFIER = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
    "gotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
)


def test_go_keys_parse_and_round_trip():
    name, private = parse_signer_key(PETER_SIGNER)
    assert name == "PeterNeumann"
    assert signer_key(name, private) == PETER_SIGNER
    assert verifier_key(name, private.public_key()) == PETER_VERIFIER
    assert str(parse_verifier_key(PETER_VERIFIER)) == PETER_VERIFIER


def test_signing_gives_go_s_exact_bytes():
    name, private = parse_signer_key(PETER_SIGNER)
    assert sign_note(TEXT, name, private) == TEXT + "\n" + PETER_SIG


def test_opening_verifies_known_keys_and_skips_unknown_ones():
    peter = parse_verifier_key(PETER_VERIFIER)
    enoch = parse_verifier_key(ENOCH_VERIFIER)
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert (opened.text, opened.verified_by, opened.unverified) == (TEXT, ["PeterNeumann"], 1)
    both = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
    assert both.verified_by == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"
        "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
    ids=["no-sigs", "blank-only", "no-final-newline", "control-char", "bad-name", "extra-line",
         "too-many"],
)  # fmt: skip
def test_go_s_malformed_notes_are_refused(note):
    with pytest.raises(NoteError):
        open_note(note, [parse_verifier_key(PETER_VERIFIER)])


def test_a_bad_signature_by_a_known_key_is_refused():
    broken = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
        open_note(broken, [parse_verifier_key(PETER_VERIFIER)])


def test_every_flipped_byte_of_a_signed_checkpoint_fails():
    key = Ed25519PrivateKey.generate()
    body = Checkpoint("pboc.example/ecny/audit", 1234, bytes(range(32)), ("prev abc",)).text()
    signed = sign_note(body, "pboc.example/ecny/audit", key)
    verifier = Verifier.from_public("pboc.example/ecny/audit", key.public_key())
    assert open_note(signed, [verifier]).text == body
    data = signed.encode()
    for i in range(len(data)):
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        try:
            text = tampered.decode()
        except UnicodeDecodeError:
            continue  # not even text: nothing to open
        with pytest.raises(NoteError):
            open_note(text, [verifier])


@pytest.mark.parametrize(
    "key",
    [
        PETER_VERIFIER[:-1],
        PETER_VERIFIER.replace("c74f20a3", "c74f20a4"),
        PETER_VERIFIER.replace("PeterNeumann", "Peter Neumann"),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_mangled_verifier_keys_are_refused(key):
    with pytest.raises(NoteError):
        parse_verifier_key(key)


def test_checkpoints_round_trip_and_refuse_bad_fields():
    checkpoint = Checkpoint("example.com/log", 42, b"\xab" * 32, ("time 2026-11-24T00:00:00Z",))
    text = checkpoint.text()
    assert text == (
        "example.com/log\n42\n" + base64.b64encode(b"\xab" * 32).decode() + "\n"
        "time 2026-11-24T00:00:00Z\n"
    )
    assert parse_checkpoint(text) == checkpoint
    root = base64.b64encode(bytes(32)).decode()
    for bad in [
        f"origin\n042\n{root}\n",  # a leading zero
        f"origin\n-1\n{root}\n",
        f"origin\n1\n{base64.b64encode(bytes(31)).decode()}\n",  # 31 bytes
        f"\n1\n{root}\n",  # empty origin
        f"origin\n1\n{root}\n\n",  # empty extension line
        f"origin\n1\n{root}",  # no final newline
        "origin\n1\n",
    ]:
        with pytest.raises(NoteError):
            parse_checkpoint(bad)
